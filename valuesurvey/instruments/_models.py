"""Typed, frozen models of an instrument: items, scale, prompt templates, persona sentences.

Personas are data: each rating instrument has a persona ``template`` per language with a
``{country}`` slot, filled with the country's CLDR name in that language ("You are from {country}"),
and per-country ``countries`` wordings that replace it, as the paper's demonym forms must ("You are a
Chinese national": the CLDR has no demonyms).

An :class:`Instrument` is what :func:`valuesurvey.instruments.get` returns: every text is already
resolved (selected wording options applied, user translation files applied), so the prompt builder and
the content hash only read it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

__all__ = [
    "LANGUAGES",
    "Instrument",
    "Item",
    "ItemVariant",
    "LangText",
    "OptionSpec",
    "PersonaSentences",
    "PromptTemplates",
    "Scale",
    "ScaleLabel",
]

#: Languages the shipped instruments carry, in this order (a translation file adds others).
LANGUAGES: tuple[str, ...] = ("en", "zh")
#: Version of the canonical JSON that :attr:`Instrument.content_hash` digests; bump when it changes.
HASH_FORMAT = 1

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


def language_tag(language: object) -> str:
    """``language`` as a canonical BCP-47 tag (``zh_hant`` → ``zh-Hant``); KeyError otherwise."""
    from valuesurvey.countries import normalize_language
    from valuesurvey.errors import ConfigError

    try:
        return normalize_language(str(language))
    except ConfigError as exc:
        raise KeyError(str(exc)) from None


def check_language(language: object, available: tuple[str, ...] = LANGUAGES) -> str:
    """``language`` as a canonical tag among ``available``; KeyError listing the valid ones otherwise."""
    key = language_tag(language)
    if key not in available:
        raise KeyError(f"unknown language {str(language)!r}; valid: {', '.join(available)}")
    return key


def _language_keys(value: Any, what: str) -> Any:
    """A mapping language → value with canonical BCP-47 keys (ValueError names a bad tag)."""
    if not isinstance(value, Mapping):
        return value
    out = {}
    for key, text in value.items():
        try:
            out[language_tag(key)] = text
        except KeyError as exc:
            raise ValueError(f"{what}: {exc.args[0]}") from None
    if not out:
        raise ValueError(f"{what}: no language")
    return out


def placeholders(template: str) -> set[str]:
    """Names of the ``{placeholder}`` fields in ``template``.

    >>> sorted(placeholders("Statement: {item} ({n})"))
    ['item', 'n']
    """
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, **fields: str) -> str:
    """Replace ``{name}`` placeholders with ``fields`` (no format-spec parsing: texts may hold braces).

    >>> fill("{value}: {label}", value="1", label="Never")
    '1: Never'
    """
    return _PLACEHOLDER.sub(lambda match: fields[match.group(1)], template)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LangText(BaseModel):
    """One text per language (BCP-47 tag → text); ``text["en"]`` and ``text.en`` both work.

    The shipped instruments carry ``en`` and ``zh``; a translation file adds any other language.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        value = _language_keys(value, "text")
        if isinstance(value, Mapping):
            for language, text in value.items():
                if not isinstance(text, str):
                    raise ValueError(f"{language}: expected a text, got {type(text).__name__}")
                if not text.strip():
                    raise ValueError(f"{language}: text is empty")
        return value

    def __getitem__(self, language: str) -> str:
        return getattr(self, check_language(language, self.keys()))

    def __contains__(self, language: object) -> bool:
        try:
            return language_tag(language) in self.keys()
        except KeyError:
            return False

    def keys(self) -> tuple[str, ...]:
        return tuple(self.__pydantic_extra__ or {})

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages this text is given in."""
        return self.keys()

    def get(self, language: str, default: str | None = None) -> str | None:
        if language in self:
            return self[language]
        return default

    def items(self) -> Iterator[tuple[str, str]]:
        return iter((self.__pydantic_extra__ or {}).items())


class ScaleLabel(_Frozen):
    """The label of one scale point."""

    value: int
    text: LangText


class Scale(_Frozen):
    """A response scale: integer points ``min..max``; some or all points carry a label."""

    min: int
    max: int
    labels: tuple[ScaleLabel, ...] = ()

    @model_validator(mode="after")
    def _labels_in_range(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must exceed min ({self.min})")
        values = [label.value for label in self.labels]
        outside = [v for v in values if not self.min <= v <= self.max]
        if outside:
            raise ValueError(f"scale labels {outside} outside {self.min}..{self.max}")
        if len(set(values)) != len(values) or values != sorted(values):
            raise ValueError("scale labels must be in increasing order, one per point")
        return self

    @property
    def points(self) -> tuple[int, ...]:
        """Every point of the scale, ``min`` to ``max``."""
        return tuple(range(self.min, self.max + 1))

    def label(self, value: int, language: str) -> str | None:
        """The label of scale point ``value`` in ``language``, or None if that point is unlabelled."""
        for label in self.labels:
            if label.value == value:
                return label.text[language]
        return None


class PersonaSentences(_Frozen):
    """The system-prompt sentence of each persona (persona ``none`` adds no sentence).

    ``template`` has a ``{country}`` slot for the country's CLDR name in the prompt's language;
    ``countries`` (alpha-2 code → text) are wordings that replace it for one country, e.g. the
    paper's "You are a Chinese national".
    """

    template: LangText | None = None
    countries: dict[str, LangText] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _old_layout(cls, value: Any) -> Any:
        # Instrument files written before personas had templates list one entry per persona code.
        if isinstance(value, Mapping) and not {"template", "countries"} & set(value):
            return {"countries": dict(value)}
        return value

    @field_validator("countries", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        from valuesurvey.countries import get_country
        from valuesurvey.errors import ConfigError

        if not isinstance(value, Mapping):
            return value
        try:
            return {get_country(code, field="country").alpha2: text for code, text in value.items()}
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("template")
    @classmethod
    def _country_slot(cls, value: LangText | None) -> LangText | None:
        if value is not None:
            for language, text in value.items():
                if placeholders(text) != {"country"}:
                    raise ValueError(f"template.{language} must have exactly one placeholder, {{country}}")
        return value

    def sentence(self, persona: str, language: str) -> str:
        """The persona sentence, or ``""`` for persona ``none``.

        >>> from valuesurvey import instruments
        >>> personas = instruments.get("wvs7").prompt.personas
        >>> personas.sentence("CN", "en"), personas.sentence("DE", "en"), personas.sentence("TW", "zh")
        ('You are a Chinese national', 'You are a national of Germany', '你是台湾公民')
        """
        from valuesurvey.design import NONE, persona_value

        if str(persona) == NONE:
            return ""
        try:
            code = persona_value(persona, field="")
        except ValueError as exc:
            raise KeyError(str(exc)) from None
        wording = self.countries.get(code)
        if wording is not None and language in wording:
            return wording[language]
        if self.template is None:
            raise KeyError(
                f"no persona sentence for {code}: prompt.personas has no template "
                f"(wordings for {', '.join(self.countries) or 'no country'})"
            )
        from valuesurvey.countries import get_country

        return fill(self.template[language], country=get_country(code).name(language))


class LangParts(BaseModel):
    """System-prompt parts per language; they are joined with a newline."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _parts(cls, value: Any) -> Any:
        value = _language_keys(value, "system")
        if isinstance(value, Mapping):
            value = dict(value)
            for language, parts in value.items():
                if isinstance(parts, str) or not isinstance(parts, list | tuple) or not parts:
                    raise ValueError(f"{language}: expected a list of one or more parts")
                if not all(isinstance(part, str) for part in parts):
                    raise ValueError(f"{language}: every part must be a text")
                value[language] = tuple(parts)
        return value

    def __getitem__(self, language: str) -> tuple[str, ...]:
        return getattr(self, check_language(language, self.keys()))

    def __contains__(self, language: object) -> bool:
        try:
            return language_tag(language) in self.keys()
        except KeyError:
            return False

    def keys(self) -> tuple[str, ...]:
        return tuple(self.__pydantic_extra__ or {})

    @property
    def languages(self) -> tuple[str, ...]:
        return self.keys()


class PromptTemplates(_Frozen):
    """The prompt templates of an instrument.

    Rating instruments: ``system`` parts may include ``{persona}``; ``user`` has ``{item}`` and may have
    ``{options}`` (the labelled scale points, each rendered with ``option_line``: ``{value}``,
    ``{label}``). Ranking instruments: no persona; ``user`` has ``{values}`` (each value rendered with
    ``value_line``: ``{name}``, ``{definition}``, ``{id}``, ``{index}``) and may have ``{n}``.
    """

    system: LangParts
    user: LangText
    option_line: LangText | None = None
    value_line: LangText | None = None
    personas: PersonaSentences | None = None


class ItemVariant(_Frozen):
    """An alternative published wording of an item, selectable through an :class:`OptionSpec`."""

    text: LangText
    provenance: LangText


class OptionSpec(_Frozen):
    """A selectable wording: the item's own text is choice ``default``; ``item.variants`` the others."""

    item: str
    default: str
    description: str = ""


class Item(_Frozen):
    """One questionnaire item (or, for a ranking instrument, one value to rank)."""

    id: str = Field(..., pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    number: int = Field(..., ge=1, description="1-based position in the published order")
    dimension: str
    text: LangText
    provenance: LangText = Field(..., description="where each language's text comes from")
    column: str | None = Field(None, description="column name in the human data file (MFQ-2 Study 2)")
    label: str | None = Field(None, description="codebook variable label (WVS)")
    definition: LangText | None = Field(None, description="one-line definition (ranking values)")
    variants: dict[str, ItemVariant] = Field(default_factory=dict)
    reverse: bool = Field(
        False, description="reverse-keyed: scored as min + max - rating (the prompt is unchanged)"
    )


class Instrument(_Frozen):
    """A questionnaire, fully resolved: what :func:`valuesurvey.instruments.get` returns.

    Examples
    --------
    >>> from valuesurvey import instruments
    >>> mfq2 = instruments.get("mfq2")
    >>> (mfq2.kind, mfq2.scale.min, mfq2.scale.max, len(mfq2.items), mfq2.dimensions[0])
    ('rating', 1, 5, 36, 'Care')
    >>> mfq2.item("mfq2_02").text["en"]
    'The world would be a better place if everyone made the same amount of money.'
    """

    id: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    version: str
    kind: Literal["rating", "ranking"]
    citation: str
    instruction: LangText | None = Field(None, description="the human questionnaire's instruction")
    operationalization: bool = Field(False, description="the content is this project's own construct")
    rationale: LangText | None = None
    dimensions: tuple[str, ...]
    scale: Scale
    prompt: PromptTemplates
    items: tuple[Item, ...] = Field(..., min_length=2)
    options: dict[str, OptionSpec] = Field(default_factory=dict)
    selected_options: dict[str, str] = Field(default_factory=dict)
    source: str = Field("", description="the data file this instrument was read from")

    _content_hash: str = PrivateAttr("")
    _missing: dict[tuple[str, tuple[str, ...] | None], list[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [item.id for item in self.items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate item ids {duplicates}")
        unknown = sorted({item.dimension for item in self.items} - set(self.dimensions))
        if unknown:
            raise ValueError(f"items name dimensions {unknown} not listed in 'dimensions'")
        empty = [dim for dim in self.dimensions if dim not in {item.dimension for item in self.items}]
        if empty:
            raise ValueError(f"dimensions: {', '.join(empty)} has no item (every dimension needs one)")
        # An option whose item is absent (an item subset, an exported file with items removed) is
        # inert: it stays known, so a study naming it is not an error, but it selects nothing.
        unknown_selected = sorted(set(self.selected_options) - set(self.options))
        if unknown_selected:
            raise ValueError(f"selected_options: {unknown_selected} are not options of the instrument")
        if self.kind == "ranking":
            for item in self.items:
                if item.reverse:
                    raise ValueError(f"items.{item.id}.reverse: a ranking instrument has no scale to reverse")
        _check_templates(self)
        if self.kind == "ranking" and any(item.definition is None for item in self.items):
            raise ValueError("every value of a ranking instrument needs a definition")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._content_hash = hashlib.sha256(canonical_json(self.prompt_spec()).encode("utf-8")).hexdigest()
        self._missing = {}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Instrument:
        # pydantic copies private attributes as they are; an update could change the texts, so rehash.
        copied = super().model_copy(update=update, deep=deep)
        copied.model_post_init(None)
        return copied

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of everything that defines the prompts; see :meth:`prompt_spec`."""
        return self._content_hash

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages with every text a prompt needs (:meth:`missing_texts` is empty), the
        shipped ones (en, zh) first."""
        seen = [*LANGUAGES, *self.prompt.user.keys()]
        found = [lang for lang in dict.fromkeys(seen) if lang in self.prompt.user]
        return tuple(lang for lang in found if not self.missing_texts(lang))

    def missing_texts(self, language: str, personas: tuple[str, ...] | None = None) -> list[str]:
        """The strings a prompt in ``language`` needs that the instrument lacks, as short names.

        Items (and ranking definitions), scale labels, the system prompt, the user template, the
        option or value line and, for a rating instrument, the persona template: needed for every
        persona in ``personas`` (country codes) without its own wording in ``language``, or
        always when ``personas`` is None.

        >>> from valuesurvey import instruments
        >>> instruments.get("mfq2").missing_texts("de")[:2]
        ['items mfq2_01 … mfq2_36 (36 of 36 texts)', 'scale.labels 1 … 5 (5 of 5)']
        """
        language = language_tag(language)
        key = (language, None if personas is None else tuple(personas))
        if key not in self._missing:
            self._missing[key] = self._find_missing(language, personas)
        return list(self._missing[key])

    def _find_missing(self, language: str, personas: tuple[str, ...] | None) -> list[str]:
        missing: list[str] = []

        def absent(ids: list[str], what: str, total: int) -> None:
            if ids:
                shown = ids[0] if len(ids) == 1 else f"{ids[0]} … {ids[-1]}"
                missing.append(f"{what} {shown} ({len(ids)} of {total}{' texts' if what == 'items' else ''})")

        absent([i.id for i in self.items if language not in i.text], "items", len(self.items))
        if self.kind == "ranking":
            lacking = [i.id for i in self.items if i.definition is None or language not in i.definition]
            absent(lacking, "definitions", len(self.items))
        labels = [str(label.value) for label in self.scale.labels if language not in label.text]
        absent(labels, "scale.labels", len(self.scale.labels))
        prompt = self.prompt
        if language not in prompt.system:
            missing.append("prompt.system")
        if language not in prompt.user:
            missing.append("prompt.user")
        line_name = "option_line" if self.kind == "rating" else "value_line"
        line = prompt.option_line if self.kind == "rating" else prompt.value_line
        if line is not None and language not in line:
            missing.append(f"prompt.{line_name}")
        if self.kind == "rating" and prompt.personas is not None:
            has_template = prompt.personas.template is not None and language in prompt.personas.template
            if personas is None:
                needs_template = True
            else:
                needs_template = any(
                    language not in prompt.personas.countries.get(code, LangText.model_construct())
                    for code in personas
                )
            if needs_template and not has_template:
                missing.append("prompt.personas.template")
        return missing

    def item(self, item_id: str) -> Item:
        """The item called ``item_id``; KeyError names the valid range otherwise."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(
            f"{self.id}: unknown item {item_id!r}; valid: {self.items[0].id} ... {self.items[-1].id}"
        )

    def items_by_dimension(self) -> dict[str, tuple[Item, ...]]:
        """Items grouped by dimension, dimensions in their declared order."""
        return {dim: tuple(i for i in self.items if i.dimension == dim) for dim in self.dimensions}

    def prompt_spec(self) -> dict[str, Any]:
        """Everything that defines the prompts (texts, scale, templates, personas, selected options).

        Provenance, citation and data-file columns are left out: they do not change what a model reads.
        """
        return {
            "hash_format": HASH_FORMAT,
            "id": self.id,
            "version": self.version,
            "kind": self.kind,
            "scale": self.scale.model_dump(mode="json"),
            "prompt": self.prompt.model_dump(mode="json"),
            "items": [
                {
                    "id": item.id,
                    "dimension": item.dimension,
                    "text": item.text.model_dump(),
                    "definition": item.definition.model_dump() if item.definition else None,
                }
                for item in self.items
            ],
            "selected_options": dict(sorted(self.selected_options.items())),
        }


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no whitespace and raw UTF-8: the same object always gives the same text.

    >>> canonical_json({"b": 1, "a": "中"})
    '{"a":"中","b":1}'
    """
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


_RATING_FIELDS = {"system": {"persona"}, "user": {"item", "options"}, "line": {"value", "label"}}
_RANKING_FIELDS = {"system": {"n"}, "user": {"values", "n"}, "line": {"name", "definition", "id", "index"}}


def _check_templates(inst: Instrument) -> None:
    """Fail on unknown placeholders and on missing required ones, naming the template."""
    allowed = _RATING_FIELDS if inst.kind == "rating" else _RANKING_FIELDS
    required = "item" if inst.kind == "rating" else "values"
    line = inst.prompt.option_line if inst.kind == "rating" else inst.prompt.value_line
    for language in inst.prompt.system.languages:
        for part in inst.prompt.system[language]:
            _only(placeholders(part), allowed["system"], f"prompt.system.{language}")
    for language in inst.prompt.user.languages:
        where = f"prompt.%s.{language}"
        user_fields = placeholders(inst.prompt.user[language])
        _only(user_fields, allowed["user"], where % "user")
        if required not in user_fields:
            raise ValueError(f"{where % 'user'} lacks the {{{required}}} placeholder")
        needs_line = "options" in user_fields or inst.kind == "ranking"
        if needs_line and line is None:
            name = "option_line" if inst.kind == "rating" else "value_line"
            raise ValueError(f"{where % 'user'} needs prompt.{name}")
    if line is not None:
        for language in line.languages:
            _only(placeholders(line[language]), allowed["line"], f"prompt.line.{language}")
    if inst.kind == "rating" and inst.prompt.personas is None:
        raise ValueError("prompt.personas is required for a rating instrument")


def _only(found: set[str], allowed: set[str], where: str) -> None:
    extra = sorted(found - allowed)
    if extra:
        raise ValueError(f"{where}: unknown placeholder(s) {extra}; valid: {sorted(allowed)}")
