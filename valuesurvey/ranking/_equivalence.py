"""Equivalence (TOST) and power of the CN-vs-US comparison: what "no difference detected" can mean.

A non-significant difference is not evidence of no difference: with 11 and 9 models a two-sample
t test at alpha = 0.05 detects with 80% power only a standardised difference of d = 1.33. So each
term gets, beside its difference tests (:func:`valuesurvey.ranking._stats.compare_origins`):

- the two one-sided tests (TOST, Welch) of ``H0: |CN - US| >= margin`` against ``|CN - US| < margin``:
  equivalence within ``±margin`` is shown when both one-sided tests reject at ``alpha``, i.e. when
  the ``1 - 2 alpha`` (90%) CI lies inside ``(-margin, margin)``; Holm-adjusted across the family;
- ``equivalence_bound``: the smallest margin the data would show equivalence within (the larger
  absolute end of the 90% CI);
- the minimum detectable effect of the panel: the standardised difference ``mde_d`` that a
  two-sided two-sample t test (alpha, power 0.8) detects with these group sizes, and ``mde``, the
  same in rank positions (``mde_d`` x pooled SD); and the power of that test at ``margin``.

The margin is the study's smallest effect of interest (``analysis.ranking.equivalence_margin``, in
mean-rank positions; default 1, see docs/study-yaml.md): fixed before the data are seen, on the
scale the hierarchy is read on, so it does not move with the observed spread.

References
----------
Schuirmann DJ (1987). A comparison of the two one-sided tests procedure and the power approach for
assessing the equivalence of average bioavailability. J Pharmacokinet Biopharm 15:657-680.
Lakens D (2017). Equivalence tests: a practical primer for t tests, correlations, and meta-analyses.
Soc Psychol Personal Sci 8:355-362.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import optimize, stats

__all__ = [
    "ALPHA",
    "DEFAULT_MARGIN",
    "POWER",
    "equivalence_table",
    "minimum_detectable_d",
    "t_test_power",
    "tost_welch",
]

ALPHA = 0.05
POWER = 0.8
#: One mean-rank position (of 25): the default smallest CN-US difference of interest.
DEFAULT_MARGIN = 1.0

CONCLUSIONS = ("difference", "difference_within_margin", "equivalence", "inconclusive")


def _welch_parts(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Difference in means, Welch standard error and Welch-Satterthwaite df."""
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)) if se > 0 else np.nan
    return float(x.mean() - y.mean()), se, float(df)


def tost_welch(x: np.ndarray, y: np.ndarray, margin: float, alpha: float = ALPHA) -> dict[str, float]:
    """Two one-sided Welch t tests of equivalence of the means of ``x`` and ``y`` within ``±margin``.

    Parameters
    ----------
    x, y : ndarray
        The two groups (at least two observations each).
    margin : float
        Equivalence margin (> 0), in the units of the data.
    alpha : float
        Level of each one-sided test; the matching CI has level ``1 - 2 alpha``.

    Returns
    -------
    dict
        ``estimate`` (mean x - mean y), ``std_error``, ``df`` (Welch), ``t_lower`` (against
        ``-margin``), ``t_upper`` (against ``+margin``), ``p_lower``, ``p_upper``, ``p_value`` (the
        larger), ``conf_low``, ``conf_high`` (``1 - 2 alpha`` CI), ``equivalence_bound``.

    Examples
    --------
    >>> r = tost_welch(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5]), margin=2.0)
    >>> round(r["p_value"], 4), round(r["equivalence_bound"], 3)
    (0.07, 2.241)
    """
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("each group needs at least two observations")
    diff, se, df = _welch_parts(x, y)
    if se == 0:
        inside = abs(diff) < margin
        p = 0.0 if inside else 1.0
        return {
            "estimate": diff, "std_error": 0.0, "df": np.nan, "t_lower": np.nan, "t_upper": np.nan,
            "p_lower": p, "p_upper": p, "p_value": p, "conf_low": diff, "conf_high": diff,
            "equivalence_bound": abs(diff),
        }  # fmt: skip
    t_lower, t_upper = (diff + margin) / se, (diff - margin) / se
    p_lower, p_upper = float(stats.t.sf(t_lower, df)), float(stats.t.cdf(t_upper, df))
    half = float(stats.t.ppf(1 - alpha, df)) * se
    return {
        "estimate": diff,
        "std_error": se,
        "df": df,
        "t_lower": t_lower,
        "t_upper": t_upper,
        "p_lower": p_lower,
        "p_upper": p_upper,
        "p_value": max(p_lower, p_upper),
        "conf_low": diff - half,
        "conf_high": diff + half,
        "equivalence_bound": abs(diff) + half,
    }


def t_test_power(d: float, n1: int, n2: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided two-sample (pooled) t test at standardised difference ``d``.

    Examples
    --------
    >>> round(t_test_power(0.0, 10, 10), 3)
    0.05
    """
    df = n1 + n2 - 2
    nc = d * math.sqrt(n1 * n2 / (n1 + n2))
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def minimum_detectable_d(n1: int, n2: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest standardised difference the two-sided two-sample t test detects with ``power``.

    Examples
    --------
    >>> round(minimum_detectable_d(11, 9), 2)
    1.33
    """
    if n1 < 2 or n2 < 2:
        return float("nan")
    upper = 1.0
    while t_test_power(upper, n1, n2, alpha) < power:  # bracket the root (power rises with d)
        upper *= 2.0
    return float(optimize.brentq(lambda d: t_test_power(d, n1, n2, alpha) - power, 0.0, upper, xtol=1e-10))


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    dof = len(x) + len(y) - 2
    return float(math.sqrt(((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / dof))


def conclusion(detected: bool, equivalent: bool) -> str:
    """One of :data:`CONCLUSIONS` from the Holm-adjusted difference and equivalence decisions."""
    if detected:
        return "difference_within_margin" if equivalent else "difference"
    return "equivalence" if equivalent else "inconclusive"


def equivalence_table(
    scores: pd.DataFrame,
    *,
    level: str,
    term_column: str,
    score_column: str,
    margin: float = DEFAULT_MARGIN,
    difference_p: Mapping[str, float] | Mapping[tuple[str, str], float] | None = None,
    groups: Sequence[str] = ("CN", "US"),
    alpha: float = ALPHA,
    power: float = POWER,
) -> pd.DataFrame:
    """TOST equivalence, minimum detectable effect and conclusion per term and pair of origin groups.

    Parameters
    ----------
    scores : DataFrame
        One row per model and term, with ``origin``, ``term_column`` and ``score_column``; models
        whose origin is not one of ``groups`` are left out.
    level : str
        "dimension" or "value" (the family; Holm within it).
    margin : float
        Equivalence margin in the units of ``score_column`` (rank positions).
    difference_p : mapping, optional
        Term (with more than two groups: (term, contrast)) to the Holm-adjusted p-value of the
        difference test (the exact permutation test); decides ``detected``.
    groups : sequence of str
        The origin groups in order; every pair is compared, first minus second (CN - US). With more
        than two groups Holm runs across terms and pairs, and a ``contrast`` column follows ``level``.
    alpha, power : float
        Level of the tests and the power of the minimum detectable effect.

    Returns
    -------
    DataFrame
        Estimates columns (``model`` = "tost_welch", estimate = CN - US, conf_low/high = the
        ``1 - 2 alpha`` CI, statistic = the less significant one-sided t, p_value = TOST p), then
        ``level, p_holm, margin, equivalent, equivalence_bound, difference_p_holm, detected,
        conclusion, n_<group>`` (``n_cn, n_us``; with more than two groups the pair's two, the
        others empty), ``sd_pooled, mde_d, mde, power_at_margin``.
    """
    from valuesurvey.ranking._stats import tidy

    rows = []
    level_ci = round(100 * (1 - 2 * alpha))
    groups = tuple(groups)
    many = len(groups) > 2
    for term, group, first, second in (
        (term, group, first, second)
        for term, group in scores.groupby(term_column, sort=False)
        for first, second in itertools.combinations(groups, 2)
    ):
        x = group.loc[group["origin"] == first, score_column].to_numpy(float)
        y = group.loc[group["origin"] == second, score_column].to_numpy(float)
        row: dict[str, object] = {
            "analysis": "ranking_equivalence",
            "model": "tost_welch",
            "term": term,
            "method": f"two one-sided Welch t tests (TOST) within ±{margin:g} rank positions; {level_ci}% CI",
            "level": level,
            "margin": margin,
            f"n_{first.lower()}": len(x),
            f"n_{second.lower()}": len(y),
        }
        if many:
            row["contrast"] = f"{first} - {second}"
        if len(x) >= 2 and len(y) >= 2:
            res = tost_welch(x, y, margin, alpha)
            sd = _pooled_sd(x, y)
            mde_d = minimum_detectable_d(len(x), len(y), alpha, power)
            row |= {
                "estimate": res["estimate"],
                "std_error": res["std_error"],
                "df": res["df"],
                "statistic": min(res["t_lower"], -res["t_upper"]),
                "p_value": res["p_value"],
                "conf_low": res["conf_low"],
                "conf_high": res["conf_high"],
                "equivalence_bound": res["equivalence_bound"],
                "sd_pooled": sd,
                "mde_d": mde_d,
                "mde": mde_d * sd,
                "power_at_margin": t_test_power(margin / sd, len(x), len(y), alpha) if sd > 0 else np.nan,
            }
        rows.append(row)
    frame = tidy(rows)
    for column in ("equivalence_bound", "sd_pooled", "mde_d", "mde", "power_at_margin"):
        if column not in frame.columns:
            frame[column] = np.nan
    p = frame["p_value"].to_numpy(float)
    ok = np.isfinite(p)
    adjusted = np.full(len(p), np.nan)
    if ok.any():
        adjusted[ok] = pg.multicomp(p[ok], method="holm")[1]
    frame["p_holm"] = adjusted
    frame["equivalent"] = frame["p_holm"] < alpha
    diff_p = dict(difference_p or {})
    keys = zip(frame["term"], frame["contrast"], strict=True) if many else frame["term"]
    frame["difference_p_holm"] = np.array([diff_p.get(key, np.nan) for key in keys], dtype=float)
    frame["detected"] = frame["difference_p_holm"] < alpha
    frame["conclusion"] = [
        conclusion(bool(d), bool(e)) if np.isfinite(p_) else "not_tested"
        for d, e, p_ in zip(frame["detected"], frame["equivalent"], frame["p_value"], strict=True)
    ]
    extra = [
        "level", *(["contrast"] if many else []), "p_holm", "margin", "equivalent", "equivalence_bound",
        "difference_p_holm", "detected", "conclusion", *[f"n_{g.lower()}" for g in groups], "sd_pooled",
        "mde_d", "mde", "power_at_margin",
    ]  # fmt: skip
    return frame.reindex(columns=[*frame.columns[:11], *extra])
