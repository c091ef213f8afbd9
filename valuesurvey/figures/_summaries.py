"""Small, tested summaries behind the figures (and the report's numbers).

Each function takes contract-shaped tables and returns a tidy DataFrame with fixed columns.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "llm_item_means",
    "mean_ci",
    "rq1_subset",
    "zscore_within",
]

#: The paper's pairing (studies pass their own, ``study.design.pairing``).
MATCHED_LANGUAGE = {"CN": "zh", "US": "en"}


def mean_ci(values: pd.Series, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean and t-based confidence interval of the non-missing values.

    Examples
    --------
    >>> mean, low, high, n = mean_ci(pd.Series([1.0, 2.0, 3.0]))
    >>> round(mean, 3), round(low, 3), round(high, 3), n
    (2.0, -0.484, 4.484, 3)
    """
    clean = values.dropna().to_numpy(dtype=float)
    n = clean.size
    if n == 0:
        return (np.nan, np.nan, np.nan, 0)
    mean = float(clean.mean())
    if n == 1:
        return (mean, np.nan, np.nan, 1)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * clean.std(ddof=1) / np.sqrt(n))
    return (mean, mean - half, mean + half, n)


def grouped_mean_ci(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """``mean_ci`` per group: columns ``by`` + mean, conf_low, conf_high, n."""
    rows = []
    for key, group in frame.groupby(by, sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append((*key, *mean_ci(group[value])))
    return pd.DataFrame(rows, columns=[*by, "mean", "conf_low", "conf_high", "n"])


def zscore_within(frame: pd.DataFrame, by: list[str], value: str = "rating") -> pd.Series:
    """z-score ``value`` within each group; zero-variance groups become NaN (they cannot be scaled).

    Examples
    --------
    >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "rating": [1.0, 3.0, 2.0, 2.0]})
    >>> zscore_within(df, ["g"]).round(3).tolist()
    [-0.707, 0.707, nan, nan]
    """
    grouped = frame.groupby(by, observed=True)[value]
    sd = grouped.transform("std")
    z = (frame[value] - grouped.transform("mean")) / sd.where(sd > 0)
    return z


def rq1_subset(similarity: pd.DataFrame, pairing: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The RQ1 comparison: nothing removed, no persona, each person paired with LLMs in the prompt
    language the study pairs their country with (``pairing``, :attr:`StudyDesign.pairing`; default
    the paper's CN → zh, US → en).

    When the study has a single language, every person is paired with it.
    """
    subset = similarity[(similarity["removed"] == "none") & (similarity["persona"] == "none")]
    if subset["language"].nunique() > 1:
        wanted = subset["nationality"].astype(str).map(dict(pairing or MATCHED_LANGUAGE))
        subset = subset[subset["language"] == wanted]
    return subset


def llm_item_means(ratings: pd.DataFrame, instrument: str) -> pd.DataFrame:
    """Mean valid rating per model, condition and item, with its within-model-condition z-score."""
    rows = ratings[(ratings["instrument"] == instrument) & (ratings["status"] == "ok")]
    keys = ["model", "origin", "language", "persona", "item"]
    means = rows.groupby(keys, observed=True, as_index=False)["rating"].mean()
    means["z"] = zscore_within(means, ["model", "language", "persona"])
    return means
