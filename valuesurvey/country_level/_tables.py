"""The country-level tables in ``estimates/``: names, columns, and reading them back.

Every estimates table starts with the same eight columns (``TIDY_COLUMNS``: model, condition,
country, n, metric, estimate, conf_low, conf_high) and adds its own after them. A condition is
``<language>/<persona>``; ``model`` is ``all`` for an estimate over every model and ``humans`` for
one of the human data alone; ``country`` is ``all`` for an estimate over countries. No estimate is
NaN: what could not be estimated is a row of ``countries_exclusions.csv`` saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from valuesurvey import _io
from valuesurvey.errors import DataError
from valuesurvey.study import Study

__all__ = [
    "COUNTRY_TABLES",
    "TIDY_COLUMNS",
    "CountryTables",
    "baseline_condition",
    "condition_label",
    "read_country_tables",
    "write_country_tables",
]

TIDY_COLUMNS = ("model", "condition", "country", "n", "metric", "estimate", "conf_low", "conf_high")
_KEYS = ("instrument", "origin", "language", "persona")

#: File stem → columns, in order.
COUNTRY_TABLES: dict[str, tuple[str, ...]] = {
    # mean cosine of the country's people to each LLM condition (n: people averaged)
    "countries_similarity": (*TIDY_COLUMNS, *_KEYS, "removed", "n_bootstrap", "weighted"),
    # per item (and item = "all": the mean over the items asked) W1 and Jensen-Shannon distances
    # (n: respondents answering the item; n_llm: the LLM answers behind its distribution)
    "countries_distributions": (*TIDY_COLUMNS, *_KEYS, "item", "llm_source", "n_llm"),
    # cultural distance of each country from the reference (model "humans", condition "humans")
    "countries_culture": (*TIDY_COLUMNS, "instrument", "reference", "n_reference", "n_items"),
    # slope of similarity on cultural distance, per model (lm) and over models (lmer, two-stage)
    "countries_association": (
        *TIDY_COLUMNS,
        *_KEYS,
        "term",
        "std_error",
        "df",
        "statistic",
        "p_value",
        "method",
    ),
    # the mixed model's fitted line and its 95% band on a grid of distances
    "countries_line": (*TIDY_COLUMNS, "instrument", "language", "persona", "distance"),
    # the mixed model's simplification: every fit tried
    "countries_steps": (
        "instrument",
        "condition",
        "step",
        "structure",
        "formula",
        "optimizer",
        "conv_code",
        "converged",
        "singular",
        "action",
        "chosen",
        "messages",
    ),
    # the chosen mixed model's facts
    "countries_fit": (
        "instrument",
        "condition",
        "nobs",
        "n_models",
        "n_countries",
        "groups",
        "sigma",
        "logLik",
        "random_sd",
        "singular",
        "converged",
        "messages",
    ),
    # one row per instrument × country: what the analysis could use
    "countries_coverage": (
        "instrument",
        "country",
        "n_respondents",
        "n_complete",
        "n_zero_variance",
        "n",
        "status",
        "items_asked",
        "items_not_asked",
        "reason",
    ),
    # everything left out, one row each, with the reason
    "countries_exclusions": ("instrument", "kind", "country", "model", "condition", "item", "n", "reason"),
    # the settings the tables were computed with
    "countries_settings": (
        "instrument",
        "countries",
        "reference",
        "distance",
        "weights",
        "min_n",
        "n_bootstrap",
        "seed",
        "removals",
        "conf_level",
    ),
}


def baseline_condition(similarity: pd.DataFrame) -> str | None:
    """The condition the headline numbers and figures use: no persona, in English if the study asked
    in English (else its first language); the first condition when no persona-free one exists.

    >>> baseline_condition(pd.DataFrame({"condition": ["zh/none", "en/us", "en/none"],
    ...     "language": ["zh", "en", "en"], "persona": ["none", "us", "none"]}))
    'en/none'
    """
    if similarity.empty:
        return None
    plain = similarity[similarity["persona"].astype(str) == "none"]
    if plain.empty:
        return str(similarity["condition"].iloc[0])
    english = plain[plain["language"].astype(str) == "en"]
    return str((english if not english.empty else plain)["condition"].iloc[0])


def condition_label(language: object, persona: object) -> str:
    """``en/none``: a condition's name in the tables.

    >>> condition_label("zh", "us")
    'zh/us'
    """
    return f"{language}/{persona}"


@dataclass
class CountryTables:
    """The country-level tables of a study (each a DataFrame with the columns of ``COUNTRY_TABLES``)."""

    similarity: pd.DataFrame
    distributions: pd.DataFrame
    culture: pd.DataFrame
    association: pd.DataFrame
    line: pd.DataFrame
    steps: pd.DataFrame
    fit: pd.DataFrame
    coverage: pd.DataFrame
    exclusions: pd.DataFrame
    settings: pd.DataFrame

    @staticmethod
    def stem(name: str) -> str:
        return f"countries_{name}"

    @classmethod
    def empty(cls) -> CountryTables:
        return cls(**{f.name: pd.DataFrame(columns=COUNTRY_TABLES[cls.stem(f.name)]) for f in fields(cls)})

    @classmethod
    def concat(cls, parts: list[CountryTables]) -> CountryTables:
        out = {}
        for f in fields(cls):
            frames = [getattr(p, f.name) for p in parts if not getattr(p, f.name).empty]
            columns = list(COUNTRY_TABLES[cls.stem(f.name)])
            out[f.name] = (
                pd.concat(frames, ignore_index=True).reindex(columns=columns)
                if frames
                else pd.DataFrame(columns=columns)
            )
        return cls(**out)

    def frames(self) -> Mapping[str, pd.DataFrame]:
        return {self.stem(f.name): getattr(self, f.name) for f in fields(self)}


def write_country_tables(study: Study, tables: CountryTables) -> list[Path]:
    """Write every table to ``estimates/countries_*.csv`` (atomically); return the paths."""
    written = []
    for stem, frame in tables.frames().items():
        path = study.paths.estimates(stem)
        with _io.atomic_path(path) as tmp:
            frame.reindex(columns=list(COUNTRY_TABLES[stem])).to_csv(tmp, index=False, float_format="%.10g")
        written.append(path)
    return written


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        # Only an empty cell is missing: "NA" is Namibia.
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"country": str})
    except Exception as exc:  # pandas raises many types; all mean "unreadable"
        raise DataError(f"cannot read table ({type(exc).__name__}: {exc})", path=path) from exc
    for column in columns:
        if column not in frame.columns:
            raise DataError("required column is missing", path=path, column=column)
    return frame


def read_country_tables(study: Study) -> CountryTables | None:
    """The study's country-level tables, or ``None`` when the analysis has not written them."""
    paths = {stem: study.paths.estimates(stem) for stem in COUNTRY_TABLES}
    if not paths["countries_similarity"].exists():
        return None
    missing = [p for p in paths.values() if not p.exists()]
    if missing:
        raise DataError("the country-level tables are incomplete; run `valuesurvey analyze`", path=missing[0])
    frames = {stem: _read(path, COUNTRY_TABLES[stem]) for stem, path in paths.items()}
    return CountryTables(**{f.name: frames[CountryTables.stem(f.name)] for f in fields(CountryTables)})
