"""The ranking stage on a study directory: real parquet in, CSVs out, real R mixed models."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from valuesurvey._io import write_parquet
from valuesurvey.errors import DataError
from valuesurvey.ranking import RankingResults, analyze_study, load_results
from valuesurvey.ranking._stats import ESTIMATE_COLUMNS
from valuesurvey.study import load_study

TIDY = ["hierarchy", "agreement", "origin_tests", "equivalence", "overlap", "cluster_origin", "mixed"]


def _study(tmp_path, sim):
    models = [
        {"id": row.model, "provider": "simulated", "origin": row.origin, "company": row.company}
        for row in sim.models.itertuples()
    ]
    spec = {
        "name": "ranking-test",
        "instruments": ["ai_values"],
        "models": models,
        "analysis": {"bootstrap": 30, "seed": 7},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_study(tmp_path)


@pytest.fixture(scope="module")
def written(tmp_path_factory, shifted):
    root = tmp_path_factory.mktemp("study")
    study = _study(root, shifted)
    data = shifted.data.copy()
    # One model answers nothing valid; another loses a ranking to a tie.
    data.loc[data["model"] == "sim-us-09", ["status", "rank"]] = ["invalid", float("nan")]
    tie = data.index[(data["model"] == "sim-cn-01") & (data["rep"] == 1) & (data["language"] == "zh")]
    data.loc[tie[1], "rank"] = data.loc[tie[0], "rank"]
    write_parquet(study.paths.rankings, data)
    analyze_study(study)
    return study


def test_every_table_is_written_with_documented_columns(written):
    results = load_results(written)
    for name in RankingResults.table_names():
        assert written.paths.estimates(f"ranking_{name}").exists(), name
        table = getattr(results, name)
        assert table is not None and not table.empty, name
    for name in TIDY:
        assert list(getattr(results, name).columns[: len(ESTIMATE_COLUMNS)]) == ESTIMATE_COLUMNS, name
    assert set(results.mean_ranks.columns) >= {"model", "origin", "value", "dimension", "mean_rank", "n_reps"}


def test_invalid_and_excluded_models_are_reported(written):
    results = load_results(written)
    assert results.exclusions["model"].tolist() == ["sim-us-09"]
    counts = results.counts.set_index(["model", "language"])
    assert counts.loc[("sim-cn-01", "zh"), "malformed_attempts"] == 1
    assert counts.loc[("sim-cn-01", "zh"), "valid"] == 9
    n_reps = results.mean_ranks.groupby("model")["n_reps"].first()
    assert n_reps["sim-cn-01"] == 19 and n_reps["sim-cn-02"] == 20
    assert "sim-us-09" not in set(results.clusters["model"])


def test_mixed_models_from_r(written):
    mixed = load_results(written).mixed
    assert set(mixed["model"]) == {"lmer", "lmer_nested"}
    assert set(mixed["component"]) == {"fixed", "random", "anova", "contrast"}
    nested = mixed[mixed["model"] == "lmer_nested"].set_index("term")
    assert {"originCN", "originCN:dimensionEpistemic", "origin:dimension"} <= set(nested.index)
    social = nested.loc["CN - US | Social"]
    assert social["estimate"] < 0 and social["p_holm"] < 0.05
    # The model, not the 25 value rows, is the unit: Satterthwaite df well below the row count.
    assert social["df"] < 100
    issue = mixed[(mixed["model"] == "lmer") & (mixed["component"] == "anova")].set_index("term")
    assert issue.loc["origin:dimension", "num_df"] == 4
    assert mixed.loc[mixed["model"] == "lmer", "singular"].all()  # (1 | model) is zero by construction


def test_rerun_is_reproducible(written):
    before = load_results(written).hierarchy
    analyze_study(written)
    pd.testing.assert_frame_equal(before, load_results(written).hierarchy)


def test_missing_rankings_file_names_the_file(tmp_path, shifted):
    study = _study(tmp_path, shifted)
    with pytest.raises(DataError, match=r"rankings\.parquet: not found"):
        analyze_study(study)
    with pytest.raises(DataError, match=r"ranking_counts\.csv: not found"):
        load_results(study)
