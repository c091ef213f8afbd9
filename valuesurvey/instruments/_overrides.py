"""User translation files: one language's texts of one instrument.

**CSV** (item id, text): replaces one language's item texts. The file needs a header naming an
``item`` column (or ``item_id`` / ``id``) and a ``text`` column; a ``definition`` column is optional
(ranking instruments). Every item of the instrument must appear exactly once, and no other id may
appear: a partial or misspelt file is an error naming the file and row, never a silent mix of two
translations.

**YAML**: every string a prompt needs, so that it adds a language (docs/study-yaml.md, Languages and translation files)::

    instrument: mfq2
    language: de
    provenance: my translation (2025)        # optional; default "official (user file)"
    instruction: Bitte geben Sie ...         # optional (the human questionnaire's instruction)
    scale_labels: {1: Beschreibt mich überhaupt nicht, ..., 5: Beschreibt mich sehr gut}
    prompt:
      system: ["{persona}", "Antworte nur mit einer Zahl von 1 bis 5."]
      user: "Bitte gib an, ...\nOptionen:\n{options}\nAussage: {item}"
      option_line: "{value}: {label}"
      personas:
        template: "Du kommst aus {country}"   # {country}: the CLDR name in this language
        countries: {US: Du kommst aus den USA} # optional wordings for single countries
    items:
      mfq2_01: Sich um Menschen zu kümmern, die gelitten haben, ist eine wichtige Tugend.
      # ranking instruments: helpfulness: {text: Hilfsbereitschaft, definition: ...}

Unknown fields, unknown item ids, another instrument or another language are errors naming the
file and the field; strings the file leaves out are reported by the study's completeness check.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from valuesurvey.errors import ConfigError

if TYPE_CHECKING:
    from valuesurvey.instruments._models import Instrument

__all__ = [
    "OFFICIAL_USER_FILE",
    "TranslationFile",
    "TranslationRow",
    "read_translation_file",
    "read_translation_yaml",
]

#: Provenance recorded for texts that come from a user's translation file.
OFFICIAL_USER_FILE = "official (user file)"

_ID_COLUMNS = ("item", "item_id", "id")


@dataclass(frozen=True)
class TranslationRow:
    """One row of a translation file; ``row`` is the 1-based line number (the header is row 1)."""

    item: str
    text: str
    definition: str | None
    row: int


def read_translation_file(path: str | Path, item_ids: tuple[str, ...]) -> dict[str, TranslationRow]:
    """Read and check a translation CSV against the instrument's item ids.

    Parameters
    ----------
    path
        A UTF-8 CSV file (a byte-order mark is allowed) with columns ``item`` and ``text``.
    item_ids
        The ids of the instrument the file translates.

    Returns
    -------
    dict
        Item id to :class:`TranslationRow`, one entry per item.

    Raises
    ------
    ConfigError
        Unreadable file, missing columns, unknown or repeated id, empty text, or missing items; the
        message names the file and the row.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _read_rows(path, csv.reader(handle), item_ids)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read translation file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: translation file is not UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise ConfigError(f"{path}: invalid CSV ({exc})") from exc


def _read_rows(path: Path, reader: csv._reader, item_ids: tuple[str, ...]) -> dict[str, TranslationRow]:
    header = next(reader, None)
    if not header:
        raise ConfigError(f"{path}: row 1: empty file; expected a header with columns 'item' and 'text'")
    names = [name.strip().lower() for name in header]
    id_col = next((names.index(c) for c in _ID_COLUMNS if c in names), None)
    if id_col is None or "text" not in names:
        raise ConfigError(f"{path}: row 1: header must name columns 'item' and 'text' (found {header})")
    text_col = names.index("text")
    def_col = names.index("definition") if "definition" in names else None
    known = set(item_ids)
    rows: dict[str, TranslationRow] = {}
    for record in reader:
        row = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line
        cells = record + [""] * (len(names) - len(record))
        item = cells[id_col].strip()
        text = cells[text_col].strip()
        if item not in known:
            raise ConfigError(f"{path}: row {row}: unknown item id {item!r}; valid: {_valid(item_ids)}")
        if item in rows:
            raise ConfigError(
                f"{path}: row {row}: item {item!r} appears again (first at row {rows[item].row})"
            )
        if not text:
            raise ConfigError(f"{path}: row {row}: item {item!r} has empty text")
        definition = cells[def_col].strip() if def_col is not None else None
        if def_col is not None and not definition:
            raise ConfigError(f"{path}: row {row}: item {item!r} has an empty definition")
        rows[item] = TranslationRow(item=item, text=text, definition=definition, row=row)
    missing = [item for item in item_ids if item not in rows]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(f"{path}: missing item(s) {shown}; the file needs one row per item")
    return rows


def _valid(item_ids: tuple[str, ...]) -> str:
    return f"{item_ids[0]} ... {item_ids[-1]}" if len(item_ids) > 3 else ", ".join(item_ids)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Personas(_Strict):
    template: str | None = None
    countries: dict[str, str] = Field(default_factory=dict)


class _Prompt(_Strict):
    system: tuple[str, ...] | None = Field(None, min_length=1)
    user: str | None = None
    option_line: str | None = None
    value_line: str | None = None
    personas: _Personas | None = None


class _Value(_Strict):
    text: str
    definition: str | None = None


class _TranslationYaml(_Strict):
    instrument: str
    language: str
    provenance: str = OFFICIAL_USER_FILE
    instruction: str | None = None
    rationale: str | None = None
    scale_labels: dict[int, str] = Field(default_factory=dict)
    prompt: _Prompt = _Prompt()
    items: dict[str, str | _Value] = Field(default_factory=dict)

    @field_validator("items", "scale_labels")
    @classmethod
    def _no_blank(cls, value: dict[Any, Any]) -> dict[Any, Any]:
        for key, text in value.items():
            if isinstance(text, str) and not text.strip():
                raise ValueError(f"{key}: text is empty")
        return value


@dataclass(frozen=True)
class TranslationFile:
    """One language's texts of one instrument, read from a YAML translation file."""

    path: Path
    language: str
    provenance: str
    items: dict[str, str]
    definitions: dict[str, str] = field(default_factory=dict)
    scale_labels: dict[int, str] = field(default_factory=dict)
    instruction: str | None = None
    rationale: str | None = None
    system: tuple[str, ...] | None = None
    user: str | None = None
    option_line: str | None = None
    value_line: str | None = None
    persona_template: str | None = None
    persona_countries: dict[str, str] = field(default_factory=dict)


def read_translation_yaml(path: str | Path, instrument: Instrument, language: str) -> TranslationFile:
    """Read and check a YAML translation file of ``instrument`` in ``language``.

    Raises
    ------
    ConfigError
        Unreadable or invalid YAML, an unknown field, another instrument or language, an unknown
        item id or scale point; the message names the file and the field.
    """
    from valuesurvey._config import read_yaml_mapping, validation_message
    from valuesurvey.countries import get_country
    from valuesurvey.instruments._models import language_tag

    path = Path(path)
    data = read_yaml_mapping(
        path, what="translation", expected="translation fields (instrument, language, ...)"
    )
    try:
        parsed = _TranslationYaml.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc)) from None
    if parsed.instrument != instrument.id:
        raise ConfigError(
            f"{path}: field instrument: is {parsed.instrument!r} but the file is used for {instrument.id!r}"
        )
    try:
        stated = language_tag(parsed.language)
    except KeyError as exc:
        raise ConfigError(f"{path}: field language: {exc.args[0]}") from None
    if stated != language:
        raise ConfigError(f"{path}: field language: is {stated!r} but the file is given for {language!r}")
    unknown = [item for item in parsed.items if item not in instrument.item_ids]
    if unknown:
        raise ConfigError(
            f"{path}: field items.{unknown[0]}: unknown item id; valid: {_valid(instrument.item_ids)}"
        )
    points = {label.value for label in instrument.scale.labels}
    stray = sorted(set(parsed.scale_labels) - points)
    if stray:
        raise ConfigError(
            f"{path}: field scale_labels.{stray[0]}: not a labelled point; labelled: {sorted(points)}"
        )
    texts = {k: v if isinstance(v, str) else v.text for k, v in parsed.items.items()}
    definitions = {
        k: v.definition for k, v in parsed.items.items() if not isinstance(v, str) and v.definition
    }
    personas = parsed.prompt.personas or _Personas()
    try:
        countries = {get_country(c, field="country").alpha2: t for c, t in personas.countries.items()}
    except ConfigError as exc:
        raise ConfigError(f"{path}: field prompt.personas.countries: {exc}") from None
    return TranslationFile(
        path=path,
        language=language,
        provenance=parsed.provenance,
        items=texts,
        definitions=definitions,
        scale_labels=dict(parsed.scale_labels),
        instruction=parsed.instruction,
        rationale=parsed.rationale,
        system=parsed.prompt.system,
        user=parsed.prompt.user,
        option_line=parsed.prompt.option_line,
        value_line=parsed.prompt.value_line,
        persona_template=personas.template,
        persona_countries=countries,
    )
