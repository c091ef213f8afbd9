"""analyze_study on a simulated study directory; Rscript R/run_models.R reproduces the estimates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from lmer_agreement import assert_fits_agree

from valuesurvey.cli import app
from valuesurvey.similarity import SIMILARITY_COLUMNS

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


def test_cli_analyze_writes_study_files_and_rscript_reproduces(tmp_path: Path, study_factory) -> None:
    from typer.testing import CliRunner

    refusals = {
        "sim-us-01": frozenset({("en", "none", "Q184")}),
        "sim-cn-00": frozenset({("zh", "CN", "Q182")}),
    }
    study = study_factory(tmp_path, n_people=10, n_models=2, refusals=refusals)
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "study.yaml")])
    assert result.exit_code == 0, result.output
    sim = pd.read_parquet(study.paths.similarity("wvs7"))
    assert list(sim.columns) == SIMILARITY_COLUMNS
    # 20 people x 4 models x 6 conditions, minus the two incomplete conditions, x (1 + 19) levels
    assert len(sim) == 20 * (4 * 6 - 2) * 20
    assert set(sim["removed"].astype(str)) == {"none", *(f"Q{q}" for q in range(177, 196))}
    mfq = pd.read_parquet(study.paths.similarity("mfq2"))
    assert set(mfq["removed"].astype(str)) == {
        "none",
        "Care",
        "Equality",
        "Proportionality",
        "Loyalty",
        "Authority",
        "Purity",
    }

    exclusions = pd.read_csv(study.paths.similarity_dir / "exclusions.csv")
    listed = set(map(tuple, exclusions[["analysis", "model", "item"]].values.tolist()))
    assert listed == {
        ("rq1", "sim-us-01", "Q184"),
        ("rq3", "sim-us-01", "Q184"),
        ("rq2", "sim-cn-00", "Q182"),
    }
    summary = pd.read_csv(study.paths.similarity_dir / "exclusions_summary.csv").set_index(
        ["instrument", "analysis"]
    )
    assert summary.loc[("wvs7", "rq1"), "n_models"] == 3 and summary.loc[("wvs7", "rq2"), "n_models"] == 3
    assert summary.loc[("mfq2", "rq1"), "n_models"] == 4
    assert (study.paths.similarity_dir / "zero_variance.csv").exists()

    for analysis in ("rq1", "rq2", "rq3"):
        for instrument in ("mfq2", "wvs7"):
            tidy = pd.read_csv(study.paths.estimates(f"{analysis}_{instrument}"))
            assert set(tidy["model"]) == {"lm", "lmer", "two_stage"}
            assert tidy["estimate"].notna().all()
    table = pd.read_csv(study.paths.estimates("table2_wvs7"))
    assert {"rq1_wvs7", "rq2_wvs7", "rq3_wvs7"} == set(table["analysis"])

    subprocess.run(
        ["Rscript", str(REPO / "R" / "run_models.R"), str(tmp_path), str(tmp_path / "r_estimates")],
        check=True,
        capture_output=True,
    )
    for name in (
        "rq1_wvs7", "rq2_mfq2", "rq3_wvs7", "rq3_mfq2", "table2_mfq2", "random_effects",
        "simple_effects_wvs7", "simplification",
    ):  # fmt: skip
        ours = pd.read_csv(study.paths.estimates_dir / f"{name}.csv")
        theirs = pd.read_csv(tmp_path / "r_estimates" / f"{name}.csv")
        variance = ("estimate",) if name == "random_effects" else ()
        assert_fits_agree(ours, theirs, name=name, variance=variance)
    info = pd.read_csv(study.paths.estimates_dir / "fit_info.csv").drop(columns="seconds")
    assert_fits_agree(
        info, pd.read_csv(tmp_path / "r_estimates" / "fit_info.csv").drop(columns="seconds"), name="fit_info"
    )


def test_cli_analyze_reports_missing_ratings(tmp_path: Path, study_factory) -> None:
    from typer.testing import CliRunner

    study_factory(tmp_path, instruments_ids=("wvs7",), n_people=3, n_models=1)
    (tmp_path / "llm_ratings.parquet").unlink()
    result = CliRunner().invoke(app, ["analyze", str(tmp_path)])
    assert result.exit_code == 1
    assert "llm_ratings.parquet" in result.output and "not found" in result.output
