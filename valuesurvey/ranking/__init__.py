"""The value-ranking study (seed 000): hierarchy, CN vs US, overlap, archetypes.

Each model ranks the 25 values of the ``ai_values`` instrument (1 = most important), ``repetitions``
times per language, with no persona. :func:`analyze_study` reads ``rankings.parquet`` and writes the
tables below into ``estimates/``; :func:`load_results` reads them back as a :class:`RankingResults`.

Handling of invalid data (see :mod:`valuesurvey.ranking._data`): an attempt is used only if all its
rows are ``ok`` and its ranks are a permutation of 1..25 over the 25 values (so ties, missing,
duplicated or unknown values make it invalid); each (model, language, rep) uses its last valid
attempt; models keep whatever valid repetitions they have (``n_reps``); models with none are listed
in ``ranking_exclusions.csv``. Languages are pooled: a model's mean rank is over all its valid
rankings in every language (per-language means are in ``ranking_mean_ranks_by_language.csv``).
Every model weighs the same in overall and per-origin summaries.

Tables (``estimates/ranking_<name>.csv``)
-----------------------------------------
Tidy tables start with the estimates columns ``analysis, model, term, estimate, std_error, df,
statistic, p_value, conf_low, conf_high, method``; ``model`` there names the statistical model or
test (or the LLM for within-model agreement).

``counts``
    model, origin, company, language, requests, attempts, valid, invalid_attempts,
    refusal_attempts, error_attempts, malformed_attempts, requests_without_valid.
``exclusions``
    model, origin, company, reason (models with no valid ranking).
``mean_ranks``
    model, origin, company, value, dimension, mean_rank, sd_rank, n_reps (the heatmap's matrix).
``mean_ranks_by_language``
    the same with ``language`` after company.
``dimension_scores``
    model, origin, company, dimension, score (mean of the dimension's mean ranks), n_reps.
``hierarchy`` (tidy)
    term = dimension or value; estimate = mean over models of the mean rank; std_error and
    conf_low/high from a percentile bootstrap over models; then level ("dimension"/"value"),
    dimension, position (1 = most important), n_models.
``agreement`` (tidy)
    Kendall's W: model = "all", "CN", "US" (across models, items = values) or an LLM id (across its
    repetitions); statistic = chi2, df, p_value; then scope, n_raters, n_items, mean_spearman.
``origin_tests`` (tidy)
    per dimension and per value, model = "welch_t" (estimate = mean CN - US, t, Welch df, 95% CI)
    or "mann_whitney_u" (estimate = Hodges-Lehmann shift CN - US, statistic = U); then level, p_holm
    (Holm within level and test), effect_size (Hedges' g or rank-biserial r), effect_size_name,
    n_cn, n_us, mean_cn, mean_us, sd_cn, sd_us. A negative estimate: CN models rank it higher.
``mixed`` (tidy; absent when not fitted)
    model = "lmer" or "lmer_nested" (formulas in :mod:`valuesurvey.ranking._mixed`); component =
    fixed / random / anova (type III F; df = denominator df, num_df) / contrast ("CN - US |
    <dimension>", with p_holm); then singular, messages, formula.
``top_bottom``
    group (all, CN, US), list (top, bottom), position, value, dimension, mean_rank.
``overlap`` (tidy)
    term = top5_jaccard, bottom5_jaccard (statistic = shared count, p_value = hypergeometric),
    hierarchy_spearman; then shared, cn_only, us_only (";"-joined value ids).
``clusters``
    method (ward, spearman), model, origin, cluster, archetype, leaf_order (dendrogram position).
``cluster_selection``
    method, k, silhouette, chosen.
``cluster_stability``
    method, k, scheme (repetitions, models), n_boot, ari_mean, ari_median, ari_low, ari_high.
``archetypes``
    method, cluster, archetype, name_score, n_models, n_cn, n_us, models, prioritised,
    deprioritised, description, stability_jaccard, z_<dimension>..., score_<dimension>...
    (naming rule in :mod:`valuesurvey.ranking._cluster`).
``cluster_origin`` (tidy)
    per method: Fisher-Freeman-Halton exact test of cluster x origin (p_value), Cramér's V
    (estimate), Pearson chi2 (statistic); then k, mixed_clusters, table.
``linkage``
    method, step, node, left, right, height, size (scipy linkage; leaves named by model).
"""

from valuesurvey.ranking._cluster import ARCHETYPE_SIGNATURES, freeman_halton
from valuesurvey.ranking._data import ValidRankings, validate_rankings
from valuesurvey.ranking._stats import compare_origins, hodges_lehmann, kendall_w
from valuesurvey.ranking._study import (
    RankingResults,
    analyze_rankings,
    analyze_study,
    instrument_values,
    load_results,
    write_results,
)

__all__ = [
    "ARCHETYPE_SIGNATURES",
    "RankingResults",
    "ValidRankings",
    "analyze_rankings",
    "analyze_study",
    "compare_origins",
    "freeman_halton",
    "hodges_lehmann",
    "instrument_values",
    "kendall_w",
    "load_results",
    "validate_rankings",
    "write_results",
]
