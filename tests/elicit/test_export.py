"""`valuesurvey export` rewrites every table from the store for all models; `elicit --models X` keeps
the other models' rows."""

from __future__ import annotations

import pandas as pd
from elicit_helpers import sim_model, write_study_yaml
from typer.testing import CliRunner

from valuesurvey.cli import app

MODELS = [sim_model("sim-cn-01", "CN"), sim_model("sim-us-01", "US")]


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_elicit_models_x_keeps_the_other_models_rows_and_export_rewrites_every_table(tmp_path) -> None:
    study = write_study_yaml(
        tmp_path / "s",
        instruments=["wvs7", "ai_values"],
        ranking={"repetitions": 2, "languages": ["en"]},
        models=MODELS,
    )
    root = study.parent
    assert _cli("elicit", str(study), "--models", "sim-cn-01", "-q")[0] == 0
    assert set(pd.read_parquet(root / "llm_ratings.parquet")["model"]) == {"sim-cn-01"}
    code, out = _cli("elicit", str(study), "--models", "sim-us-01", "-q")
    assert code == 0, out
    ratings = pd.read_parquet(root / "llm_ratings.parquet")
    rankings = pd.read_parquet(root / "rankings.parquet")
    assert ratings.groupby("model").size().to_dict() == {"sim-cn-01": 38, "sim-us-01": 38}
    assert rankings.groupby("model")["rep"].nunique().to_dict() == {"sim-cn-01": 2, "sim-us-01": 2}

    (root / "llm_ratings.parquet").unlink()
    (root / "rankings.parquet").write_bytes(b"half-written")
    code, out = _cli("export", str(study))
    assert code == 0, out
    assert "llm_ratings.parquet" in out and "rankings.parquet" in out
    pd.testing.assert_frame_equal(pd.read_parquet(root / "llm_ratings.parquet"), ratings)
    pd.testing.assert_frame_equal(pd.read_parquet(root / "rankings.parquet"), rankings)


def test_export_before_any_elicitation_is_a_one_line_error(tmp_path) -> None:
    study = write_study_yaml(tmp_path / "s", models=MODELS)
    code, out = _cli("export", str(study))
    assert code == 1
    assert out.strip().splitlines() == [
        f"error: {study.parent / 'responses.sqlite'}: no responses stored yet: run 'valuesurvey elicit' first"
    ]
