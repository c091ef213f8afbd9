"""Response vectors: LLM means over repetitions, the exclusion rule, person vectors, z-scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from valuesurvey.similarity._kernels import ZERO_VARIANCE_TOL

__all__ = [
    "CONDITION",
    "LLM_KEYS",
    "PERSON_KEYS",
    "item_means",
    "llm_exclusions",
    "person_matrix",
    "wide",
    "zscore",
]

#: One LLM condition: a model in a language with a persona.
CONDITION: tuple[str, ...] = ("model", "origin", "language", "persona")
LLM_KEYS = CONDITION
PERSON_KEYS: tuple[str, ...] = ("participant", "nationality")

_MEANS_COLUMNS = [*CONDITION, "item", "mean_rating", "n_reps", "n_ok", "n_refusal", "n_invalid", "n_error"]


def _require(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(data.columns)}")


def item_means(ratings: pd.DataFrame, *, instrument: str | None = None) -> pd.DataFrame:
    """Mean rating of each item in each LLM condition, with the status counts behind it.

    Parameters
    ----------
    ratings : DataFrame
        ``llm_ratings.parquet``: model, origin, language, persona, rep, item, rating, status
        (and instrument). ``rating`` is NaN unless ``status == "ok"``. In logprobs mode there is
        one repetition whose rating is the expected value; its mean is that value.
    instrument : str, optional
        Keep only this instrument's rows.

    Returns
    -------
    DataFrame
        model, origin, language, persona, item, mean_rating (NaN when no repetition gave a valid
        rating), n_reps, n_ok, n_refusal, n_invalid (answers with no usable rating: statuses
        ``invalid`` and ``nonsense``), n_error.

    Examples
    --------
    >>> r = pd.DataFrame({"model": "m", "origin": "US", "language": "en", "persona": "none",
    ...     "rep": [0, 1, 0, 1], "item": ["a", "a", "b", "b"], "rating": [1.0, 3.0, np.nan, np.nan],
    ...     "status": ["ok", "ok", "refusal", "refusal"]})
    >>> item_means(r)[["item", "mean_rating", "n_ok", "n_refusal"]].to_dict("records")
    [{'item': 'a', 'mean_rating': 2.0, 'n_ok': 2, 'n_refusal': 0}, {'item': 'b', 'mean_rating': nan, 'n_ok': 0, 'n_refusal': 2}]
    """
    _require(ratings, [*CONDITION, "item", "rating", "status"], "llm ratings")
    if instrument is not None and "instrument" in ratings.columns:
        ratings = ratings[ratings["instrument"] == instrument]
    valid = ratings["rating"].where(ratings["status"] == "ok")
    frame = ratings.assign(
        _valid=valid,
        _ok=(ratings["status"] == "ok") & valid.notna(),
        _refusal=ratings["status"] == "refusal",
        _invalid=ratings["status"].isin(["invalid", "nonsense"]),
        _error=ratings["status"] == "error",
    )
    grouped = frame.groupby([*CONDITION, "item"], observed=True, sort=True)
    out = grouped.agg(
        mean_rating=("_valid", "mean"),
        n_reps=("status", "size"),
        n_ok=("_ok", "sum"),
        n_refusal=("_refusal", "sum"),
        n_invalid=("_invalid", "sum"),
        n_error=("_error", "sum"),
    ).reset_index()
    for column in ("model", "origin", "language", "persona", "item"):
        out[column] = out[column].astype(str)
    return out[_MEANS_COLUMNS]


def llm_exclusions(means: pd.DataFrame, items: Sequence[str]) -> pd.DataFrame:
    """Items without a valid mean in an LLM condition: the cause of the exclusion rule.

    A condition is incomplete when an item has no valid rating in any repetition (refused in all
    repetitions, or a mixture of refusals, invalid answers and errors), or when the item was never
    asked. Its LLM is then excluded from every analysis that uses the condition.

    Returns
    -------
    DataFrame
        model, origin, language, persona, item, reason (``refused_all_reps``,
        ``no_valid_rating`` or ``not_elicited``), n_reps, n_refusal, n_invalid, n_error.

    Examples
    --------
    >>> m = pd.DataFrame({"model": "m", "origin": "US", "language": "en", "persona": "none",
    ...     "item": ["a", "b"], "mean_rating": [2.0, np.nan], "n_reps": 2, "n_ok": [2, 0],
    ...     "n_refusal": [0, 2], "n_invalid": 0, "n_error": 0})
    >>> llm_exclusions(m, ["a", "b", "c"])[["item", "reason"]].to_dict("records")
    [{'item': 'b', 'reason': 'refused_all_reps'}, {'item': 'c', 'reason': 'not_elicited'}]
    """
    conditions = means[list(CONDITION)].drop_duplicates()
    grid = conditions.merge(pd.DataFrame({"item": list(items)}), how="cross")
    full = grid.merge(means, on=[*CONDITION, "item"], how="left")
    bad = full[full["mean_rating"].isna()].copy()
    never = bad["n_reps"].isna()
    refused = ~never & (bad["n_refusal"] == bad["n_reps"])
    bad["reason"] = np.select([never, refused], ["not_elicited", "refused_all_reps"], "no_valid_rating")
    counts = ["n_reps", "n_refusal", "n_invalid", "n_error"]
    bad[counts] = bad[counts].fillna(0).astype(int)
    return bad[[*CONDITION, "item", "reason", *counts]].reset_index(drop=True)


def wide(
    data: pd.DataFrame, *, subject: Sequence[str], items: Sequence[str], scores: str, item: str = "item"
) -> pd.DataFrame:
    """Long → wide: one row per subject, one column per item, in the order of ``items``.

    Items a subject lacks are NaN; items not in ``items`` are ignored.

    >>> d = pd.DataFrame({"p": ["x", "x", "y"], "item": ["b", "a", "a"], "r": [2.0, 1.0, 5.0]})
    >>> wide(d, subject=["p"], items=["a", "b"], scores="r").to_dict("index")
    {'x': {'a': 1.0, 'b': 2.0}, 'y': {'a': 5.0, 'b': nan}}
    """
    subject = list(subject)
    _require(data, [*subject, item, scores], "data")
    kept = data[data[item].isin(items)]
    duplicated = kept.duplicated([*subject, item])
    if duplicated.any():
        first = kept[duplicated].iloc[0]
        raise ValueError(f"subject {tuple(first[subject])} has item {first[item]!r} more than once")
    table = kept.pivot(index=subject, columns=item, values=scores)
    table = table.reindex(columns=list(items))
    table.columns.name = None
    return table


def person_matrix(humans: pd.DataFrame, items: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Complete person vectors and the people left out because a rating is missing.

    Returns
    -------
    (DataFrame, DataFrame)
        Wide ratings indexed by (participant, nationality); and the incomplete people:
        participant, nationality, n_missing.
    """
    table = wide(humans, subject=PERSON_KEYS, items=items, scores="rating")
    missing = table.isna().sum(axis=1)
    incomplete = missing[missing > 0].rename("n_missing").reset_index()
    return table[missing == 0], incomplete


def zscore(
    data: pd.DataFrame,
    *,
    subject: str | Sequence[str],
    item: str = "item",
    scores: str = "rating",
    nan_policy: Literal["raise", "propagate"] = "raise",
    ddof: int = 1,
) -> pd.DataFrame:
    """Z-score ratings within each subject (a person, or an LLM × condition), long format.

    Parameters
    ----------
    data : DataFrame
        Long data, one row per subject × item.
    subject : str or list of str
        Column(s) identifying a subject, e.g. ``"participant"`` or
        ``["model", "language", "persona"]``.
    item, scores : str
        Item and rating columns.
    nan_policy : {"raise", "propagate"}
        ``"raise"``: a missing rating is an error; ``"propagate"``: that subject's z are NaN.
    ddof : int
        Degrees of freedom of the standard deviation (1, as R's ``scale()``).

    Returns
    -------
    DataFrame
        ``data`` with ``z`` (NaN for a subject with zero variance) and ``zero_variance`` (bool).

    Examples
    --------
    >>> d = pd.DataFrame({"p": [1, 1, 1, 2, 2, 2], "item": list("abcabc"),
    ...                   "rating": [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]})
    >>> zscore(d, subject="p")[["p", "z", "zero_variance"]].values.tolist()
    [[1, -1.0, False], [1, 0.0, False], [1, 1.0, False], [2, nan, True], [2, nan, True], [2, nan, True]]
    """
    keys = [subject] if isinstance(subject, str) else list(subject)
    _require(data, [*keys, item, scores], "data")
    if nan_policy not in ("raise", "propagate"):
        raise ValueError(f"nan_policy must be 'raise' or 'propagate', got {nan_policy!r}")
    if nan_policy == "raise" and data[scores].isna().any():
        raise ValueError(f"column {scores!r} has missing ratings; use nan_policy='propagate'")
    grouped = data.groupby(keys, sort=False, observed=True)[scores]
    mean = grouped.transform("mean")
    sd = grouped.transform(lambda s: s.std(ddof=ddof, skipna=False))
    zero = (sd <= ZERO_VARIANCE_TOL).to_numpy()
    z = ((data[scores] - mean) / sd).where(~zero)
    return data.assign(z=z.to_numpy(), zero_variance=zero)
