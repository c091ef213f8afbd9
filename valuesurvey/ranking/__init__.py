"""The value-ranking study (seed 000): hierarchy, origin groups (CN vs US), equivalence, overlap, clusters.

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

Origin groups (:func:`valuesurvey.ranking._data.origin_groups`): the countries among the models'
origins, in the design's order (the study's countries, other countries alphabetically, the reference
last); models of origin ``none`` or ``company:<name>`` are in the hierarchy, the agreement of all
models and the clusters, but in no group test. Two groups (the paper: CN, US) give the tables below
exactly as the CN-vs-US analysis did; with more than two, the per-group columns below exist for
every group (``n_<g>``, ``mean_<g>``, ``sd_<g>``, ``<g>_only``, lower-case codes), the tidy
comparison tables gain ``contrast`` ("TW - SG", or "omnibus"), ``origin_tests`` gains the omnibus
rows ``kruskal_wallis`` and ``anova_f`` (statistic H or F, df k - 1, permutation p, ``p_asymptotic``)
and Holm runs across terms and pairs; ``overlap`` has one ``model`` per pair ("TW vs SG"); the mixed
model sum-codes origin (the last group the reference) and reports every pair per dimension.

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
    per dimension and per value, model = "welch_t" (estimate = mean CN - US, t, Welch df, 95% CI),
    "permutation" (the same difference; exact permutation p-value) or "mann_whitney_u" (estimate =
    Hodges-Lehmann shift CN - US, statistic = U of the CN models, exact p-value with ties); then
    level, p_holm (Holm within level and test), effect_size (Hedges' g or rank-biserial r),
    effect_size_name, n_cn, n_us, mean_cn, mean_us, sd_cn, sd_us, p_method (exact count or Monte
    Carlo), n_permutations, p_low, p_high (99% interval of a Monte Carlo p; = p when exact).
    Permutation tests and their tie handling: :mod:`valuesurvey.ranking._exact`. A negative
    estimate: CN models rank it higher.
``equivalence`` (tidy)
    per dimension and per value, model = "tost_welch": estimate = mean CN - US, conf_low/high = 90%
    CI, p_value = TOST p within ±margin; then level, p_holm, margin, equivalent, equivalence_bound
    (smallest margin equivalence would be shown within), difference_p_holm (the permutation test),
    detected, conclusion (difference, difference_within_margin, equivalence, inconclusive), n_cn,
    n_us, sd_pooled, mde_d (minimum detectable standardised difference at alpha 0.05, power 0.8),
    mde (the same in rank positions), power_at_margin (:mod:`valuesurvey.ranking._equivalence`).
``mixed`` (tidy; absent when not fitted)
    model = "lmer" (as first specified, for the record) or "lmer_nested" (the fit the
    simplification sequence ended with; formulas and the sequence in
    :mod:`valuesurvey.ranking._mixed`); component = fixed / random / anova (type III F; df =
    denominator df, num_df) / contrast ("CN - US | <dimension>", with p_holm); then recommended
    (converged, not singular, design-based: the only fit the report uses for inference),
    singular, converged, conv_code (the optimizer's code), optimizer, messages, formula.
``mixed_steps`` (absent when not fitted)
    model, step, formula, optimizer, conv_code, converged, singular, variance (SD per random term),
    action (what the sequence did next and why), recommended, messages.
``top_bottom``
    group (all, CN, US), list (top, bottom), position, value, dimension, mean_rank.
``overlap`` (tidy)
    term = top5_jaccard, bottom5_jaccard (statistic = shared count, p_value = hypergeometric),
    hierarchy_spearman; then shared, cn_only, us_only (";"-joined value ids).
``clusters``
    method (ward, spearman), model, origin, cluster, archetype (the cluster's profile label),
    leaf_order (dendrogram position).
``cluster_selection``
    method, k (1..k_max), silhouette (NaN at k = 1), gap, gap_se, chosen (by silhouette),
    chosen_gap (by the gap statistic's global 1-SE rule).
``cluster_stability``
    method, k, scheme (repetitions, models), n_boot, ari_mean, ari_median, ari_low, ari_high.
``cluster_validity``
    method, k, silhouette, silhouette_max, gap_k, gap_references, ari_repetitions, ari_models,
    smallest_cluster, structure (the stated rule of :mod:`valuesurvey.ranking._cluster`), reason.
``archetypes``
    method, cluster, archetype (label from the cluster's profile), structure, n_models, n_cn, n_us,
    models, prioritised, deprioritised, description, stability_jaccard, poster_match (closest poster
    archetype, not assigned one-to-one), poster_match_score, z_<dimension>..., score_<dimension>...
``cluster_origin`` (tidy)
    per method: Fisher-Freeman-Halton exact test of cluster x origin (p_value), Cramér's V
    (estimate), Pearson chi2 (statistic); then k, mixed_clusters, table.
``linkage``
    method, step, node, left, right, height, size (scipy linkage; leaves named by model).
"""

from valuesurvey.ranking._cluster import ARCHETYPE_SIGNATURES, freeman_halton
from valuesurvey.ranking._data import ValidRankings, validate_rankings
from valuesurvey.ranking._equivalence import minimum_detectable_d, tost_welch
from valuesurvey.ranking._exact import permutation_pvalues
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
    "minimum_detectable_d",
    "permutation_pvalues",
    "tost_welch",
    "validate_rankings",
    "write_results",
]
