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
``estimates/<analysis>.csv``   analysis, model, term, estimate, std_error, df, statistic,
                               p_value, conf_low, conf_high, method
``figures/``                   PNG and SVG
``manifest.json``              versions, input hashes, timings
``report/``                    rendered HTML and PDF
=============================  ================================================================

Relative paths in ``study.yaml`` are resolved against the directory that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from valuesurvey._config import read_yaml_mapping, validation_message
from valuesurvey.analyses._spec import AnalysisSpec, check_analysis_names
from valuesurvey.errors import ConfigError

__all__ = [
    "ESTIMATE_COLUMNS",
    "HUMANS_COLUMNS",
    "LLM_RATINGS_COLUMNS",
    "RANKINGS_COLUMNS",
    "SIMILARITY_COLUMNS",
    "AnswerMode",
    "CountryLevelSettings",
    "GenerationSettings",
    "HumanDataSpec",
    "Language",
    "ModelSpec",
    "Origin",
    "Persona",
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


class Language(StrEnum):
    en = "en"
    zh = "zh"


class Persona(StrEnum):
    none = "none"
    cn = "cn"
    us = "us"


class Origin(StrEnum):
    CN = "CN"
    US = "US"


class AnswerMode(StrEnum):
    text = "text"
    constrained = "constrained"
    logprobs = "logprobs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    origin: Origin | None = None
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


class HumanDataSpec(_Strict):
    """A human microdata file for one instrument."""

    path: Path
    format: Literal["auto", "sav", "dta", "csv", "rds"] = "auto"
    countries: Literal["all"] | tuple[str, ...] = Field(
        ("CHN", "USA"), description="countries to keep, or all (every country in the file)"
    )
    mapping: Path | None = Field(None, description="YAML column mapping (MFQ-2 files in other layouts)")
    synthetic: bool = Field(False, description="the file is synthetic; the report says so")
    weights: str = Field(
        "none",
        description="survey weight column used by the analysis (W_WEIGHT for WVS-7), or none (unweighted)",
    )

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
    languages: tuple[Language, ...] = (Language.en, Language.zh)
    max_invalid_retries: int = Field(3, ge=0, description="asks again after an invalid ranking")


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
    instruments: tuple[str, ...] = ("mfq2", "wvs7")
    instrument_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per instrument, e.g. {mfq2: {item27: official}}"
    )
    translations: dict[str, Path] = Field(
        default_factory=dict, description="per instrument, a CSV (item id, text) overriding zh texts"
    )
    languages: tuple[Language, ...] = (Language.en, Language.zh)
    personas: tuple[Persona, ...] = (Persona.none, Persona.cn, Persona.us)
    repetitions: int = Field(20, ge=1)
    answer_mode: AnswerMode = AnswerMode.text
    generation: GenerationSettings = GenerationSettings()
    cache: Path | None = Field(
        None, description="response cache directory shared across studies (else $VALUESURVEY_CACHE)"
    )
    models: tuple[ModelSpec, ...] = Field(..., min_length=1)
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

    @field_validator("models")
    @classmethod
    def _unique_model_ids(cls, models: tuple[ModelSpec, ...]) -> tuple[ModelSpec, ...]:
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

    def resolve(self, path: Path) -> Path:
        """Resolve a path from study.yaml against the study directory."""
        return path if path.is_absolute() else (self.root / path)


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
    """Validate a study mapping; errors name the field."""
    try:
        return Study.model_validate({**data, "root": root})
    except ValidationError as exc:
        raise ConfigError(validation_message(source or root / "study.yaml", exc)) from None


def load_study(path: str | Path) -> Study:
    """Load and validate ``study.yaml`` (or a directory containing one).

    Raises :class:`ConfigError` with a one-line message naming the file and field.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "study.yaml"
    data = read_yaml_mapping(path, what="study", expected="study fields")
    return study_from_dict(data, root=path.resolve().parent, source=path)
