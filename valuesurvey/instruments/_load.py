"""Load instrument data files (shipped or the user's), apply wording options and translation files.

A translation file gives one language's texts of one instrument: a CSV (``item, text``) replaces the
item texts of a language the instrument has (e.g. an official Chinese text); a YAML file
(:mod:`valuesurvey.instruments._overrides`) carries every string a prompt needs — items,
instruction, scale labels, system sentences, the user template, the option line and the persona
template — and so adds a new language.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from valuesurvey._config import validation_message
from valuesurvey.errors import ConfigError
from valuesurvey.instruments._models import Instrument, language_tag
from valuesurvey.instruments._overrides import (
    OFFICIAL_USER_FILE,
    TranslationFile,
    read_translation_file,
    read_translation_yaml,
)

if TYPE_CHECKING:
    from valuesurvey.study import Study

__all__ = [
    "DATA_DIR",
    "SUBSET_KEYS",
    "for_study",
    "get",
    "instrument_file_id",
    "list_instruments",
    "load_instrument",
    "select_items",
    "study_translations",
]

#: Where the shipped instrument files live.
DATA_DIR = Path(__file__).parent / "data"
#: Shipped instruments, in the order the CLI lists them.
_SHIPPED_ORDER = ("mfq2", "wvs7", "ai_values", "mini_ipip")

# libyaml's loader when PyYAML was built with it (10x faster), else the pure-Python safe loader.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Overrides = Mapping[str, "str | Path"]
Options = Mapping[str, str]


def list_instruments() -> tuple[str, ...]:
    """Ids of the instruments shipped with the package.

    >>> list_instruments()
    ('mfq2', 'wvs7', 'ai_values', 'mini_ipip')
    """
    return _shipped_ids()


@functools.cache
def _shipped_ids() -> tuple[str, ...]:
    found = {path.stem for path in DATA_DIR.glob("*.yaml")}
    return tuple(i for i in _SHIPPED_ORDER if i in found) + tuple(sorted(found - set(_SHIPPED_ORDER)))


def get(
    instrument_id: str, *, overrides: Overrides | None = None, options: Options | None = None
) -> Instrument:
    """A shipped instrument, with wording options and translation files applied.

    Parameters
    ----------
    instrument_id
        ``"mfq2"``, ``"wvs7"``, ``"ai_values"`` or ``"mini_ipip"`` (see :func:`list_instruments`).
    overrides
        Language to translation file, e.g. ``{"zh": Path("mfq2_zh.csv")}`` (a CSV with columns
        ``item``, ``text`` replaces that language's item texts) or ``{"de": Path("mfq2_de.yaml")}``
        (a YAML translation file with every string a prompt needs, for a new language). The file's
        texts replace ours; their provenance becomes ``"official (user file)"`` unless the YAML file
        states its own, and the content hash changes with the texts.
    options
        Wording choices, e.g. ``{"item27": "paper"}`` for MFQ-2 (default ``"official"``).

    Returns
    -------
    Instrument
        A frozen model; its ``content_hash`` covers every text the prompts use.

    Raises
    ------
    ConfigError
        Unknown instrument, option or choice, or a malformed translation file (names file and row).

    Examples
    --------
    >>> wvs = get("wvs7")
    >>> wvs.scale.max, len(wvs.items), wvs.items[0].id
    (10, 19, 'Q177')
    >>> get("mfq2", options={"item27": "paper"}).item("mfq2_27").text["en"]
    'In a fair society, those who work hard should live with higher standards of living.'
    """
    if instrument_id not in list_instruments():
        valid = ", ".join(list_instruments())
        raise ConfigError(
            f"unknown instrument {instrument_id!r}; valid: {valid} (or an instrument file via load_instrument)"
        )
    return _customise(_shipped(instrument_id), overrides=overrides, options=options)


def load_instrument(
    path: str | Path, *, overrides: Overrides | None = None, options: Options | None = None
) -> Instrument:
    """Load an instrument from a user's YAML or JSON file in the shipped layout.

    Use it to replace the project's AI-values operationalization with your own list: copy
    ``valuesurvey/instruments/data/ai_values.yaml`` (``valuesurvey instruments export ai_values --format
    yaml`` prints it) and edit it. ``overrides`` and ``options`` work as in :func:`get`.
    """
    path = Path(path)
    return _customise(_parse_file(path), overrides=overrides, options=options)


def study_translations(study: Study, instrument_id: str) -> dict[str, Path]:
    """Language → translation file of one instrument of ``study`` (a bare path: the zh texts)."""
    entry = study.translations.get(instrument_id)
    if entry is None:
        return {}
    pairs = {"zh": entry} if not isinstance(entry, Mapping) else entry
    return {language_tag(lang): study.resolve(Path(path)) for lang, path in pairs.items()}


def for_study(study: Study) -> dict[str, Instrument]:
    """The instruments of a study, with its ``translations`` and ``instrument_options`` applied.

    ``instrument_options[<id>]`` may hold ``file:`` (a replacement instrument file, resolved against the
    study directory; its id must equal ``<id>``), ``items:`` or ``dimensions:`` (an item subset) besides
    wording choices such as ``item27: paper``. ``instruments: [{file: x.yaml}]`` and
    ``instruments: [{mfq2: {items: [...]}}]`` in study.yaml arrive here as those options
    (:class:`valuesurvey.study.Study` normalises them). ``translations[<id>]`` is a file (the Chinese
    item texts, as before languages were data) or a mapping language → file.
    """
    result: dict[str, Instrument] = {}
    for instrument_id in study.instruments:
        options = dict(study.instrument_options.get(instrument_id, {}))
        replacement = options.pop("file", None)
        subset = {key: options.pop(key) for key in SUBSET_KEYS if key in options}
        overrides = study_translations(study, instrument_id)
        choices = {str(k): str(v) for k, v in options.items()}
        if replacement is None:
            if instrument_id not in list_instruments():
                get(instrument_id)  # the unknown-instrument error
            base = _shipped(instrument_id)
        else:
            path = study.resolve(Path(replacement))
            base = _parse_file(path)
            if base.id != instrument_id:
                raise ConfigError(
                    f"{path}: field id: is {base.id!r} but study.yaml uses it as {instrument_id!r}"
                )
        # Options and translation files are of the whole instrument (an official translation covers
        # every item); the subset is taken last, and drops the options of the items it removes.
        inst = _customise(base, overrides=overrides, options=choices)
        if subset:
            inst = select_items(
                inst, **subset, where=f"{study.paths.study_yaml}: field instruments.{instrument_id}"
            )
        result[instrument_id] = inst
    return result


#: Keys of ``instrument_options.<id>`` (and of ``instruments: [{<id>: {...}}]``) that select items.
SUBSET_KEYS = ("items", "dimensions")


def select_items(
    inst: Instrument,
    *,
    items: Any = None,
    dimensions: Any = None,
    where: str | None = None,
) -> Instrument:
    """``inst`` with only some items: those listed in ``items``, or those of ``dimensions``.

    Items keep their published order and numbers; dimensions without a kept item are dropped; an
    option whose item is dropped becomes inert. Dimension names match case-insensitively (``care``
    selects MFQ-2's ``Care``). The content hash changes, since the study asks fewer items.

    >>> from valuesurvey import instruments
    >>> sub = select_items(instruments.get("mfq2"), dimensions=["care", "purity"])
    >>> len(sub.items), sub.dimensions, sub.selected_options
    (12, ('Care', 'Purity'), {})
    >>> select_items(instruments.get("mfq2"), items=["mfq2_01", "mfq2_99", "x"])
    Traceback (most recent call last):
    valuesurvey.errors.ConfigError: field mfq2.items: unknown items mfq2_99, x; valid: mfq2_01 … mfq2_36
    """
    where = where or f"field {inst.id}"
    if inst.kind != "rating":
        raise ConfigError(
            f"{where}: an item subset needs a rating instrument ({inst.id} is a {inst.kind} task)"
        )
    if items is not None and dimensions is not None:
        raise ConfigError(f"{where}: give items or dimensions, not both")
    field = "items" if items is not None else "dimensions"
    chosen = items if items is not None else dimensions
    if isinstance(chosen, str) or not isinstance(chosen, list | tuple) or not chosen:
        raise ConfigError(f"{where}.{field}: expected a list of {field}")
    names = [str(name) for name in chosen]
    if items is not None:
        unknown = [name for name in names if name not in inst.item_ids]
        valid = f"{inst.items[0].id} … {inst.items[-1].id}"
        keep = set(names)
    else:
        by_name = {dim.casefold(): dim for dim in inst.dimensions}
        unknown = [name for name in names if name.casefold() not in by_name]
        valid = ", ".join(inst.dimensions)
        wanted = {by_name[name.casefold()] for name in names if name.casefold() in by_name}
        keep = {item.id for item in inst.items if item.dimension in wanted}
    if unknown:
        raise ConfigError(f"{where}.{field}: unknown {field} {', '.join(unknown)}; valid: {valid}")
    kept = [item for item in inst.items if item.id in keep]
    if len(kept) < 2:
        raise ConfigError(f"{where}.{field}: a subset needs at least 2 items, this one has {len(kept)}")
    kept_ids = {item.id for item in kept}
    data = inst.model_dump()
    data["items"] = [entry for entry in data["items"] if entry["id"] in kept_ids]
    data["dimensions"] = [dim for dim in inst.dimensions if any(i.dimension == dim for i in kept)]
    data["selected_options"] = {
        name: choice for name, choice in inst.selected_options.items() if inst.options[name].item in kept_ids
    }
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(where, exc)) from None


def instrument_file_id(path: Path) -> str:
    """The ``id`` field of an instrument file (ConfigError naming the file when it has none)."""
    data = _read_file(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not data["id"]:
        raise ConfigError(f"{path}: field id: an instrument file needs an id (e.g. id: my_scale)")
    return data["id"]


@functools.cache
def _shipped(instrument_id: str) -> Instrument:
    # Instruments are frozen, so one parsed copy per shipped file can be shared.
    return _parse_file(DATA_DIR / f"{instrument_id}.yaml")


def _read_file(path: Path) -> Any:
    """The parsed YAML or JSON of an instrument file (ConfigError naming the file and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read instrument file ({exc.strerror})") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=_YAML_LOADER)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where} invalid {path.suffix.lstrip('.') or 'YAML'}: {problem}") from exc


def _parse_file(path: Path) -> Instrument:
    data = _read_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of instrument fields at the top level")
    return instrument_from_dict(data, source=path)


def instrument_from_dict(data: Mapping[str, Any], *, source: Path | str = "<dict>") -> Instrument:
    """Validate an instrument mapping in the data-file layout; ConfigError names the file and field."""
    try:
        expanded = _expand(dict(data))
        return Instrument.model_validate({**expanded, "source": str(source)})
    except ValidationError as exc:
        raise ConfigError(_instrument_message(source, exc)) from exc
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ConfigError(f"{source}: malformed instrument file: {exc}") from exc


def _instrument_message(source: object, exc: ValidationError) -> str:
    """:func:`validation_message`, with the field a whole-instrument check names (``items.x.reverse:
    ...``) as the field instead of "(top level)"."""
    first = exc.errors()[0]
    if not first["loc"]:
        text = str(first["msg"]).removeprefix("Value error, ")
        field, sep, rest = text.partition(": ")
        if sep and field and " " not in field:
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            return f"{source}: field {field}: {rest}{more}"
    return validation_message(source, exc)


_ITEM_FIELDS = {
    "id",
    "reverse",
    "number",
    "dimension",
    "text",
    "provenance",
    "column",
    "label",
    "definition",
    "variants",
}


def _texts_of(entry: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """Pop the compact layout's language keys (``en: ...``, ``zh: ...``, ``de: ...``) of ``entry``."""
    return {key: entry.pop(key) for key in [k for k in entry if k not in fields]}


def _expand(data: dict[str, Any]) -> dict[str, Any]:
    """Turn the compact file layout into the model's: per-item text, provenance, number, dimension."""
    default_provenance = data.pop("provenance", None) or {}
    # An exported record carries its hash; it is always recomputed from the texts (the file may be edited).
    exported = data.pop("content_hash", None) is not None
    items = []
    raw_items = data.get("items") or []
    if not isinstance(raw_items, list):
        raise ValueError(f"field items: expected a list of items, got {type(raw_items).__name__}")
    for number, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, Mapping):
            raise ValueError(f"field items.{number - 1}: expected a mapping (id, dimension, en, zh)")
        item = dict(raw)
        item.setdefault("number", number)
        item.setdefault("dimension", item.get("id"))  # e.g. WVS: each item is its own dimension
        if "text" not in item:
            item["text"] = _texts_of(item, _ITEM_FIELDS)
        item["provenance"] = {**default_provenance, **(item.get("provenance") or {})}
        variants = {}
        for name, variant in (item.get("variants") or {}).items():
            variant = dict(variant)
            if "text" not in variant:
                variant["text"] = _texts_of(variant, {"text", "provenance"})
            variant["provenance"] = {**item["provenance"], **(variant.get("provenance") or {})}
            variants[name] = variant
        item["variants"] = variants
        items.append(item)
    data["items"] = items
    if "dimensions" not in data:
        data["dimensions"] = list(dict.fromkeys(item["dimension"] for item in items))
    elif exported and isinstance(data["dimensions"], list):
        # An export lists every dimension of the instrument; one whose items were all removed from
        # it goes too (a hand-written file listing a dimension without items is an error).
        kept = {item.get("dimension") for item in items}
        data["dimensions"] = [dim for dim in data["dimensions"] if dim in kept]
    scale = dict(data.get("scale") or {})
    scale["labels"] = [
        label
        if "text" in label
        else {"value": label.get("value"), "text": {k: v for k, v in label.items() if k != "value"}}
        for label in scale.get("labels") or []
    ]
    data["scale"] = scale
    options = data.get("options") or {}
    selected = data.get("selected_options")
    if selected is None:
        selected = {name: spec.get("default") for name, spec in options.items()}
    # An option whose item the file lacks (an exported MFQ-2 with items removed) selects nothing.
    present = {item.get("id") for item in items}
    data["selected_options"] = {
        name: choice
        for name, choice in selected.items()
        if not isinstance(options.get(name), Mapping) or options[name].get("item") in present
    }
    return data


def _customise(inst: Instrument, *, overrides: Overrides | None, options: Options | None) -> Instrument:
    if not overrides and not options:
        return inst
    data = inst.model_dump()
    data["selected_options"] = _apply_options(inst, data, dict(options or {}))
    for language, path in (overrides or {}).items():
        tag = check_language_or_fail(language, path)
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            _apply_translation_file(inst, data, read_translation_yaml(path, inst, tag))
        else:
            _apply_translation(inst, data, tag, Path(path))
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        shown = ", ".join(str(p) for p in (overrides or {}).values())
        raise ConfigError(validation_message(f"{inst.id} with translation file(s) {shown}", exc)) from None


def _apply_options(inst: Instrument, data: dict[str, Any], options: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(options) - set(inst.options))
    if unknown:
        valid = ", ".join(inst.options) or "none"
        raise ConfigError(f"{inst.id}: unknown option(s) {unknown}; valid: {valid}")
    selected: dict[str, str] = {}
    for name, spec in inst.options.items():
        if spec.item not in inst.item_ids:
            continue  # inert: its item is not in this instrument (a subset, a file with items removed)
        # The item's text is the currently selected wording; the others wait in item.variants.
        current = inst.selected_options.get(name, spec.default)
        choice = str(options.get(name, current))
        item = inst.item(spec.item)
        valid_choices = (current, *item.variants)
        if choice not in valid_choices:
            raise ConfigError(f"{inst.id}: option {name}: unknown choice {choice!r}; valid: {valid_choices}")
        selected[name] = choice
        if choice != current:
            entry = data["items"][inst.item_ids.index(spec.item)]
            chosen = entry["variants"].pop(choice)
            entry["variants"][current] = {"text": entry["text"], "provenance": entry["provenance"]}
            entry["text"], entry["provenance"] = chosen["text"], chosen["provenance"]
    return {**inst.selected_options, **selected}


def _apply_translation(inst: Instrument, data: dict[str, Any], language: str, path: Path) -> None:
    rows = read_translation_file(path, inst.item_ids)
    for entry in data["items"]:
        row = rows[entry["id"]]
        entry["text"][language] = row.text
        entry["provenance"][language] = OFFICIAL_USER_FILE
        if row.definition is not None and entry.get("definition"):
            entry["definition"][language] = row.definition


def _apply_translation_file(inst: Instrument, data: dict[str, Any], file: TranslationFile) -> None:
    """Every text of a YAML translation file into the instrument's data (a new language or not)."""
    language = file.language
    for entry in data["items"]:
        text = file.items.get(entry["id"])
        if text is not None:
            entry["text"][language] = text
            entry["provenance"][language] = file.provenance
        definition = file.definitions.get(entry["id"])
        if definition is not None:
            entry["definition"] = {**(entry.get("definition") or {}), language: definition}
    for label in data["scale"]["labels"]:
        if label["value"] in file.scale_labels:
            label["text"][language] = file.scale_labels[label["value"]]
    for field in ("instruction", "rationale"):
        text = getattr(file, field)
        if text is not None:
            data[field] = {**(data.get(field) or {}), language: text}
    prompt = data["prompt"]
    if file.system is not None:
        prompt["system"][language] = list(file.system)
    if file.user is not None:
        prompt["user"][language] = file.user
    for name in ("option_line", "value_line"):
        text = getattr(file, name)
        if text is not None:
            prompt[name] = {**(prompt.get(name) or {}), language: text}
    if file.persona_template is not None or file.persona_countries:
        personas = prompt.get("personas") or {"template": None, "countries": {}}
        if file.persona_template is not None:
            personas["template"] = {**(personas.get("template") or {}), language: file.persona_template}
        for code, text in file.persona_countries.items():
            personas["countries"][code] = {**personas["countries"].get(code, {}), language: text}
        prompt["personas"] = personas


def check_language_or_fail(language: str, path: str | Path) -> str:
    try:
        return language_tag(language)
    except KeyError as exc:
        raise ConfigError(f"{path}: translation for unknown language {language!r}: {exc.args[0]}") from exc
