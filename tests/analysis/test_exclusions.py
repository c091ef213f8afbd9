"""The one exclusion rule (whole vectors), its counts per analysis, the human-data flow, survey weights."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from lmer_agreement import assert_fits_agree
from typer.testing import CliRunner

from valuesurvey import _io
from valuesurvey.cli import app

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]


def test_zero_variance_vectors_exclude_whole_models_and_people(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("wvs7",), n_people=10, n_models=3)
    ratings = pd.read_parquet(study.paths.llm_ratings)
    flat = (ratings["model"] == "sim-cn-01") & (ratings["language"] == "zh") & (ratings["persona"] == "none")
    ratings.loc[flat, "rating"] = 5.0  # this condition cannot be z-scored: used by RQ1/RQ3, not RQ2
    _io.write_parquet(study.paths.llm_ratings, ratings)
    humans = pd.read_parquet(study.paths.humans("wvs7"))
    straight = humans["participant"] == humans["participant"].iloc[0]
    humans.loc[straight, "rating"] = 3.0  # a straight-liner: in no analysis, counted once
    _io.write_parquet(study.paths.humans("wvs7"), humans)

    result = CliRunner().invoke(app, ["analyze", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(study.paths.similarity_dir / "exclusions_summary.csv").set_index("analysis")
    assert (
        summary.loc["rq1", "models_excluded"] == "sim-cn-01"
        and summary.loc["rq3", "models_excluded"] == "sim-cn-01"
    )
    assert pd.isna(summary.loc["rq2", "models_excluded"])
    assert summary["n_models_elicited"].tolist() == [6, 6, 6]
    assert summary["n_models"].tolist() == [5, 6, 5]
    # people counted as people, not as people x removal levels (the 104-for-5 bug)
    assert summary["n_people_zero_variance"].tolist() == [1, 1, 1]
    assert summary["n_people"].tolist() == [19, 19, 19]
    exclusions = pd.read_csv(study.paths.similarity_dir / "exclusions.csv")
    llm = exclusions[exclusions["kind"] == "llm"]
    assert set(llm["reason"]) == {"zero_variance"} and set(llm["analysis"]) == {"rq1", "rq3"}
    assert set(llm.loc[llm["analysis"] == "rq1", "removed"]) == {"none"}
    people = exclusions[exclusions["kind"] == "person"]
    assert people["participant"].nunique() == 1 and set(people["reason"]) == {"zero_variance"}

    # both nationalities see the same models: no LLM is in RQ1 for one nationality only
    rows = pd.read_csv(study.paths.similarity_dir / "wvs7_rq.csv")
    rq1 = rows[rows["in_rq1"] == 1]
    assert rq1.groupby("nationality")["model"].nunique().tolist() == [5, 5]
    assert rq1["cosine"].notna().all()

    flow = pd.read_csv(study.paths.similarity_dir / "humans_flow.csv").set_index("nationality")
    assert flow["n_loaded"].tolist() == [10, 10] and flow["n_complete"].tolist() == [10, 10]
    assert flow["n_zscorable"].sum() == 19
    info = pd.read_csv(study.paths.estimates("fit_info"))
    for analysis in ("rq1", "rq2", "rq3"):
        lmer = info[(info["analysis"] == f"{analysis}_wvs7") & (info["model"] == "lmer")]
        assert (lmer["n_participant"] == flow[f"n_analysed_{analysis}"].sum()).all()


def _wvs_csv(path: Path, per_country: int, seed: int = 3) -> Path:
    from valuesurvey.humans.synthetic import wvs7_synthetic_frame

    frame = wvs7_synthetic_frame()
    kept = frame.groupby("B_COUNTRY_ALPHA", group_keys=False).apply(
        lambda g: g.sample(per_country, random_state=seed)
    )
    kept.to_csv(path, index=False)
    return path


def _with_humans(study_yaml: Path, spec: dict) -> None:
    data = yaml.safe_load(study_yaml.read_text())
    data["humans"] = {"wvs7": spec}
    study_yaml.write_text(yaml.safe_dump(data))


def test_survey_weights_reach_means_lm_and_two_stage(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("wvs7",), n_people=5, n_models=3)
    _with_humans(
        study.paths.study_yaml,
        {"path": _wvs_csv(tmp_path / "wvs.csv", 25).name, "weights": "W_WEIGHT", "synthetic": True},
    )
    result = CliRunner().invoke(app, ["analyze", str(tmp_path)])
    assert result.exit_code == 0, result.output
    info = pd.read_csv(study.paths.estimates("fit_info"))
    weighted = info.groupby("model")["weighted"].first()
    assert weighted["lm_weighted"] and weighted["two_stage"] and not weighted["lm"] and not weighted["lmer"]
    means = pd.read_csv(study.paths.similarity_dir / "wvs7_human_means.csv")
    assert means["weighted"].all() and (means["weighted_mean"] - means["mean"]).abs().max() > 1e-3
    humans = pd.read_parquet(study.paths.humans("wvs7"))
    q = humans[(humans["item"] == "Q177") & (humans["nationality"] == "CN")].dropna()
    row = means[(means["item"] == "Q177") & (means["nationality"] == "CN")].iloc[0]
    assert row["weighted_mean"] == pytest.approx(np.average(q["rating"], weights=q["weight"]))
    tidy = pd.read_csv(study.paths.estimates("rq1_wvs7"))
    assert set(tidy["model"]) == {"lm", "lm_weighted", "lmer", "two_stage"}
    settings = pd.read_csv(study.paths.similarity_dir / "rq_settings.csv")
    assert settings["weighted"].tolist() == [1, 1, 1]
    subprocess.run(
        ["Rscript", str(REPO / "R" / "run_models.R"), str(tmp_path), str(tmp_path / "r_estimates")],
        check=True,
        capture_output=True,
    )
    for name in ("rq1_wvs7", "rq3_wvs7"):
        assert_fits_agree(
            pd.read_csv(study.paths.estimates(name)),
            pd.read_csv(tmp_path / "r_estimates" / f"{name}.csv"),
            name=name,
        )


def test_a_weight_column_the_file_lacks_fails_with_the_field(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("wvs7",), n_people=3, n_models=2)
    _with_humans(
        study.paths.study_yaml,
        {"path": _wvs_csv(tmp_path / "wvs.csv", 5).name, "weights": "S018", "synthetic": True},
    )
    result = CliRunner().invoke(app, ["analyze", str(tmp_path)])
    assert result.exit_code == 1
    assert "field humans.wvs7.weights: 'S018' is not the weight column" in result.output
    assert "valid choices: none, W_WEIGHT" in result.output
    assert not study.paths.estimates_dir.exists()


def test_bad_random_effects_in_study_yaml_fail_with_the_field(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("wvs7",), n_people=3, n_models=2)
    data = yaml.safe_load(study.paths.study_yaml.read_text())
    for choice, expected in (
        (
            {"rq1": "maximum"},
            "field analysis.random_effects: Value error, rq1: 'maximum' is not a choice: use maximal, intercepts",
        ),
        ({"rq9": "maximal"}, "unknown analysis 'rq9'; random_effects keys are rq1, rq2, rq3"),
        (
            {"rq2": "(1 + age | model)"},
            "rq2: term (1 + age | model) uses 'age', which is not in the rq2 data",
        ),
    ):
        data["analysis"] = {"random_effects": choice}
        study.paths.study_yaml.write_text(yaml.safe_dump(data))
        result = CliRunner().invoke(app, ["analyze", str(tmp_path)])
        assert result.exit_code == 1
        assert expected in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


def test_rezscore_switch_changes_only_the_removal_levels(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("mfq2",), n_people=6, n_models=2)
    analyze_study = __import__("valuesurvey.analysis", fromlist=["analyze_study"]).analyze_study
    analyze_study(study)
    default = pd.read_parquet(study.paths.similarity("mfq2"))
    data = yaml.safe_load(study.paths.study_yaml.read_text())
    data["analysis"] = {"rezscore_after_removal": False, "fits": ["lm"]}
    study.paths.study_yaml.write_text(yaml.safe_dump(data))
    from valuesurvey.study import load_study

    analyze_study(load_study(study.paths.study_yaml))
    switched = pd.read_parquet(study.paths.similarity("mfq2"))
    none = default["removed"] == "none"
    np.testing.assert_allclose(default.loc[none, "cosine"], switched.loc[none, "cosine"], atol=1e-12)
    assert (default.loc[~none, "cosine"] - switched.loc[~none, "cosine"]).abs().max() > 1e-3
    summary = pd.read_csv(study.paths.similarity_dir / "exclusions_summary.csv")
    assert not summary["rezscore_after_removal"].any()
