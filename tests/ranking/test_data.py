"""Validation of rankings: invalid, tied, missing and duplicated values are excluded and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuesurvey.errors import DataError
from valuesurvey.ranking import validate_rankings
from valuesurvey.simulation.rankings import simulate_rankings


@pytest.fixture
def small(values):
    return simulate_rankings(values=values, n_cn=2, n_us=2, n_clusters=2, repetitions=3, seed=5)


def _attempt(frame: pd.DataFrame, model: str, rep: int) -> pd.Index:
    return frame.index[(frame["model"] == model) & (frame["rep"] == rep)]


def test_clean_data_keeps_every_ranking(small, values):
    valid = validate_rankings(small.data, values)
    assert len(valid.long) == 4 * 3 * 25
    assert valid.exclusions.empty
    assert (valid.counts["valid"] == 3).all()
    assert (valid.counts[["invalid_attempts", "malformed_attempts"]] == 0).all().all()


@pytest.mark.parametrize(
    "damage",
    ["tie", "missing_value", "duplicated_value", "unknown_value", "nan_rank", "rank_out_of_range"],
)
def test_malformed_ranking_is_excluded_and_counted(small, values, damage):
    data = small.data.copy()
    rows = _attempt(data, "sim-cn-01", 2)
    if damage == "tie":
        data.loc[rows[1], "rank"] = data.loc[rows[0], "rank"]
    elif damage == "missing_value":
        data = data.drop(index=rows[0])
    elif damage == "duplicated_value":
        data.loc[rows[1], "value"] = data.loc[rows[0], "value"]
    elif damage == "unknown_value":
        data.loc[rows[0], "value"] = "obedience"
    elif damage == "nan_rank":
        data.loc[rows[0], "rank"] = np.nan
    else:
        data.loc[rows[0], "rank"] = 26.0
    valid = validate_rankings(data, values)
    counts = valid.counts.set_index("model").loc["sim-cn-01"]
    assert counts["malformed_attempts"] == 1
    assert counts["valid"] == 2
    assert counts["requests_without_valid"] == 1
    kept = valid.long[valid.long["model"] == "sim-cn-01"]
    assert sorted(kept["rep"].unique()) == [1, 3]
    # Every kept ranking is still a permutation.
    assert (kept.groupby("rep")["rank"].apply(lambda r: sorted(r) == list(range(1, 26)))).all()


def test_retried_request_uses_the_valid_attempt(values):
    sim = simulate_rankings(
        values=values, n_cn=2, n_us=2, n_clusters=2, repetitions=20, invalid_rate=0.4, seed=2
    )
    valid = validate_rankings(sim.data, values)
    retried = sim.data.groupby(["model", "rep"])["attempt"].max()
    assert (retried > 1).any()
    ok_attempts = sim.data[sim.data["status"] == "ok"].groupby(["model", "rep"])["attempt"].first()
    used = valid.long.merge(
        sim.data[sim.data["status"] == "ok"], on=["model", "language", "rep", "value", "rank"], how="left"
    )
    assert len(used) == len(valid.long)
    counts = valid.counts.set_index("model")
    invalid = (
        sim.data[sim.data["status"] == "invalid"]
        .groupby("model")[["rep", "attempt"]]
        .apply(lambda g: len(g.drop_duplicates()))
    )
    assert counts["invalid_attempts"].to_dict() == invalid.reindex(counts.index, fill_value=0).to_dict()
    assert (counts["valid"] == ok_attempts.groupby("model").size().reindex(counts.index)).all()


def test_model_with_no_valid_ranking_is_excluded(values):
    sim = simulate_rankings(
        values=values, n_cn=3, n_us=2, n_clusters=2, repetitions=4, zero_valid_models=1, seed=3
    )
    valid = validate_rankings(sim.data, values)
    assert valid.exclusions["model"].tolist() == ["sim-us-02"]
    assert "no valid ranking" in valid.exclusions["reason"].iloc[0]
    assert "sim-us-02" not in set(valid.long["model"])
    row = valid.counts.set_index("model").loc["sim-us-02"]
    assert row["valid"] == 0 and row["invalid_attempts"] == 4 * 4  # 4 reps x (1 + 3 retries)


def test_refusal_and_error_rows_are_counted(small, values):
    data = small.data.copy()
    data.loc[_attempt(data, "sim-us-01", 1), ["status", "rank"]] = ["refusal", np.nan]
    data.loc[_attempt(data, "sim-us-01", 2), ["status", "rank"]] = ["error", np.nan]
    counts = validate_rankings(data, values).counts.set_index("model").loc["sim-us-01"]
    assert (counts["refusal_attempts"], counts["error_attempts"], counts["valid"]) == (1, 1, 1)


def test_missing_column_names_the_file(small, values):
    with pytest.raises(DataError, match=r"rankings.parquet: missing column\(s\) \['rank'\]"):
        validate_rankings(small.data.drop(columns="rank"), values, source="rankings.parquet")


def test_unknown_origin_names_the_column(small, values):
    data = small.data.assign(origin="EU")
    with pytest.raises(DataError, match="column 'origin'"):
        validate_rankings(data, values)
