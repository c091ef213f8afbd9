"""The study design as data: countries, their survey languages, prompt languages, personas, origins.

Every stage reads the design from one place, :attr:`Study.design <valuesurvey.study.Study.design>`
(a :class:`StudyDesign`), never from literals:

- **countries** — ISO 3166 alpha-2 codes, in the order of ``study.yaml``'s ``countries`` (default
  the paper's ``[CN, US]``). The code is the one form used in every table: the humans table's
  ``nationality``, a model's ``origin``, the ``persona`` of a prompt.
- **survey languages** of each country — the languages its participants answered the human
  questionnaires in (BCP-47; default the country's official languages from the CLDR, most spoken
  first).
- **the pairing** "participants of country C ↔ prompt language L" of the language-matched analyses
  (RQ1, RQ3, the figures): L is the first of C's survey languages that the study elicits (the same
  tag, else the same base language, so Taiwan's ``zh-Hant`` is paired with ``zh`` prompts). A
  country none of whose survey languages is elicited has no paired language: its participants are
  in no language-matched analysis (:meth:`StudyDesign.unpaired` lists them).
- **personas** — ``none`` or a country of the study (``personas: [none, CN, US, DE]`` needs DE in
  ``countries``).
- **origins** — a model's origin is a country (any ISO 3166 country, not only the study's), ``none``
  (no country) or ``company:<name>`` (a company-level label, written ``origin: company`` in
  study.yaml or the registry, reported as such).
- **coding** of nationality and origin in the regressions: with two levels the paper's half-sum
  coding (first level +0.5, second −0.5); with more, sum contrasts (each level but the reference
  coded +1 in its own column, the reference −1 in all), the **reference** being the last country of
  ``countries``. Levels are ordered: the study's countries in their order (the reference last),
  then other countries by code, then ``none``, then company labels.

Request keys and seeds: a persona enters a request's seed as its lowercase code
(:func:`persona_key`: ``cn``, ``us`` as the paper's design was keyed), so the paper's stored answers
keep their keys.

>>> design = StudyDesign.from_codes(["CN", "US", "TW", "SG"], languages=["en", "zh"])
>>> design.pairing
{'CN': 'zh', 'US': 'en', 'TW': 'zh', 'SG': 'en'}
>>> design.reference, design.personas
('SG', ('none', 'CN', 'US', 'TW', 'SG'))
>>> design.origin_levels(["FR", "US", "none", "SG", "CN"])
('CN', 'US', 'FR', 'none', 'SG')
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from valuesurvey.countries import COUNTRY_FORMS, Country, get_country, lookup, normalize_language

__all__ = [
    "COMPANY",
    "DEFAULT_COUNTRIES",
    "NONE",
    "ORIGIN_FORMS",
    "DesignCountry",
    "StudyDesign",
    "base_language",
    "canonical_labels",
    "company_origin",
    "default_design",
    "origin_value",
    "pair_language",
    "persona_key",
    "persona_value",
]

#: The paper's countries (seed 001): the default of ``study.yaml``'s ``countries``.
DEFAULT_COUNTRIES: tuple[str, ...] = ("CN", "US")
#: The label of "no persona" and of "no country" (an origin).
NONE = "none"
#: What study.yaml writes for a company-level origin; tables hold ``company:<company>``.
COMPANY = "company"
ORIGIN_FORMS = (
    f"write a country ({COUNTRY_FORMS}), none (no country) or company (the model's company as a "
    "company-level label)"
)


def origin_value(value: object, *, field: str = "origin") -> str:
    """The canonical origin: an alpha-2 code, ``none``, ``company`` or ``company:<name>``.

    >>> origin_value("CHN"), origin_value("None"), origin_value("company:Mistral AI")
    ('CN', 'none', 'company:Mistral AI')
    >>> origin_value("Atlantis", field="models.2.origin")
    Traceback (most recent call last):
    ValueError: models.2.origin: 'Atlantis' is not a country or none; write a country (an ISO 3166 alpha-2 code (CN), alpha-3 code (CHN), numeric code (156) or English name), none (no country) or company (the model's company as a company-level label)
    """
    text = str(value).strip()
    if text.casefold() == NONE:
        return NONE
    if text.casefold() == COMPANY:
        return COMPANY
    if text.casefold().startswith(f"{COMPANY}:") and text.split(":", 1)[1].strip():
        return f"{COMPANY}:{text.split(':', 1)[1].strip()}"
    country = lookup(value)
    if country is None:
        where = f"{field}: " if field else ""
        raise ValueError(f"{where}{value!r} is not a country or none; {ORIGIN_FORMS}")
    return country.alpha2


def company_origin(origin: str, company: str | None) -> str:
    """``company`` resolved to ``company:<company>`` (other origins unchanged).

    >>> company_origin("company", "Hugging Face"), company_origin("FR", "Mistral AI")
    ('company:Hugging Face', 'FR')
    """
    if origin != COMPANY:
        return origin
    if not company or company == "unknown":
        raise ValueError("origin company needs the model's company field")
    return f"{COMPANY}:{company}"


def persona_value(value: object, *, field: str = "persona") -> str:
    """``none`` or the alpha-2 code of the persona's country (``cn``, ``CN``, ``CHN``, ``China``).

    >>> persona_value("cn"), persona_value("none"), persona_value("Germany")
    ('CN', 'none', 'DE')
    """
    if str(value).strip().casefold() == NONE:
        return NONE
    country = lookup(value)
    if country is None:
        where = f"{field}: " if field else ""
        raise ValueError(f"{where}{value!r} is not a persona; write none or a country ({COUNTRY_FORMS})")
    return country.alpha2


def persona_key(persona: object) -> str:
    """How a persona enters request seeds: ``none`` or its lowercase code (the paper's ``cn``/``us``).

    >>> persona_key("CN"), persona_key("none"), persona_key(None)
    ('cn', 'none', None)
    """
    return None if persona is None else str(persona).lower()  # type: ignore[return-value]


def base_language(tag: str) -> str:
    """The language subtag of a BCP-47 tag.

    >>> base_language("zh-Hant"), base_language("en")
    ('zh', 'en')
    """
    return str(tag).split("-")[0].casefold()


def pair_language(survey_languages: Sequence[str], prompt_languages: Sequence[str]) -> str | None:
    """The prompt language paired with participants who answered in ``survey_languages``: the first
    survey language the study elicits (the same tag, else the same base language), or ``None``.

    >>> pair_language(["zh-Hant", "nan-Hant"], ["en", "zh"]), pair_language(["ja"], ["en", "zh"])
    ('zh', None)
    """
    for language in survey_languages:
        if language in prompt_languages:
            return language
    for language in survey_languages:
        for prompt in prompt_languages:
            if base_language(prompt) == base_language(language):
                return prompt
    return None


@dataclass(frozen=True)
class DesignCountry:
    """One country of the study: its code, survey languages and (optional) display name."""

    code: str
    languages: tuple[str, ...]
    display: str | None = None

    @property
    def country(self) -> Country:
        return get_country(self.code)

    def name(self, language: str = "en") -> str:
        """The display name (``name`` in study.yaml, for English) or the CLDR name in ``language``."""
        if self.display and base_language(language) == "en":
            return self.display
        return self.country.name(language)


@dataclass(frozen=True)
class StudyDesign:
    """Countries, languages, personas and the pairing of a study (see the module docstring)."""

    countries: tuple[DesignCountry, ...]
    languages: tuple[str, ...]
    personas: tuple[str, ...]
    ranking_languages: tuple[str, ...] = ()
    _by_code: dict[str, DesignCountry] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {c.code: c for c in self.countries})

    @classmethod
    def from_codes(
        cls,
        codes: Iterable[str] = DEFAULT_COUNTRIES,
        *,
        languages: Sequence[str] = ("en", "zh"),
        personas: Sequence[str] | None = None,
        survey_languages: Mapping[str, Sequence[str]] | None = None,
        ranking_languages: Sequence[str] | None = None,
    ) -> StudyDesign:
        """A design from country codes; survey languages default to the CLDR's official languages."""
        survey_languages = survey_languages or {}
        countries = []
        for code in codes:
            country = get_country(code)
            given = survey_languages.get(country.alpha2)
            spoken = (
                tuple(normalize_language(x) for x in given)
                if given
                else default_survey_languages(country.alpha2)
            )
            countries.append(DesignCountry(country.alpha2, spoken))
        langs = tuple(normalize_language(x) for x in languages)
        chosen = personas if personas is not None else (NONE, *(c.code for c in countries))
        return cls(
            tuple(countries),
            langs,
            tuple(persona_value(p) for p in chosen),
            tuple(normalize_language(x) for x in (ranking_languages or langs)),
        )

    # -- countries ---------------------------------------------------------------------------

    @property
    def codes(self) -> tuple[str, ...]:
        """The study's countries, alpha-2, in study.yaml's order."""
        return tuple(c.code for c in self.countries)

    @property
    def reference(self) -> str:
        """The reference level of the sum contrasts (k > 2): the last country of ``countries``."""
        return self.countries[-1].code

    def country(self, code: str) -> DesignCountry:
        """The study's country ``code``; KeyError names the study's countries otherwise."""
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(
                f"{code!r} is not a country of the study; countries: {', '.join(self.codes)}"
            ) from None

    # -- languages and the pairing ---------------------------------------------------------

    @property
    def pairing(self) -> dict[str, str]:
        """Country → the prompt language its participants are paired with (paired countries only)."""
        out = {}
        for country in self.countries:
            language = pair_language(country.languages, self.languages)
            if language is not None:
                out[country.code] = language
        return out

    def paired_language(self, code: str) -> str | None:
        """The prompt language paired with participants of country ``code`` (None: unpaired)."""
        return self.pairing.get(str(code))

    def unpaired(self) -> tuple[str, ...]:
        """Countries none of whose survey languages the study elicits."""
        return tuple(c for c in self.codes if c not in self.pairing)

    # -- personas ----------------------------------------------------------------------------

    @property
    def country_personas(self) -> tuple[str, ...]:
        """The personas that name a country (RQ2's conditions), in study order."""
        return tuple(p for p in self.personas if p != NONE)

    # -- levels and coding -------------------------------------------------------------------

    def nationality_levels(self, present: Iterable[str]) -> tuple[str, ...]:
        """The levels of ``nationality`` among ``present``: the study's order, the reference last."""
        return self._levels(present)

    def origin_levels(self, present: Iterable[str]) -> tuple[str, ...]:
        """The levels of ``origin``: study countries, other countries, none, company labels, with the
        reference (when present) last."""
        return self._levels(present)

    def _levels(self, present: Iterable[str]) -> tuple[str, ...]:
        values = {str(v) for v in present}
        ordered = [c for c in self.codes if c in values]
        countries = sorted(v for v in values - set(ordered) if lookup(v) is not None and len(v) == 2)
        rest = values - set(ordered) - set(countries)
        ordered += countries
        ordered += [NONE] if NONE in rest else []
        ordered += sorted(rest - {NONE})
        if self.reference in ordered:
            ordered.remove(self.reference)
            ordered.append(self.reference)
        return tuple(ordered)

    @staticmethod
    def scheme(levels: Sequence[str]) -> str:
        """``half_sum`` for two levels (the paper's ±0.5), else ``contr_sum`` (reference last)."""
        return "half_sum" if len(levels) == 2 else "contr_sum"

    def coding_sentence(self, variable: str, levels: Sequence[str]) -> str:
        """How ``variable`` is coded, in words.

        >>> d = StudyDesign.from_codes()
        >>> d.coding_sentence("nationality", ["CN", "US"])
        'nationality half-sum coded: China = +0.5, United States = −0.5'
        """
        if len(levels) == 2:
            return f"{variable} half-sum coded: {self.name(levels[0])} = +0.5, {self.name(levels[1])} = −0.5"
        others = ", ".join(self.name(level) for level in levels[:-1])
        return (
            f"{variable} sum-coded (deviation from the unweighted mean of its {len(levels)} levels) with "
            f"{self.name(levels[-1])} as the reference level (−1 in every contrast); one term each for "
            f"{others}"
        )

    # -- names -------------------------------------------------------------------------------

    def name(self, label: object, language: str = "en") -> str:
        """A readable name of a country code, origin or persona label.

        >>> d = StudyDesign.from_codes()
        >>> d.name("CN"), d.name("FR"), d.name("none"), d.name("company:Hugging Face")
        ('China', 'France', 'no country', 'Hugging Face (company)')
        """
        text = str(label)
        if text in self._by_code:
            return self._by_code[text].name(language)
        if text == NONE:
            return "no country"
        if text.startswith(f"{COMPANY}:"):
            return f"{text.split(':', 1)[1]} (company)"
        country = lookup(text) if len(text) == 2 else None
        return country.name(language) if country is not None else text

    def persona_name(self, persona: object) -> str:
        """``no persona`` or ``<country> persona``."""
        return "no persona" if str(persona) == NONE else f"{self.name(persona)} persona"

    def summary(self) -> dict[str, object]:
        """What the report and the manifest say about the design."""
        return {
            "countries": [
                {
                    "code": c.code,
                    "name": c.name(),
                    "languages": list(c.languages),
                    "paired": self.paired_language(c.code),
                }
                for c in self.countries
            ],
            "languages": list(self.languages),
            "personas": list(self.personas),
            "reference": self.reference,
        }


def canonical_labels(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``persona`` column in the canonical form (``cn`` → ``CN``), for tables
    written before countries were study data.

    >>> canonical_labels(pd.DataFrame({"persona": ["none", "cn", "US"]}))["persona"].tolist()
    ['none', 'CN', 'US']
    """
    if "persona" not in table.columns:
        return table
    values = table["persona"].astype(str)
    legacy = values.str.fullmatch(r"[a-z]{2}")
    if not legacy.any():
        return table
    return table.assign(persona=values.where(~legacy, values.str.upper()))


@functools.cache
def default_survey_languages(code: str) -> tuple[str, ...]:
    """A country's official languages from the CLDR (most spoken first, those Babel has a locale
    for), or English when none."""
    from valuesurvey.errors import ConfigError

    tags = []
    for language in get_country(code).official_languages:
        try:
            tags.append(normalize_language(language))
        except ConfigError:
            continue
    return tuple(tags) or ("en",)


@functools.cache
def default_design() -> StudyDesign:
    """The paper's design: China and the USA, en and zh prompts, personas none, CN and US."""
    return StudyDesign.from_codes()
