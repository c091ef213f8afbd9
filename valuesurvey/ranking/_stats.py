"""Hierarchy, agreement, CN-vs-US tests and top/bottom overlap of value rankings.

Every function takes plain tables or arrays and returns one row per estimate, with the estimates
columns of the study directory first (``analysis, model, term, estimate, std_error, df, statistic,
p_value, conf_low, conf_high, method``) and extra columns after them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
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


def agreement_table(matrix: pd.DataFrame, origins: pd.Series, reps: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Kendall's W across models (all, CN, US) and within each model across its repetitions."""
    rows = []
    groups = {"all": matrix.index, "CN": origins.index[origins == "CN"], "US": origins.index[origins == "US"]}
    for label, members in groups.items():
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
    max_enumeration: int = _exact.MAX_ENUMERATION,
    n_draws: int = _exact.MONTE_CARLO_DRAWS,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """CN vs US models on each term: Welch t, exact permutation and exact Mann-Whitney tests, Holm.

    Parameters
    ----------
    scores : DataFrame
        One row per model and term, with ``origin`` (CN/US), ``term_column`` and ``score_column``.
    level : str
        "dimension" or "value": names the family; Holm is applied within (level, test).
    term_column, score_column : str
        Columns holding the term (dimension or value id) and the model's score (mean rank).
    max_enumeration, n_draws, rng
        The permutation tests enumerate every split of the models into CN and US when there are at
        most ``max_enumeration``, else draw ``n_draws`` random splits from ``rng``
        (:mod:`valuesurvey.ranking._exact`).

    Returns
    -------
    DataFrame
        Estimates columns, then ``level, p_holm, effect_size, effect_size_name, n_cn, n_us, mean_cn,
        mean_us, sd_cn, sd_us, p_method, n_permutations, p_low, p_high``. ``model`` is the test:
        ``welch_t`` (estimate = mean difference, t, Welch df, 95% CI), ``permutation`` (the same
        difference; its exact permutation p-value) or ``mann_whitney_u`` (estimate =
        Hodges-Lehmann shift, statistic = U of the CN models, exact p-value with ties). Estimates
        are CN minus US; a negative one means CN models rank the term as more important. ``p_low``
        and ``p_high`` bound a Monte Carlo p-value (99%); for exact p-values they equal it.
    """
    rows = []
    for term, group in scores.groupby(term_column, sort=False):
        x = group.loc[group["origin"] == "CN", score_column].to_numpy(float)
        y = group.loc[group["origin"] == "US", score_column].to_numpy(float)
        base = {
            "analysis": "ranking_origin",
            "term": term,
            "level": level,
            "n_cn": len(x),
            "n_us": len(y),
            "mean_cn": x.mean() if len(x) else np.nan,
            "mean_us": y.mean() if len(y) else np.nan,
            "sd_cn": x.std(ddof=1) if len(x) > 1 else np.nan,
            "sd_us": y.std(ddof=1) if len(y) > 1 else np.nan,
        }
        permutation = {"max_enumeration": max_enumeration, "n_draws": n_draws, "rng": rng}
        rows.append({**base, **_welch(x, y)})
        rows.append({**base, **_permutation(x, y, **permutation)})
        rows.append({**base, **_mwu(x, y, **permutation)})
    frame = tidy(rows)
    frame["p_holm"] = np.nan
    for _, index in frame.groupby("model").groups.items():
        p = frame.loc[index, "p_value"].to_numpy(float)
        ok = np.isfinite(p)
        if ok.any():
            adjusted = np.full(len(p), np.nan)
            adjusted[ok] = pg.multicomp(p[ok], method="holm")[1]
            frame.loc[index, "p_holm"] = adjusted
    extra = ["level", "p_holm", "effect_size", "effect_size_name", "n_cn", "n_us", "mean_cn", "mean_us"]
    return frame.reindex(columns=ESTIMATE_COLUMNS + extra + ["sd_cn", "sd_us", *PERMUTATION_COLUMNS])


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


def top_bottom(means: pd.DataFrame, values: Mapping[str, str], k: int = 5) -> pd.DataFrame:
    """Top-k and bottom-k values for all models and per origin (mean of per-model mean ranks).

    Returns
    -------
    DataFrame
        ``group, list, position, value, dimension, mean_rank`` (group "all", "CN", "US").
    """
    rows = []
    for group, subset in [("all", means), *[(o, means[means["origin"] == o]) for o in ("CN", "US")]]:
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


def overlap_table(lists: pd.DataFrame, means: pd.DataFrame, n_values: int, k: int = 5) -> pd.DataFrame:
    """Jaccard overlap of the CN and US top-k and bottom-k lists, and the CN-US hierarchy correlation.

    The p-value of an overlap is the hypergeometric probability of sharing at least as many values
    when each origin picks k of the n values at random.
    """
    rows = []
    for name in ("top", "bottom"):
        cn = set(lists.loc[(lists["group"] == "CN") & (lists["list"] == name), "value"])
        us = set(lists.loc[(lists["group"] == "US") & (lists["list"] == name), "value"])
        if not cn or not us:
            continue
        shared = cn & us
        rows.append(
            {
                "analysis": "ranking_overlap",
                "model": "CN vs US",
                "term": f"{name}{k}_jaccard",
                "estimate": len(shared) / len(cn | us),
                "statistic": len(shared),
                "p_value": float(stats.hypergeom.sf(len(shared) - 1, n_values, k, k)),
                "method": f"Jaccard index of the {name}-{k} lists; hypergeometric P(shared >= observed)",
                "shared": ";".join(sorted(shared)),
                "cn_only": ";".join(sorted(cn - us)),
                "us_only": ";".join(sorted(us - cn)),
            }
        )
    by_origin = means.groupby(["origin", "value"])["mean_rank"].mean().unstack("origin")
    if {"CN", "US"} <= set(by_origin.columns):
        rho, p = stats.spearmanr(by_origin["CN"], by_origin["US"])
        rows.append(
            {
                "analysis": "ranking_overlap",
                "model": "CN vs US",
                "term": "hierarchy_spearman",
                "estimate": rho,
                "df": float(len(by_origin) - 2),
                "p_value": p,
                "method": "Spearman correlation of CN and US mean ranks over values",
            }
        )
    return tidy(rows, extra=["shared", "cn_only", "us_only"])
