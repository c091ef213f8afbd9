"""Which humans? Every LLM condition against the people of every country with human data.

For each instrument with human data, each LLM condition (model × language × persona) and each
country (``analysis.countries``: ``all`` or a list)::

    humans/<instrument>.parquet ──by country──▶ respondents × items (items never asked there, WVS
          │                                     code −4, left out for that country and named)
          ├─ z-score, cosine to each LLM vector ─▶ mean cosine, 95% CI resampling people within
          │                                        the country (survey weights if asked)
          ├─ weighted answer distribution ───────▶ Wasserstein-1 and Jensen–Shannon distance to
          │    per item                             the LLM's (repetitions or logprobs), per item
          └─ vs the reference country ───────────▶ cultural distance (F_ST, or z-profiles)
    similarity × cultural distance ──R/country_models.R──▶ slope per model (lm) and over models
                                                          (lmer: model and country effects)

Countries with fewer usable people than ``min_n`` are reported with their n, not estimated. The
work per country is a handful of matrix products over chunks of people (``_compute.py``), so the
whole WVS-7 release (97,000 people, 64 countries) × 120 LLM conditions × 20 removal levels (233
million cosines) runs in bounded memory (``benchmarks/countries.py``).

Outputs (``estimates/countries_*.csv``, see :data:`COUNTRY_TABLES`): similarity, distributions,
culture, association, line, steps, fit, coverage, exclusions, settings.

>>> from valuesurvey.country_level import wasserstein_ordinal, jensen_shannon
>>> round(float(wasserstein_ordinal([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])), 3)
0.5
>>> round(float(jensen_shannon([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])), 3)
0.707
"""

from valuesurvey.country_level._compute import Levels, bootstrap_counts, estimate_country
from valuesurvey.country_level._distances import cultural_fst, jensen_shannon, wasserstein_ordinal
from valuesurvey.country_level._inputs import (
    CountryRespondents,
    LLMConditions,
    llm_conditions,
    respondents_by_country,
)
from valuesurvey.country_level._stage import (
    CountryLevelConfig,
    analyze_countries,
    country_level,
    fit_associations,
)
from valuesurvey.country_level._tables import (
    COUNTRY_TABLES,
    TIDY_COLUMNS,
    CountryTables,
    baseline_condition,
    condition_label,
    read_country_tables,
    write_country_tables,
)

__all__ = [
    "COUNTRY_TABLES",
    "TIDY_COLUMNS",
    "CountryLevelConfig",
    "CountryRespondents",
    "CountryTables",
    "LLMConditions",
    "Levels",
    "analyze_countries",
    "baseline_condition",
    "bootstrap_counts",
    "condition_label",
    "country_level",
    "cultural_fst",
    "estimate_country",
    "fit_associations",
    "jensen_shannon",
    "llm_conditions",
    "read_country_tables",
    "respondents_by_country",
    "wasserstein_ordinal",
    "write_country_tables",
]
