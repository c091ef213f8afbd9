"""From ``rankings.parquet`` to valid rankings, counts, exclusions and per-model mean ranks.

What counts as a valid ranking
------------------------------
One request is a (model, language, rep); the engine may ask it several times (``attempt``). An attempt
is valid when every one of its rows has ``status == "ok"`` and a finite ``rank``, it names each value of
the instrument exactly once (no missing, duplicated or unknown values) and its ranks are exactly
1..n (no ties). The parser already enforces this; the analysis checks again, because a broken row would
otherwise shift every mean rank silently. Invalid attempts are excluded and counted by reason. A request
uses its last valid attempt. A model keeps whatever valid repetitions it has (their number is reported);
a model with no valid ranking at all is excluded and listed in ``ranking_exclusions.csv``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from valuesurvey.design import COMPANY, NONE, StudyDesign, default_design, origin_value
from valuesurvey.errors import DataError

REQUIRED_COLUMNS = ("model", "origin", "value", "rank", "status")
REQUEST_KEYS = ["model", "language", "rep"]
ATTEMPT_KEYS = [*REQUEST_KEYS, "attempt"]


@dataclass(frozen=True)
class ValidRankings:
    """Valid rankings and the bookkeeping of what was dropped.

    Attributes
    ----------
    long : DataFrame
        One row per model, language, rep, value of a valid ranking: ``model, origin, company,
        language, rep, value, dimension, rank``.
    counts : DataFrame
        Per model and language: ``requests, attempts, valid, invalid_attempts, refusal_attempts,
        error_attempts, malformed_attempts, requests_without_valid, copies_listing_order`` (valid
        rankings identical to the order the prompt listed the values in; kept, but a sign of copying).
    exclusions : DataFrame
        ``model, origin, company, reason`` for models with no valid ranking.
    models : DataFrame
        ``model, origin, company`` of every model in the input (kept or excluded).
    """

    long: pd.DataFrame
    counts: pd.DataFrame
    exclusions: pd.DataFrame
    models: pd.DataFrame


def _normalise(frame: pd.DataFrame, source: object) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}", path=source)
    data = frame.copy()
    for column, default in (("company", ""), ("language", "en"), ("rep", 1), ("attempt", 1)):
        if column not in data.columns:
            data[column] = default
    data["company"] = data["company"].fillna("").astype(str)
    data["model"] = data["model"].astype(str)
    data["origin"] = data["origin"].astype(str)
    data["rank"] = pd.to_numeric(data["rank"], errors="coerce")
    bad_origin = sorted(o for o in set(data["origin"]) if not _is_origin(o))
    if bad_origin:
        raise DataError(
            f"origin must be a country (alpha-2, e.g. CN), none or company:<name>, found {bad_origin}",
            path=source,
            column="origin",
        )
    return data


def _is_origin(value: str) -> bool:
    try:
        return origin_value(value) == value and value != COMPANY
    except ValueError:
        return False


def origin_groups(origins: Iterable[str], design: StudyDesign | None = None) -> tuple[str, ...]:
    """The origin groups of the group tests: the country origins among ``origins``, in the design's
    level order (the study's countries in order, other countries alphabetically, the reference
    last). Models of origin ``none`` or ``company:<name>`` belong to no group: they are reported
    (mean ranks, hierarchy, clusters) but left out of every origin comparison.

    Examples
    --------
    >>> origin_groups(["US", "CN", "none", "company:Mistral AI"])
    ('CN', 'US')
    >>> origin_groups(["US", "FR", "CN"])
    ('CN', 'FR', 'US')
    """
    levels = (design or default_design()).origin_levels(set(origins))
    return tuple(o for o in levels if o != NONE and not o.startswith(f"{COMPANY}:"))


def _attempt_reasons(data: pd.DataFrame, values: Mapping[str, str]) -> pd.Series:
    """Per attempt: "ok" or why it is invalid ("error", "refusal", "invalid" from its status, or
    "malformed": missing, duplicated or unknown values, or ranks that are not exactly 1..n)."""
    n_values = len(values)
    status = data["status"].astype(str)
    rank = data["rank"].to_numpy(dtype=float)
    flags = pd.DataFrame(
        {
            **{key: data[key] for key in ATTEMPT_KEYS},
            "value": data["value"],
            "rank": data["rank"],
            "error": status == "error",
            "refusal": status == "refusal",
            "not_ok": status != "ok",
            "known": data["value"].isin(list(values)),
            "rank_ok": np.isfinite(rank) & (rank == np.round(rank)) & (rank >= 1) & (rank <= n_values),
        }
    )
    per = flags.groupby(ATTEMPT_KEYS, sort=True).agg(
        error=("error", "any"),
        refusal=("refusal", "any"),
        not_ok=("not_ok", "any"),
        known=("known", "all"),
        rank_ok=("rank_ok", "all"),
        rows=("value", "size"),
        n_values=("value", "nunique"),
        n_ranks=("rank", "nunique"),
    )
    complete = (
        per["known"]
        & per["rank_ok"]
        & (per["rows"] == n_values)
        & (per["n_values"] == n_values)
        & (per["n_ranks"] == n_values)
    )
    reason = np.select(
        [per["error"], per["refusal"], per["not_ok"], ~complete],
        ["error", "refusal", "invalid", "malformed"],
        default="ok",
    )
    return pd.Series(reason, index=per.index)


def validate_rankings(
    frame: pd.DataFrame, values: Mapping[str, str], *, source: object = "rankings"
) -> ValidRankings:
    """Keep valid rankings (last valid attempt per request), count the rest, list excluded models.

    Parameters
    ----------
    frame : DataFrame
        A ``rankings.parquet`` table.
    values : mapping
        Value id to dimension (the instrument's 25 values).
    source : object
        Named in error messages (the file path).

    Returns
    -------
    ValidRankings
    """
    data = _normalise(frame, source)
    models = data.groupby("model", sort=True)[["origin", "company"]].first().reset_index()
    reasons = _attempt_reasons(data, values).rename("reason").reset_index()
    valid_attempts = reasons[reasons["reason"] == "ok"].groupby(REQUEST_KEYS)["attempt"].max().reset_index()
    long = data.merge(valid_attempts, on=ATTEMPT_KEYS, how="inner")
    long = long.assign(dimension=long["value"].map(values))
    long = long[["model", "origin", "company", "language", "rep", "value", "dimension", "rank"]]
    long = long.sort_values(["model", "language", "rep", "value"]).reset_index(drop=True)
    counts = _counts(reasons, valid_attempts, models)
    counts["copies_listing_order"] = _copies(data, valid_attempts, counts)
    kept = set(long["model"])
    exclusions = models[~models["model"].isin(kept)].assign(reason="no valid ranking in any repetition")
    return ValidRankings(
        long=long,
        counts=counts,
        exclusions=exclusions.reset_index(drop=True),
        models=models,
    )


def _copies(data: pd.DataFrame, valid_attempts: pd.DataFrame, counts: pd.DataFrame) -> pd.Series:
    """Per row of ``counts``: valid rankings flagged ``copies_listing_order`` (0 without the column)."""
    if "copies_listing_order" not in data.columns:
        return pd.Series(0, index=counts.index, dtype="int64")
    flagged = data.merge(valid_attempts, on=ATTEMPT_KEYS, how="inner")
    flagged = flagged[flagged["copies_listing_order"].fillna(False).astype(bool)]
    per = flagged.drop_duplicates(ATTEMPT_KEYS).groupby(["model", "language"]).size()
    keys = pd.MultiIndex.from_frame(counts[["model", "language"]])
    return pd.Series(per.reindex(keys, fill_value=0).to_numpy(), index=counts.index, dtype="int64")


def _counts(reasons: pd.DataFrame, valid_attempts: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "language"]
    by_reason = pd.crosstab([reasons["model"], reasons["language"]], reasons["reason"])
    by_reason = by_reason.reindex(columns=["invalid", "refusal", "error", "malformed"], fill_value=0)
    by_reason.columns = [f"{name}_attempts" for name in by_reason.columns]
    counts = pd.DataFrame(
        {
            "requests": reasons.groupby(keys)["rep"].nunique(),
            "attempts": reasons.groupby(keys).size(),
        }
    ).join(by_reason)
    counts = counts.join(valid_attempts.groupby(keys).size().rename("valid")).fillna({"valid": 0})
    counts = counts.astype(int)
    counts["requests_without_valid"] = counts["requests"] - counts["valid"]
    counts = counts.reset_index().merge(models, on="model", how="left")
    order = [
        "model",
        "origin",
        "company",
        "language",
        "requests",
        "attempts",
        "valid",
        "invalid_attempts",
        "refusal_attempts",
        "error_attempts",
        "malformed_attempts",
        "requests_without_valid",
    ]
    return counts[order]


def mean_ranks(valid: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per model (and ``by`` columns) and value: ``mean_rank, sd_rank, n_reps``.

    Parameters
    ----------
    valid : DataFrame
        ``ValidRankings.long``.
    by : tuple of str
        Extra grouping columns, e.g. ``("language",)``.

    Returns
    -------
    DataFrame
        ``model, origin, company, *by, value, dimension, mean_rank, sd_rank, n_reps``.
    """
    keys = ["model", "origin", "company", *by, "value", "dimension"]
    grouped = valid.groupby(keys, sort=True)["rank"]
    out = grouped.agg(mean_rank="mean", sd_rank="std", n_reps="size").reset_index()
    out["n_reps"] = out["n_reps"].astype(int)
    return out


def rank_matrix(means: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    """Models (rows) by values (columns, in instrument order) of mean ranks."""
    return means.pivot(index="model", columns="value", values="mean_rank").reindex(columns=values)


def dimension_scores(means: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Dimension score per model: the mean of its values' mean ranks (1 = most important).

    Returns
    -------
    DataFrame
        ``model, origin, company, *by, dimension, score, n_reps``.
    """
    keys = ["model", "origin", "company", *by, "dimension"]
    out = means.groupby(keys, sort=True).agg(score=("mean_rank", "mean"), n_reps=("n_reps", "min"))
    return out.reset_index()


def rep_rank_arrays(valid: pd.DataFrame, values: list[str]) -> dict[str, np.ndarray]:
    """Per model, an array (repetitions x values) of its valid rankings (all languages)."""
    wide = valid.pivot_table(index=["model", "language", "rep"], columns="value", values="rank")
    wide = wide.reindex(columns=values)
    return {
        str(model): block.to_numpy(dtype=float) for model, block in wide.groupby(level="model", sort=True)
    }
