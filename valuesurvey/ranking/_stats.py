"""Hierarchy, agreement, CN-vs-US tests and top/bottom overlap of value rankings.

Every function takes plain tables or arrays and returns one row per estimate, with the estimates
columns of the study directory first (``analysis, model, term, estimate, std_error, df, statistic,
p_value, conf_low, conf_high, method``) and extra columns after them.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats

from valuesurvey import study
from valuesurvey.ranking import _exact

ESTIMATE_COLUMNS = list(study.ESTIMATE_COLUMNS)


def tidy(rows: list[dict], extra: list[str] | None = None) -> pd.DataFrame:
    """Rows as a DataFrame with the estimates columns first (missing ones NaN)."""
    frame = pd.DataFrame(rows)
    for column in ESTIMATE_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    rest = extra if extra is not None else [c for c in frame.columns if c not in ESTIMATE_COLUMNS]
    return frame[ESTIMATE_COLUMNS + rest]


# --- agreement -------------------------------------------------------------------------------------


def kendall_w(ratings: np.ndarray) -> dict[str, float]:
    """Kendall's coefficient of concordance of raters (rows) over items (columns).

    Each row is converted to ranks (average ranks for ties) and the tie-corrected W is returned with
    its chi-square test (``chi2 = m (n - 1) W`` on ``n - 1`` df).

    Parameters
    ----------
    ratings : ndarray, shape (m raters, n items)

    Returns
    -------
    dict
        ``w, chi2, df, p_value, m, n, mean_spearman`` (the mean pairwise Spearman correlation,
        ``(m W - 1) / (m - 1)``).

    Examples
    --------
    >>> round(kendall_w(np.array([[1, 2, 3], [1, 2, 3]]))["w"], 6)
    1.0
    >>> round(kendall_w(np.array([[1, 2, 3], [3, 2, 1]]))["w"], 6)
    0.0
    """
    ratings = np.asarray(ratings, dtype=float)
    m, n = ratings.shape
    if m < 2 or n < 2:
        return {
            "w": np.nan,
            "chi2": np.nan,
            "df": np.nan,
            "p_value": np.nan,
            "m": m,
            "n": n,
            "mean_spearman": np.nan,
        }
    ranks = np.apply_along_axis(stats.rankdata, 1, ratings)
    sums = ranks.sum(axis=0)
    s = float(((sums - sums.mean()) ** 2).sum())
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    w = 12.0 * s / (m**2 * (n**3 - n) - m * ties)
    chi2 = m * (n - 1) * w
    df = n - 1
    return {
        "w": w,
        "chi2": chi2,
        "df": float(df),
        "p_value": float(stats.chi2.sf(chi2, df)),
        "m": m,
        "n": n,
        "mean_spearman": (m * w - 1.0) / (m - 1.0),
    }


def agreement_table(
    matrix: pd.DataFrame,
    origins: pd.Series,
    reps: Mapping[str, np.ndarray],
    groups: Sequence[str] = ("CN", "US"),
) -> pd.DataFrame:
    """Kendall's W across models (all, then each origin group) and within each model across its
    repetitions."""
    rows = []
    members_of = {"all": matrix.index, **{g: origins.index[origins == g] for g in groups}}
    for label, members in members_of.items():
        members = [m for m in members if m in matrix.index]
        rows.append(_w_row(label, "across_models", kendall_w(matrix.loc[members].to_numpy())))
    for model, block in reps.items():
        rows.append(_w_row(model, "within_model", kendall_w(block)))
    return tidy(rows, extra=["scope", "n_raters", "n_items", "mean_spearman"])


def _w_row(model: str, scope: str, result: dict[str, float]) -> dict:
    raters = "models" if scope == "across_models" else "repetitions"
    return {
        "analysis": "ranking_agreement",
        "model": model,
        "term": "kendall_w",
        "estimate": result["w"],
        "df": result["df"],
        "statistic": result["chi2"],
        "p_value": result["p_value"],
        "method": f"Kendall's W (tie-corrected) over {raters}; chi-square test",
        "scope": scope,
        "n_raters": result["m"],
        "n_items": result["n"],
        "mean_spearman": result["mean_spearman"],
    }


# --- hierarchy -------------------------------------------------------------------------------------


def hierarchy_table(
    matrix: pd.DataFrame,
    values: Mapping[str, str],
    *,
    n_boot: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Overall mean rank of each value and dimension, with percentile bootstrap CIs over models.

    The overall score is the mean over models of each model's mean rank (every model weighs the
    same, whatever its number of valid repetitions). The bootstrap resamples models with replacement.
    """
    value_ids = list(matrix.columns)
    dims = list(dict.fromkeys(values[v] for v in value_ids))
    member = np.array([[values[v] == d for v in value_ids] for d in dims], dtype=float)
    member /= member.sum(axis=1, keepdims=True)
    x = matrix.to_numpy(dtype=float)
    dim_x = x @ member.T
    n = len(x)
    idx = rng.integers(0, n, size=(n_boot, n)) if n_boot > 0 else np.empty((0, n), dtype=int)
    rows = []
    for level, data, terms in (("dimension", dim_x, dims), ("value", x, value_ids)):
        point = data.mean(axis=0)
        boot = data[idx].mean(axis=1) if n_boot > 0 else np.full((0, len(terms)), np.nan)
        alpha = (1.0 - confidence) / 2.0
        low = np.quantile(boot, alpha, axis=0) if n_boot > 0 else np.full(len(terms), np.nan)
        high = np.quantile(boot, 1 - alpha, axis=0) if n_boot > 0 else np.full(len(terms), np.nan)
        se = boot.std(axis=0, ddof=1) if n_boot > 1 else np.full(len(terms), np.nan)
        order = stats.rankdata(point, method="min").astype(int)
        for j, term in enumerate(terms):
            rows.append(
                {
                    "analysis": "ranking_hierarchy",
                    "model": "all",
                    "term": term,
                    "estimate": point[j],
                    "std_error": se[j],
                    "conf_low": low[j],
                    "conf_high": high[j],
                    "method": f"mean of per-model mean ranks; percentile bootstrap over models (B={n_boot})",
                    "level": level,
                    "dimension": term if level == "dimension" else values[term],
                    "position": order[j],
                    "n_models": n,
                }
            )
    return tidy(rows, extra=["level", "dimension", "position", "n_models"])


# --- CN vs US --------------------------------------------------------------------------------------


def hodges_lehmann(x: np.ndarray, y: np.ndarray) -> float:
    """Median of all pairwise differences ``x_i - y_j`` (the Mann-Whitney location shift)."""
    return float(np.median(np.subtract.outer(np.asarray(x, float), np.asarray(y, float))))


def compare_origins(
    scores: pd.DataFrame,
    *,
    level: str,
    term_column: str,
    score_column: str,
    groups: Sequence[str] = ("CN", "US"),
    max_enumeration: int = _exact.MAX_ENUMERATION,
    n_draws: int = _exact.MONTE_CARLO_DRAWS,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Origin groups of models on each term: Welch t, exact permutation and exact Mann-Whitney tests
    for each pair of groups, an omnibus permutation test for more than two groups, Holm.

    Parameters
    ----------
    scores : DataFrame
        One row per model and term, with ``origin``, ``term_column`` and ``score_column``. Models
        whose origin is not one of ``groups`` are left out.
    level : str
        "dimension" or "value": names the family; Holm is applied within (level, test).
    term_column, score_column : str
        Columns holding the term (dimension or value id) and the model's score (mean rank).
    groups : sequence of str
        The origin groups in order (:func:`valuesurvey.ranking._data.origin_groups`); the pairs
        are compared first minus second, in this order.
    max_enumeration, n_draws, rng
        The permutation tests enumerate every split (arrangement) of the models into the groups when
        there are at most ``max_enumeration``, else draw ``n_draws`` random ones from ``rng``
        (:mod:`valuesurvey.ranking._exact`).

    Returns
    -------
    DataFrame
        Estimates columns, then ``level, p_holm, effect_size, effect_size_name``, with more than two
        groups ``contrast`` ("CN - US" or "omnibus"), then per group ``g`` (lower-case code)
        ``n_g``, all ``mean_g``, all ``sd_g``, then ``p_method, n_permutations, p_low, p_high``
        and, with more than two groups, ``p_asymptotic``. ``model`` is the test:
        ``welch_t`` (estimate = mean difference, t, Welch df, 95% CI), ``permutation`` (the same
        difference; its exact permutation p-value) or ``mann_whitney_u`` (estimate =
        Hodges-Lehmann shift, statistic = U of the first group's models, exact p-value with ties).
        Estimates are first minus second group (CN minus US for the paper); a negative one means
        the first group's models rank the term as more important. With more than two groups each
        term also gets ``kruskal_wallis`` (statistic = tie-corrected H, df = k - 1, p_value = its
        permutation p, p_asymptotic = the chi-square p) and ``anova_f`` (statistic = one-way F,
        df = k - 1, p_value = its permutation p, p_asymptotic = the F-distribution p), both
        permuting the group labels over the models (:func:`_exact.group_permutation_pvalues`);
        the pairwise rows permute within the pair. Holm families: each omnibus test across
        terms; each pairwise test across terms and pairs. ``p_low`` and ``p_high`` bound a Monte
        Carlo p-value (99%); for exact p-values they equal it.
    """
    groups = tuple(groups)
    if len(groups) < 2:
        raise ValueError(f"origin tests need at least two origin groups, got {list(groups)}")
    many = len(groups) > 2
    pairs = list(itertools.combinations(groups, 2))
    permutation = {"max_enumeration": max_enumeration, "n_draws": n_draws, "rng": rng}
    rows = []
    for term, group in scores.groupby(term_column, sort=False):
        by = {g: group.loc[group["origin"] == g, score_column].to_numpy(float) for g in groups}
        base = {"analysis": "ranking_origin", "term": term, "level": level, **_group_facts(by)}
        if many:
            rows += [{**base, **row} for row in _omnibus(by, **permutation)]
        for first, second in pairs:
            x, y = by[first], by[second]
            pair = {**base, "contrast": f"{first} - {second}"} if many else base
            rows.append({**pair, **_welch(x, y)})
            rows.append({**pair, **_permutation(x, y, **permutation)})
            rows.append({**pair, **_mwu(x, y, **permutation)})
    frame = tidy(rows)
    frame["p_holm"] = np.nan
    for _, index in frame.groupby("model").groups.items():
        p = frame.loc[index, "p_value"].to_numpy(float)
        ok = np.isfinite(p)
        if ok.any():
            adjusted = np.full(len(p), np.nan)
            adjusted[ok] = pg.multicomp(p[ok], method="holm")[1]
            frame.loc[index, "p_holm"] = adjusted
    extra = ["level", "p_holm", "effect_size", "effect_size_name", *(["contrast"] if many else [])]
    columns = [*group_columns(groups, ("n",)), *group_columns(groups, ("mean",))]
    columns += [*group_columns(groups, ("sd",)), *PERMUTATION_COLUMNS, *(["p_asymptotic"] if many else [])]
    return frame.reindex(columns=ESTIMATE_COLUMNS + extra + columns)


def group_columns(groups: Sequence[str], prefixes: Sequence[str]) -> list[str]:
    """``<prefix>_<group>`` for each prefix and group (lower-case codes: ``n_cn``, ``n_us``)."""
    return [f"{prefix}_{g.lower()}" for prefix in prefixes for g in groups]


def _group_facts(by: Mapping[str, np.ndarray]) -> dict[str, float]:
    facts: dict[str, float] = {}
    for g, x in by.items():
        facts[f"n_{g.lower()}"] = len(x)
        facts[f"mean_{g.lower()}"] = x.mean() if len(x) else np.nan
        facts[f"sd_{g.lower()}"] = x.std(ddof=1) if len(x) > 1 else np.nan
    return facts


def _omnibus(by: Mapping[str, np.ndarray], **options) -> list[dict]:
    """The Kruskal-Wallis and one-way ANOVA rows of one term, with permutation p-values."""
    present = [x for x in by.values() if len(x)]
    rows = [
        {
            "model": "kruskal_wallis",
            "contrast": "omnibus",
            "method": "Kruskal-Wallis H (tie-corrected), permutation test over the models' origins",
        },
        {
            "model": "anova_f",
            "contrast": "omnibus",
            "method": "one-way ANOVA F, permutation test over the models' origins",
        },
    ]
    scores = np.concatenate(present) if present else np.empty(0)
    if len(present) < 2 or np.ptp(scores) == 0 or len(scores) <= len(present):
        return rows
    labels = np.repeat(np.arange(len(present)), [len(x) for x in present])
    df = float(len(present) - 1)
    kw = stats.kruskal(*present)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a constant group: F is still defined
        f = stats.f_oneway(*present)
    tests = ((rows[0], kw, "kruskal"), (rows[1], f, "anova"))
    for row, test, statistic in tests:
        result = _exact.group_permutation_pvalues(scores, labels, statistic=statistic, **options)
        row |= {"statistic": float(test.statistic), "df": df, "p_asymptotic": float(test.pvalue)}
        row |= _permutation_facts(result)
    return rows


PERMUTATION_COLUMNS = ["p_method", "n_permutations", "p_low", "p_high"]


def origin_pvalues(
    scores: np.ndarray, is_cn: np.ndarray, *, rng: np.random.Generator | None = None
) -> dict[str, np.ndarray]:
    """Vectorised p-values of the Welch, exact permutation and exact Mann-Whitney tests (CN vs US).

    The same tests as :func:`compare_origins` (one term at a time) computed over all columns at
    once; for simulation studies of the error rate.

    Parameters
    ----------
    scores : ndarray, shape (models, terms)
    is_cn : bool ndarray, shape (models,)
    rng : numpy Generator, optional
        For Monte Carlo permutation tests (more splits than :data:`_exact.MAX_ENUMERATION`).

    Returns
    -------
    dict
        ``{"welch_t": p-values, "permutation": p-values, "mann_whitney_u": p-values}``.
    """
    x, y = scores[is_cn], scores[~is_cn]
    with _constant_groups_allowed(x, y):
        welch = stats.ttest_ind(x, y, equal_var=False, axis=0).pvalue
    return {
        "welch_t": welch,
        "permutation": _exact.permutation_pvalues(scores, is_cn, statistic="mean", rng=rng).p_value,
        "mann_whitney_u": _exact.permutation_pvalues(scores, is_cn, statistic="rank", rng=rng).p_value,
    }


def _degenerate(x: np.ndarray, y: np.ndarray) -> bool:
    return len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0)


@contextmanager
def _constant_groups_allowed(x: np.ndarray, y: np.ndarray) -> Iterator[None]:
    """Welch's test is exact when one group has no variance (its df are then the other group's
    n - 1), but scipy flags any exactly constant sample as "precision loss … nearly identical".
    Silence that one warning when a group is exactly constant along axis 0, and only then."""
    with warnings.catch_warnings():
        if any(group.size and (np.ptp(group, axis=0) == 0).any() for group in (x, y)):
            warnings.filterwarnings("ignore", "Precision loss occurred in moment calculation", RuntimeWarning)
        yield


def _welch(x: np.ndarray, y: np.ndarray) -> dict:
    row = {"model": "welch_t", "method": "Welch two-sample t test (pingouin.ttest, correction=True)"}
    row |= {"effect_size_name": "hedges_g", "p_method": "t distribution (Welch df)"}
    if _degenerate(x, y):
        return {**row, "estimate": np.nan, "effect_size": np.nan}
    with _constant_groups_allowed(x, y):
        res = pg.ttest(x, y, paired=False, correction=True).iloc[0]
    diff = x.mean() - y.mean()
    p = res["p_val"] if "p_val" in res else res["p-val"]
    return {
        **row,
        "estimate": diff,
        "std_error": diff / res["T"] if res["T"] != 0 else np.nan,
        "df": res["dof"],
        "statistic": res["T"],
        "p_value": p,
        "conf_low": res["CI95"][0] if "CI95" in res else res["CI95%"][0],
        "conf_high": res["CI95"][1] if "CI95" in res else res["CI95%"][1],
        "effect_size": pg.compute_effsize(x, y, paired=False, eftype="hedges"),
    }


def _permutation_facts(result: _exact.PermutationResult) -> dict:
    return {
        "p_value": float(result.p_value[0]),
        "p_method": result.method,
        "n_permutations": result.n_permutations,
        "p_low": float(result.p_low[0]),
        "p_high": float(result.p_high[0]),
    }


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x, y]), np.r_[np.ones(len(x), bool), np.zeros(len(y), bool)]


def _permutation(x: np.ndarray, y: np.ndarray, **options) -> dict:
    row = {
        "model": "permutation",
        "method": "permutation test of the difference in means, two-sided (ties exact)",
        "effect_size_name": "hedges_g",
    }
    if _degenerate(x, y):
        return {**row, "estimate": np.nan, "effect_size": np.nan}
    diff = float(x.mean() - y.mean())
    result = _exact.permutation_pvalues(*_split(x, y), statistic="mean", **options)
    return {
        **row,
        "estimate": diff,
        "statistic": diff,
        "effect_size": pg.compute_effsize(x, y, paired=False, eftype="hedges"),
        **_permutation_facts(result),
    }


def _mwu(x: np.ndarray, y: np.ndarray, **options) -> dict:
    row = {
        "model": "mann_whitney_u",
        "method": "Mann-Whitney U (Wilcoxon rank-sum), two-sided, exact permutation p with ties",
        "effect_size_name": "rank_biserial",
    }
    if _degenerate(x, y):
        return {**row, "estimate": np.nan, "effect_size": np.nan}
    scores, is_cn = _split(x, y)
    ranks = _exact.midranks(scores)
    u = float(ranks[is_cn].sum() - len(x) * (len(x) + 1) / 2)
    result = _exact.permutation_pvalues(scores, is_cn, statistic="rank", **options)
    return {
        **row,
        "estimate": hodges_lehmann(x, y),
        "statistic": u,
        "effect_size": 2.0 * u / (len(x) * len(y)) - 1.0,
        **_permutation_facts(result),
    }


# --- top and bottom --------------------------------------------------------------------------------


def top_bottom(
    means: pd.DataFrame, values: Mapping[str, str], k: int = 5, groups: Sequence[str] = ("CN", "US")
) -> pd.DataFrame:
    """Top-k and bottom-k values for all models and per origin group (mean of per-model mean ranks).

    Returns
    -------
    DataFrame
        ``group, list, position, value, dimension, mean_rank`` (group "all", then each origin group).
    """
    rows = []
    for group, subset in [("all", means), *[(o, means[means["origin"] == o]) for o in groups]]:
        if subset.empty:
            continue
        overall = subset.groupby("value")["mean_rank"].mean().sort_values(kind="mergesort")
        for name, chosen in (("top", overall.iloc[:k]), ("bottom", overall.iloc[::-1].iloc[:k])):
            for position, (value, rank) in enumerate(chosen.items(), start=1):
                rows.append(
                    {
                        "group": group,
                        "list": name,
                        "position": position,
                        "value": value,
                        "dimension": values[value],
                        "mean_rank": rank,
                    }
                )
    return pd.DataFrame(rows, columns=["group", "list", "position", "value", "dimension", "mean_rank"])


def overlap_table(
    lists: pd.DataFrame,
    means: pd.DataFrame,
    n_values: int,
    k: int = 5,
    groups: Sequence[str] = ("CN", "US"),
) -> pd.DataFrame:
    """Jaccard overlap of the top-k and bottom-k lists and the hierarchy correlation of each pair of
    origin groups (CN and US for the paper).

    The p-value of an overlap is the hypergeometric probability of sharing at least as many values
    when each origin picks k of the n values at random. ``model`` names the pair ("CN vs US");
    ``<a>_only`` and ``<b>_only`` (``cn_only``, ``us_only``) list the values only one of the pair
    has (one column per group, empty for the groups not in the pair).
    """
    rows = []
    by_origin = means.groupby(["origin", "value"])["mean_rank"].mean().unstack("origin")
    for a, b in itertools.combinations(groups, 2):
        pair = f"{a} vs {b}"
        for name in ("top", "bottom"):
            first = set(lists.loc[(lists["group"] == a) & (lists["list"] == name), "value"])
            second = set(lists.loc[(lists["group"] == b) & (lists["list"] == name), "value"])
            if not first or not second:
                continue
            shared = first & second
            rows.append(
                {
                    "analysis": "ranking_overlap",
                    "model": pair,
                    "term": f"{name}{k}_jaccard",
                    "estimate": len(shared) / len(first | second),
                    "statistic": len(shared),
                    "p_value": float(stats.hypergeom.sf(len(shared) - 1, n_values, k, k)),
                    "method": f"Jaccard index of the {name}-{k} lists; hypergeometric P(shared >= observed)",
                    "shared": ";".join(sorted(shared)),
                    f"{a.lower()}_only": ";".join(sorted(first - second)),
                    f"{b.lower()}_only": ";".join(sorted(second - first)),
                }
            )
        if {a, b} <= set(by_origin.columns):
            rho, p = stats.spearmanr(by_origin[a], by_origin[b])
            rows.append(
                {
                    "analysis": "ranking_overlap",
                    "model": pair,
                    "term": "hierarchy_spearman",
                    "estimate": rho,
                    "df": float(len(by_origin) - 2),
                    "p_value": p,
                    "method": f"Spearman correlation of {a} and {b} mean ranks over values",
                }
            )
    return tidy(rows, extra=["shared", *[f"{g.lower()}_only" for g in groups]])
