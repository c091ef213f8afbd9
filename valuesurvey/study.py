"""The study: ``study.yaml`` and the study directory, the contract between stages.

A study directory holds ``study.yaml`` and, written stage by stage (each file atomically):

=============================  ================================================================
``responses.sqlite``           every request and response (:mod:`valuesurvey.elicit`)
``llm_ratings.parquet``        model, origin, company, instrument, language, persona, rep, item,
                               rating, status
``rankings.parquet``           model, origin, company, language, rep, value, rank, status
``humans/<instrument>.parquet`` participant, nationality, item, rating, weight
``similarity/<instr>.parquet`` participant, nationality, model, origin, language, persona,
                               removed, cosine
``scores/<instr>_llm.csv``     model, origin, language, persona, dimension, score, n_items,
                               items_total (:mod:`valuesurvey.scoring`: dimension means after
                               reverse keying, ``min + max - rating``)
``scores/<instr>_llm_items.csv`` model, origin, language, persona, item, dimension, reverse,
                               mean_rating, keyed_mean, n_reps, n_ok
``scores/<instr>_humans.csv``  nationality, dimension, n, score, sd, weighted_score, weighted
``estimates/<analysis>.csv``   analysis, model, term, estimate, std_error, df, statistic,
                               p_value, conf_low, conf_high, method
``figures/``                   PNG and SVG
``manifest.json``              versions, input hashes, timings
``report/``                    rendered HTML and PDF
=============================  ================================================================

Relative paths in ``study.yaml`` are resolved against the directory that holds it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from valuesurvey._config import read_yaml_mapping, validation_message
from valuesurvey.analyses._spec import AnalysisSpec, check_analysis_names
from valuesurvey.countries import get_country, normalize_language
from valuesurvey.design import (
    DEFAULT_COUNTRIES,
    NONE,
    DesignCountry,
    StudyDesign,
    default_survey_languages,
    origin_value,
    persona_value,
)
from valuesurvey.errors import ConfigError

__all__ = [
    "ESTIMATE_COLUMNS",
    "HUMANS_COLUMNS",
    "LLM_RATINGS_COLUMNS",
    "RANKINGS_COLUMNS",
    "SIMILARITY_COLUMNS",
    "AnswerMode",
    "CountryEntry",
    "CountryLevelSettings",
    "GenerationSettings",
    "HumanDataSpec",
    "ModelSpec",
    "RankingSettings",
    "Study",
    "StudyPaths",
    "load_study",
]


# Columns of the study-directory tables, in order: the contract between stages (a table may add
# columns after these).
LLM_RATINGS_COLUMNS = (
    "model", "origin", "company", "instrument", "language", "persona", "rep", "item", "rating", "status",
)  # fmt: skip
RANKINGS_COLUMNS = ("model", "origin", "company", "language", "rep", "value", "rank", "status")
HUMANS_COLUMNS = ("participant", "nationality", "item", "rating", "weight")
SIMILARITY_COLUMNS = (
    "participant", "nationality", "model", "origin", "language", "persona", "removed", "cosine",
)  # fmt: skip
ESTIMATE_COLUMNS = (
    "analysis", "model", "term", "estimate", "std_error", "df", "statistic", "p_value",
    "conf_low", "conf_high", "method",
)  # fmt: skip


class AnswerMode(StrEnum):
    text = "text"
    constrained = "constrained"
    logprobs = "logprobs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _language_tags(values: Any) -> tuple[str, ...]:
    """Languages as canonical BCP-47 tags, each once; ValueError names the bad one."""
    if isinstance(values, str):
        values = [values]
    tags: list[str] = []
    for value in values:
        try:
            tag = normalize_language(str(value))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if tag in tags:
            raise ValueError(f"language {tag!r} appears twice")
        tags.append(tag)
    return tuple(tags)


class CountryEntry(_Strict):
    """A country of the study: a code (``CN``, ``CHN``) or ``{code, languages, name}``."""

    code: str = Field(..., description="ISO 3166 code or English name; stored as alpha-2")
    languages: tuple[str, ...] | None = Field(
        None, description="survey languages of its participants (BCP-47); default: CLDR official languages"
    )
    name: str | None = Field(None, description="display name in the report and figures (default: CLDR)")

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, value: Any) -> Any:
        return {"code": value} if isinstance(value, str | int) else value

    @field_validator("code", mode="before")
    @classmethod
    def _alpha2(cls, value: Any) -> str:
        try:
            return get_country(value, field="country").alpha2
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("country: ")) from None

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> Any:
        if value is None:
            return None
        tags = _language_tags(value)
        if not tags:
            raise ValueError("a country needs at least one survey language (or leave languages out)")
        return tags

    @property
    def survey_languages(self) -> tuple[str, ...]:
        return self.languages or default_survey_languages(self.code)


class GenerationSettings(_Strict):
    """Sampling settings sent with every request (and recorded with it)."""

    temperature: float | None = Field(1.0, ge=0, le=2, description="sampling temperature")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling")
    max_tokens: int | None = Field(16, ge=1, description="completion token cap")
    seed: int | None = Field(None, description="provider seed, where supported")
    top_logprobs: int = Field(20, ge=1, le=20, description="alternatives per token in logprobs mode")


class ModelSpec(_Strict):
    """One model to elicit. Fields left empty are filled from the registry entry named ``id``."""

    id: str = Field(..., description="registry id or a user-chosen id")
    provider: str | None = Field(None, description="openai_compatible, anthropic, llamacpp, simulated")
    api_model: str | None = Field(None, description="model name sent to the API")
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    origin: str | None = Field(None, description="a country (ISO 3166), none, or company")
    company: str | None = None
    display_name: str | None = None
    max_concurrency: int | None = Field(None, ge=1)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    price_input_per_mtok: float | None = Field(None, ge=0)
    price_output_per_mtok: float | None = Field(None, ge=0)
    batch: bool | None = Field(
        None, description="send through the provider's batch API (elicit --batch: all)"
    )
    batch_discount: float | None = Field(
        None, ge=0, le=1, description="share of the list price taken off for batch requests (0.5: half price)"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="provider-specific options")

    @field_validator("origin", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return None if value is None else origin_value(value, field="")


class HumanDataSpec(_Strict):
    """A human microdata file for one instrument."""

    path: Path
    format: Literal["auto", "sav", "dta", "csv", "rds", "items"] = Field(
        "auto",
        description="file format (auto: from the extension), or items: any rating instrument, a country "
        "column and one column per item id (valuesurvey.humans.items)",
    )
    countries: tuple[str, ...] | Literal["all"] | None = Field(
        None, description="countries to keep (codes), all, or none given: the study's countries"
    )
    mapping: Path | None = Field(None, description="YAML column mapping (MFQ-2 files in other layouts)")
    synthetic: bool = Field(False, description="the file is synthetic; the report says so")
    weights: str = Field(
        "none",
        description="survey weight column used by the analysis (W_WEIGHT for WVS-7), or none (unweighted)",
    )

    @field_validator("countries", mode="before")
    @classmethod
    def _country_codes(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().casefold() == "all"):
            return None if value is None else "all"
        parts = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        codes: list[str] = []
        for i, part in enumerate(parts):
            try:
                code = get_country(part, field=f"countries[{i}]").alpha2
            except ConfigError as exc:
                raise ValueError(f"{exc} (or all)") from None
            if code not in codes:
                codes.append(code)
        if not codes:
            raise ValueError("no country selected; write country codes or all")
        return tuple(codes)

    @field_validator("weights")
    @classmethod
    def _weights_name(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError(
                f"{value!r} is not a column name; use none or the file's weight column (W_WEIGHT)"
            )
        return value

    @property
    def weighted(self) -> bool:
        return self.weights.lower() != "none"


class RankingSettings(_Strict):
    repetitions: int = Field(20, ge=1)
    languages: tuple[str, ...] = ("en", "zh")
    max_invalid_retries: int = Field(3, ge=0, description="asks again after an invalid ranking")

    @field_validator("languages", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> tuple[str, ...]:
        return _language_tags(value)


class RankingAnalysisSettings(_Strict):
    """Settings of the ranking study's CN-vs-US inference (docs/study-yaml.md, ``analysis.ranking``)."""

    equivalence_margin: float = Field(
        1.0, gt=0, description="smallest CN-US difference of interest, in mean-rank positions (TOST)"
    )
    permutations: int = Field(
        100_000,
        ge=1000,
        description="Monte Carlo splits when exact counting is infeasible (> 32 models, > 1e6 splits)",
    )


def _alpha2(value: object) -> str:
    """The ISO 3166 alpha-2 code of a country written in any form (a ValueError for pydantic)."""
    from valuesurvey.countries import COUNTRY_FORMS, lookup

    country = lookup(value)
    if country is None:
        raise ValueError(f"unknown country {value!r}; write {COUNTRY_FORMS}")
    return country.alpha2


class CountryLevelSettings(_Strict):
    """Settings of the country-level analysis (docs/study-yaml.md, ``analysis.country_level``)."""

    reference: str = Field("US", description="country the cultural distance is measured from")
    min_n: int = Field(100, ge=2, description="fewer usable people: the country is reported, not estimated")
    weights: bool | None = Field(
        None,
        description="weight people by the humans table's weight column (W_WEIGHT); default: as humans.<instrument>.weights",
    )
    distance: Literal["fst", "profile"] = Field(
        "fst", description="cultural distance: fixation index over items, or distance of mean z-profiles"
    )
    removals: bool = Field(
        False, description="also at every removal level of RQ3 (a dimension or item left out)"
    )
    bootstrap: int = Field(1000, ge=100, description="resamples of people within each country for the CIs")

    @field_validator("reference", mode="before")
    @classmethod
    def _reference_country(cls, value: object) -> str:
        return _alpha2(value)


class AnalysisSettings(_Strict):
    fits: tuple[Literal["lm", "lmer", "two_stage"], ...] = ("lm", "lmer", "two_stage")
    ddf: Literal["Satterthwaite", "Kenward-Roger"] = "Satterthwaite"
    random_effects: str | dict[str, str] = Field(
        "maximal",
        description="per analysis (rq1, rq2, rq3) or for all: maximal, intercepts, or lme4 terms",
    )
    rezscore_after_removal: bool = Field(
        True, description="RQ3: z-score the remaining items again at each removal level (default)"
    )
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (ranking CIs, cluster stability)")
    seed: int = 20251123
    ranking: RankingAnalysisSettings = RankingAnalysisSettings()
    countries: Literal["all"] | tuple[str, ...] | None = Field(
        None, description="run the country-level analysis for all countries with human data, or these"
    )
    country_level: CountryLevelSettings = CountryLevelSettings()

    @field_validator("countries", mode="before")
    @classmethod
    def _country_codes(cls, value: object) -> object:
        if value is None or value == "all":
            return value
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("write all, or a non-empty list of countries")
        return tuple(dict.fromkeys(_alpha2(code) for code in value))

    @field_validator("random_effects")
    @classmethod
    def _random_effects_choices(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        from valuesurvey.regressions import ANALYSES, check_random_effects

        if isinstance(value, str):
            for analysis in ANALYSES:
                check_random_effects(analysis, value)
            return value
        unknown = sorted(set(value) - set(ANALYSES))
        if unknown:
            raise ValueError(
                f"unknown analysis {unknown[0]!r}; random_effects keys are {', '.join(ANALYSES)}"
            )
        for analysis, choice in value.items():
            try:
                check_random_effects(analysis, choice)
            except ValueError as exc:
                raise ValueError(f"{analysis}: {exc}") from None
        return value

    def random_for(self, analysis: str) -> str:
        """The random-effects choice of one analysis (``maximal`` unless the study says otherwise)."""
        if isinstance(self.random_effects, str):
            return self.random_effects
        return self.random_effects.get(analysis, "maximal")


class ReportSettings(_Strict):
    formats: tuple[Literal["html", "pdf"], ...] = ("html", "pdf")
    renderer: Literal["auto", "quarto", "pandoc"] = "auto"
    title: str | None = None


class Study(_Strict):
    """A study as written in ``study.yaml``."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    title: str | None = None
    instruments: tuple[str, ...] = Field(
        ("mfq2", "wvs7"),
        description="instrument ids; an entry may also be {file: my_scale.yaml} or an item subset "
        "{mfq2: {items: [...]}} / {mfq2: {dimensions: [...]}} (stored as ids + instrument_options)",
    )
    instrument_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per instrument: wording choices (item27: official), file, items or dimensions",
    )
    translations: dict[str, Path | dict[str, Path]] = Field(
        default_factory=dict,
        description="per instrument, language -> translation file (a bare file: the zh item texts)",
    )
    countries: tuple[CountryEntry, ...] = tuple(CountryEntry(code=code) for code in DEFAULT_COUNTRIES)
    languages: tuple[str, ...] = ("en", "zh")
    personas: tuple[str, ...] = Field((), description="none or countries of the study; default all")
    repetitions: int = Field(20, ge=1)
    answer_mode: AnswerMode = AnswerMode.text
    generation: GenerationSettings = GenerationSettings()
    cache: Path | None = Field(
        None, description="response cache directory shared across studies (else $VALUESURVEY_CACHE)"
    )
    models: tuple[ModelSpec, ...]
    humans: dict[str, HumanDataSpec] = Field(default_factory=dict)
    ranking: RankingSettings = RankingSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    analyses: tuple[AnalysisSpec, ...] = Field(
        (), description="your own lme4 / ordinal analyses (valuesurvey.analyses, docs/study-yaml.md)"
    )
    report: ReportSettings = ReportSettings()
    synthetic_note: str | None = Field(
        None, description="shown on every page and figure when any data are synthetic or simulated"
    )

    # Set by load_study, not by the YAML file.
    root: Path = Field(Path("."), exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _default_personas(cls, data: Any) -> Any:
        # Default: no persona and one persona per country of the study.
        if isinstance(data, dict) and data.get("personas") is None:
            countries = data.get("countries") or DEFAULT_COUNTRIES
            codes = [c.get("code") if isinstance(c, dict) else c for c in countries]
            data = {**data, "personas": [NONE, *codes]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _instrument_entries(cls, data: Any) -> Any:
        # Every stage reads instruments as ids: {file: ...} and {<id>: {items: ...}} entries become
        # ids here, their settings instrument_options.<id> (where for_study applies them).
        if not isinstance(data, dict) or not isinstance(data.get("instruments"), list | tuple):
            return data
        root = Path(data.get("root") or ".")
        raw_options = data.get("instrument_options") or {}
        if not isinstance(raw_options, dict):
            return data  # the field's own validation reports it
        options = {k: dict(v) if isinstance(v, dict) else v for k, v in raw_options.items()}
        ids: list[str] = []
        for i, entry in enumerate(data["instruments"]):
            instrument_id, settings = _instrument_entry(entry, root, f"instruments[{i}]")
            if instrument_id in ids:
                raise ValueError(f"instruments[{i}]: instrument {instrument_id!r} appears twice")
            ids.append(instrument_id)
            if not settings:
                continue
            current = options.setdefault(instrument_id, {})
            if not isinstance(current, dict):
                continue
            for key, value in settings.items():
                if key in current and current[key] != value:
                    raise ValueError(
                        f"instruments[{i}]: {key} of {instrument_id!r} is also set, differently, in "
                        f"instrument_options.{instrument_id}.{key}"
                    )
                current[key] = value
        return {**data, "instruments": ids, "instrument_options": options}

    @field_validator("countries")
    @classmethod
    def _unique_countries(cls, countries: tuple[CountryEntry, ...]) -> tuple[CountryEntry, ...]:
        if not countries:
            raise ValueError("no country; list at least one (default [CN, US])")
        seen: list[str] = []
        for entry in countries:
            if entry.code in seen:
                raise ValueError(f"country {entry.code} appears twice")
            seen.append(entry.code)
        return countries

    @field_validator("languages", mode="before")
    @classmethod
    def _language_codes(cls, value: Any) -> tuple[str, ...]:
        tags = _language_tags(value)
        if not tags:
            raise ValueError("no language; list at least one (default [en, zh])")
        return tags

    @field_validator("personas", mode="before")
    @classmethod
    def _persona_labels(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        if "countries" not in info.data:  # countries failed: that error is the one to report
            return tuple(str(v) for v in ([value] if isinstance(value, str) else value))
        codes = [c.code for c in info.data["countries"]]
        valid = ", ".join([NONE, *codes])
        labels: list[str] = []
        for i, raw in enumerate([value] if isinstance(value, str) else value):
            try:
                label = persona_value(raw, field=f"personas[{i}]")
            except ValueError as exc:
                raise ValueError(f"{exc}; valid: {valid}") from None
            if label != NONE and codes and label not in codes:
                shown = repr(raw) if str(raw) == label else f"{raw!r} ({label})"
                raise ValueError(
                    f"personas[{i}]: {shown} is not a country of the study; valid: {valid} "
                    f"(add {label} to countries)"
                )
            if label in labels:
                raise ValueError(f"personas[{i}]: persona {label} appears twice")
            labels.append(label)
        if not labels:
            raise ValueError(f"no persona; valid: {valid}")
        return tuple(labels)

    @field_validator("models")
    @classmethod
    def _unique_model_ids(cls, models: tuple[ModelSpec, ...]) -> tuple[ModelSpec, ...]:
        if not models:
            raise ValueError("no model; list at least one")
        seen: set[str] = set()
        for spec in models:
            if spec.id in seen:
                raise ValueError(f"model id {spec.id!r} appears twice")
            seen.add(spec.id)
        return models

    @field_validator("analyses")
    @classmethod
    def _unique_analysis_names(cls, analyses: tuple[AnalysisSpec, ...]) -> tuple[AnalysisSpec, ...]:
        return check_analysis_names(analyses)

    @model_validator(mode="after")
    def _humans_for_known_instruments(self) -> Study:
        unknown = set(self.humans) - set(self.instruments)
        if unknown:
            raise ValueError(f"humans names instruments not in 'instruments': {sorted(unknown)}")
        return self

    @property
    def paths(self) -> StudyPaths:
        return StudyPaths(self.root)

    @functools.cached_property
    def design(self) -> StudyDesign:
        """Countries, survey languages, prompt languages, personas and the pairing
        (:mod:`valuesurvey.design`): what every stage reads."""
        return StudyDesign(
            countries=tuple(DesignCountry(c.code, c.survey_languages, c.name) for c in self.countries),
            languages=self.languages,
            personas=self.personas,
            ranking_languages=self.ranking.languages,
        )

    def resolve(self, path: Path) -> Path:
        """Resolve a path from study.yaml against the study directory."""
        return path if path.is_absolute() else (self.root / path)


def _instrument_entry(entry: Any, root: Path, where: str) -> tuple[str, dict[str, Any]]:
    """One ``instruments:`` entry as (id, instrument_options to add); ValueError names the entry."""
    if isinstance(entry, str):
        return entry, {}
    if not isinstance(entry, dict) or not entry:
        raise ValueError(
            f"{where}: expected an instrument id, {{file: my_scale.yaml}} or {{<id>: {{items: [...]}}}}"
        )
    if "file" in entry:
        from valuesurvey.instruments._load import instrument_file_id

        settings = dict(entry)
        path = Path(str(settings["file"]))
        try:
            instrument_id = instrument_file_id(path if path.is_absolute() else root / path)
        except ConfigError as exc:
            raise ValueError(f"{where}.file: {exc}") from None
        return instrument_id, settings
    if len(entry) != 1:
        raise ValueError(
            f"{where}: one instrument per entry, {{<id>: {{items: [...]}}}}; got keys {', '.join(map(str, entry))}"
        )
    ((instrument_id, settings),) = entry.items()
    if not isinstance(settings, dict):
        raise ValueError(
            f"{where}.{instrument_id}: expected a mapping such as {{items: [...]}} or {{dimensions: [...]}}"
        )
    return str(instrument_id), dict(settings)


@dataclass(frozen=True)
class StudyPaths:
    """Where each stage reads and writes inside a study directory."""

    root: Path

    @property
    def study_yaml(self) -> Path:
        return self.root / "study.yaml"

    @property
    def responses(self) -> Path:
        return self.root / "responses.sqlite"

    @property
    def llm_ratings(self) -> Path:
        return self.root / "llm_ratings.parquet"

    @property
    def rankings(self) -> Path:
        return self.root / "rankings.parquet"

    @property
    def humans_dir(self) -> Path:
        return self.root / "humans"

    def humans(self, instrument: str) -> Path:
        return self.humans_dir / f"{instrument}.parquet"

    @property
    def similarity_dir(self) -> Path:
        return self.root / "similarity"

    def similarity(self, instrument: str) -> Path:
        return self.similarity_dir / f"{instrument}.parquet"

    @property
    def scores_dir(self) -> Path:
        return self.root / "scores"

    @property
    def estimates_dir(self) -> Path:
        return self.root / "estimates"

    def estimates(self, analysis: str) -> Path:
        return self.estimates_dir / f"{analysis}.csv"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"


def study_from_dict(data: dict[str, Any], *, root: Path, source: Path | None = None) -> Study:
    """Validate a study mapping; errors name the field.

    Besides the fields, every instrument must have complete texts in every language the study asks
    it in (:meth:`valuesurvey.instruments.Instrument.missing_texts`): a language without them fails
    here, with one line naming the instrument and the missing strings.
    """
    where = source or root / "study.yaml"
    try:
        study = Study.model_validate({**data, "root": root})
    except ValidationError as exc:
        raise ConfigError(_study_message(where, exc)) from None
    _check_texts(study, where)
    return study


def _study_message(where: Path, exc: ValidationError) -> str:
    """:func:`validation_message`; an ``instruments:`` entry's error (raised before the fields are
    validated) names the entry, ``field instruments[1].file: ...``, instead of "(top level)"."""
    first = exc.errors()[0]
    text = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"] and text.startswith("instruments["):
        field, _, rest = text.partition(": ")
        return f"{where}: field {field}: {rest}"
    return validation_message(where, exc)


def _check_texts(study: Study, where: Path) -> None:
    from valuesurvey import instruments
    from valuesurvey.instruments._prompts import missing_texts_message

    for inst in instruments.for_study(study).values():
        ranking = inst.kind == "ranking"
        languages = study.design.ranking_languages if ranking else study.design.languages
        personas = () if ranking else study.design.country_personas
        for language in languages:
            missing = inst.missing_texts(language, personas)
            if missing:
                field = "ranking.languages" if ranking else "languages"
                raise ConfigError(
                    f"{where}: field {field}: {missing_texts_message(inst.id, language, missing)}"
                )


def load_study(path: str | Path) -> Study:
    """Load and validate ``study.yaml`` (or a directory containing one).

    Raises :class:`ConfigError` with a one-line message naming the file and field.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "study.yaml"
    data = read_yaml_mapping(path, what="study", expected="study fields")
    return study_from_dict(data, root=path.resolve().parent, source=path)
