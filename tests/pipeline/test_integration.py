"""The real stages wired together: elicit (simulated provider) → analyze (R) → artifact → re-run.

A small study: 3 CN + 3 US simulated models, WVS-7 in en and zh with three personas, the ranking
task, and 60 simulated respondents per nationality written as ``humans/wvs7.parquet`` (the
analysis uses tables already present when ``study.humans`` is empty).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from lmer_agreement import assert_fits_agree

from valuesurvey._io import write_parquet
from valuesurvey.manifest import read_manifest
from valuesurvey.pipeline import build_artifact, resume_study, run_study
from valuesurvey.study import load_study

pytestmark = pytest.mark.slow

WVS_ITEMS = [f"Q{n}" for n in range(177, 196)]


def _study_dict() -> dict:
    models = [
        {
            "id": f"sim-{o.lower()}-{i:02d}",
            "provider": "simulated",
            "origin": o,
            "company": "simulated",
            "display_name": f"SIMULATED {o} respondent {i:02d}",
        }
        for o in ("CN", "US")
        for i in (1, 2, 3)
    ]
    return {
        "name": "integration",
        "instruments": ["wvs7", "ai_values"],
        "languages": ["en", "zh"],
        "personas": ["none", "cn", "us"],
        "repetitions": 2,
        "models": models,
        "ranking": {"repetitions": 2, "languages": ["en"]},
        "analysis": {"bootstrap": 20, "seed": 7},
        "synthetic_note": "SIMULATED models and SIMULATED respondents (test).",
    }


def _humans() -> pd.DataFrame:
    from valuesurvey.simulation.ratings import simulate_humans

    profiles = {"CN": [3 + (i % 5) * 0.5 for i in range(19)], "US": [6 - (i % 4) * 0.7 for i in range(19)]}
    return simulate_humans(profiles, WVS_ITEMS, n_per_nationality=60, scale=(1, 10), seed=3)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integration") / "study"
    root.mkdir()
    (root / "study.yaml").write_text(yaml.safe_dump(_study_dict()), encoding="utf-8")
    write_parquet(root / "humans" / "wvs7.parquet", _humans())
    summary = run_study(root, stages=["elicit", "analyze"], progress=False)
    assert summary.ran == ("elicit", "analyze")
    return root


def test_rerun_does_nothing_and_resume_completes(analysed: Path) -> None:
    assert run_study(analysed, stages=["elicit", "analyze"], progress=False).nothing_to_do
    manifest = read_manifest(load_study(analysed))
    assert set(manifest["pipeline"]) == {"elicit", "analyze"}
    assert manifest["pipeline"]["analyze"]["outputs"]
    assert any(name.startswith("estimates/") for name in manifest["pipeline"]["analyze"]["outputs"])
    # Delete an estimate: resume redoes analyze only (elicitation is current).
    estimates = sorted((analysed / "estimates").glob("*.csv"))
    assert estimates
    estimates[0].unlink()
    summary = resume_study(analysed, progress=False)
    assert "analyze" in summary.ran and "elicit" in summary.skipped
    assert estimates[0].exists()


def test_artifact_reruns_to_the_same_estimates(analysed: Path, tmp_path: Path) -> None:
    zip_path = build_artifact(analysed, include_human_data=True, out=tmp_path / "artifact.zip")
    fresh = tmp_path / "fresh"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(fresh)
    top = fresh / "integration-artifact"
    shipped = {p.name: pd.read_csv(p) for p in sorted((top / "study" / "estimates").glob("*.csv"))}
    assert shipped
    for path in (top / "study" / "estimates").glob("*.csv"):
        path.unlink()
    env = {**os.environ, "PYTHONPATH": str(top / "code")}
    done = subprocess.run(
        [sys.executable, "-m", "valuesurvey", "run", "study/study.yaml", "--stages", "analyze", "--force", "-q"],
        cwd=top, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # the re-run used the artifact's own code, not this checkout
    probe = subprocess.run(
        [sys.executable, "-c", "import valuesurvey; print(valuesurvey.__file__)"],
        cwd=top, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(top / "code"))
    rerun = {p.name: pd.read_csv(p) for p in sorted((top / "study" / "estimates").glob("*.csv"))}
    assert set(rerun) == set(shipped)
    for name, frame in shipped.items():
        # fit_info.csv records how long each fit took: a timing, not an estimate.
        timing = [c for c in ("seconds",) if c in frame.columns]
        again, before = rerun[name].drop(columns=timing), frame.drop(columns=timing)
        # Estimates must be identical. lmerTest's Satterthwaite df come from a numerical Hessian
        # that can differ in the last digits between processes, and so can the statistics derived
        # from them (tests/lmer_agreement.py).
        derived = [c for c in ("df", "statistic", "p_value", "conf_low", "conf_high") if c in before.columns]
        pd.testing.assert_frame_equal(
            again.drop(columns=derived), before.drop(columns=derived), check_exact=True, obj=name
        )
        assert_fits_agree(again, before, name=name)
