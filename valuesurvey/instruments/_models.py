"""Typed, frozen models of an instrument: items, scale, prompt templates, persona sentences.

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
    "PERSONAS",
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

#: Languages every instrument carries, in this order.
LANGUAGES: tuple[str, ...] = ("en", "zh")
#: Personas with a sentence in the system prompt ("none" has none).
PERSONAS: tuple[str, ...] = ("cn", "us")
#: Version of the canonical JSON that :attr:`Instrument.content_hash` digests; bump when it changes.
HASH_FORMAT = 1

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


def check_language(language: str) -> str:
    """``language`` as a plain string ("en" or "zh"); KeyError listing the valid ones otherwise."""
    key = str(language)
    if key not in LANGUAGES:
        raise KeyError(f"unknown language {key!r}; valid: {', '.join(LANGUAGES)}")
    return key


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


class LangText(_Frozen):
    """One text in each language; ``text["en"]`` and ``text.en`` both work."""

    en: str
    zh: str

    @field_validator("en", "zh")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value

    def __getitem__(self, language: str) -> str:
        return getattr(self, check_language(language))

    def keys(self) -> tuple[str, ...]:
        return LANGUAGES

    def items(self) -> Iterator[tuple[str, str]]:
        return ((language, getattr(self, language)) for language in LANGUAGES)


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
    """The system-prompt sentence of each persona (persona ``none`` adds no sentence)."""

    cn: LangText
    us: LangText

    def sentence(self, persona: str, language: str) -> str:
        """The persona sentence, or ``""`` for persona ``none``."""
        key = str(persona)
        if key == "none":
            return ""
        if key not in PERSONAS:
            raise KeyError(f"unknown persona {key!r}; valid: none, {', '.join(PERSONAS)}")
        return getattr(self, key)[language]


class LangParts(_Frozen):
    """System-prompt parts per language; they are joined with a newline."""

    en: tuple[str, ...] = Field(..., min_length=1)
    zh: tuple[str, ...] = Field(..., min_length=1)

    def __getitem__(self, language: str) -> tuple[str, ...]:
        return getattr(self, check_language(language))


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

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [item.id for item in self.items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate item ids {duplicates}")
        unknown = sorted({item.dimension for item in self.items} - set(self.dimensions))
        if unknown:
            raise ValueError(f"items name dimensions {unknown} not listed in 'dimensions'")
        for name, spec in self.options.items():
            if spec.item not in ids:
                raise ValueError(f"option {name!r} names unknown item {spec.item!r}")
        _check_templates(self)
        if self.kind == "ranking" and any(item.definition is None for item in self.items):
            raise ValueError("every value of a ranking instrument needs a definition")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._content_hash = hashlib.sha256(canonical_json(self.prompt_spec()).encode("utf-8")).hexdigest()

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
        return LANGUAGES

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
    for language in LANGUAGES:
        where = f"prompt.%s.{language}"
        for part in inst.prompt.system[language]:
            _only(placeholders(part), allowed["system"], where % "system")
        user_fields = placeholders(inst.prompt.user[language])
        _only(user_fields, allowed["user"], where % "user")
        if required not in user_fields:
            raise ValueError(f"{where % 'user'} lacks the {{{required}}} placeholder")
        needs_line = "options" in user_fields or inst.kind == "ranking"
        if needs_line and line is None:
            name = "option_line" if inst.kind == "rating" else "value_line"
            raise ValueError(f"{where % 'user'} needs prompt.{name}")
        if line is not None:
            _only(placeholders(line[language]), allowed["line"], where % "line")
    if inst.kind == "rating" and inst.prompt.personas is None:
        raise ValueError("prompt.personas is required for a rating instrument")


def _only(found: set[str], allowed: set[str], where: str) -> None:
    extra = sorted(found - allowed)
    if extra:
        raise ValueError(f"{where}: unknown placeholder(s) {extra}; valid: {sorted(allowed)}")
