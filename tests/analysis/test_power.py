"""``valuesurvey power``: the study's own design, per-fit power, coverage and MDE, table and figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.power import study_analyses, study_design
from valuesurvey.study import load_study

pytestmark = pytest.mark.timeout(600)


def test_design_comes_from_the_study(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("wvs7",), n_people=7, n_models=3, repetitions=4)
    design, source = study_design(study)
    assert design.models == (3, 3) and design.repetitions == 4 and design.languages == ("en", "zh")
    assert design.people == (7, 7) and "complete people of wvs7" in source
    assert study_analyses(study) == ["rq1", "rq2"]
    design, source = study_design(study, people=(40, 30))
    assert design.people == (40, 30) and source == "--people"


def test_power_command_prints_and_writes_the_table(tmp_path: Path, study_factory) -> None:
    study_factory(tmp_path, instruments_ids=("wvs7",), n_people=7, n_models=3)
    result = CliRunner().invoke(
        app,
        [
            "power",
            str(tmp_path),
            "-n",
            "3",
            "--people",
            "24,20",
            "--analyses",
            "rq1",
            "--set",
            "interaction=0.08",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "24 + 20 people" in result.output and "interaction=0.08" in result.output
    table = pd.read_csv(tmp_path / "power" / "power.csv")
    assert list(table.columns) == [
        "analysis", "term", "fit", "truth", "n_simulations", "power", "coverage", "mean_se",
        "empirical_sd", "df", "mde",
    ]  # fmt: skip
    assert set(table["fit"]) == {"lm", "intercepts", "recommended"}
    assert set(table["term"]) == {"nationalityCN", "originCN", "nationalityCN:originCN"}
    assert (table["n_simulations"] == 3).all()
    inter = table[table["term"] == "nationalityCN:originCN"].set_index("fit")
    assert inter.loc["recommended", "truth"] == 0.08
    # the recommended fit is the honest one: its SE for the within-model contrast is the largest
    assert inter.loc["recommended", "mean_se"] > inter.loc["intercepts", "mean_se"]
    assert inter.loc["recommended", "mde"] > inter.loc["intercepts", "mde"]
    for name in ("power.png", "power.svg", "power_simulations.csv", "power_settings.json"):
        assert (tmp_path / "power" / name).exists(), name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "slope=1"], "--set: unknown truth field 'slope'"),
        (["--people", "12"], "--people must be two integers CN,US"),
        (["--analyses", "rq3"], "--analyses: 'rq3' is not rq1 or rq2"),
    ],
)
def test_power_bad_options(tmp_path: Path, study_factory, args: list[str], message: str) -> None:
    study_factory(tmp_path, instruments_ids=("wvs7",), n_people=3, n_models=2)
    result = CliRunner().invoke(app, ["power", str(tmp_path), "-n", "1", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_power_without_human_n(tmp_path: Path, study_factory) -> None:
    study = study_factory(tmp_path, instruments_ids=("wvs7",), n_people=3, n_models=2)
    study.paths.humans("wvs7").unlink()
    result = CliRunner().invoke(app, ["power", str(tmp_path), "-n", "1"])
    assert result.exit_code == 1
    assert (
        "no human n for the power analysis: run `valuesurvey analyze` first or pass --people CN,US"
        in result.output
    )
    assert load_study(tmp_path)  # the study itself is fine
