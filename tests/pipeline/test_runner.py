"""run_study / resume_study: stages are skipped when their inputs are unchanged, resumed after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from valuesurvey.errors import ConfigError
from valuesurvey.manifest import read_manifest
from valuesurvey.pipeline import STAGE_NAMES, resume_study, run_study
from valuesurvey.study import load_study


def test_default_stage_order() -> None:
    assert STAGE_NAMES == ("elicit", "analyze", "figures", "report")


def test_second_run_does_nothing(study_dir: Path, fake) -> None:
    first = run_study(study_dir, pipeline=fake.stages, progress=False)
    assert first.ran == ("first", "second")
    assert (study_dir / "out" / "second.txt").read_text() == "\nOLLEH"
    again = run_study(study_dir, pipeline=fake.stages, progress=False)
    assert again.nothing_to_do and again.skipped == ("first", "second")
    assert fake.runs == {"first": 1, "second": 1}
    entry = read_manifest(load_study(study_dir))["pipeline"]["second"]
    # outputs found by the directory snapshot are recorded too, not only the declared ones
    assert set(entry["outputs"]) == {"out/second.txt", "out/undeclared.txt"}
    assert read_manifest(load_study(study_dir))["pipeline"]["first"]["extra"] == {"chars": 6}


def test_changed_setting_redoes_the_stage_and_what_depends_on_its_output(study_dir: Path, fake) -> None:
    run_study(study_dir, pipeline=fake.stages, progress=False)
    data = yaml.safe_load((study_dir / "study.yaml").read_text())
    data["repetitions"] = 2
    (study_dir / "study.yaml").write_text(yaml.safe_dump(data))
    summary = run_study(study_dir, pipeline=fake.stages, progress=False)
    assert summary.ran == ("first", "second")  # second's input file changed because first's did


def test_unrelated_change_redoes_nothing(study_dir: Path, fake) -> None:
    run_study(study_dir, pipeline=fake.stages, progress=False)
    data = yaml.safe_load((study_dir / "study.yaml").read_text())
    data["title"] = "a new title"
    (study_dir / "study.yaml").write_text(yaml.safe_dump(data))
    assert run_study(study_dir, pipeline=fake.stages, progress=False).nothing_to_do


def test_same_output_does_not_redo_downstream(study_dir: Path, fake) -> None:
    run_study(study_dir, pipeline=fake.stages, progress=False)
    summary = run_study(study_dir, pipeline=fake.stages, progress=False, stages=["first"], force=True)
    assert summary.ran == ("first",)
    # first rewrote identical bytes: second is still current
    assert run_study(study_dir, pipeline=fake.stages, progress=False).nothing_to_do


def test_crash_then_resume_completes_only_what_is_missing(study_dir: Path, fake) -> None:
    fake.fail.add("second")
    with pytest.raises(RuntimeError, match="second crashed"):
        run_study(study_dir, pipeline=fake.stages, progress=False)
    assert set(read_manifest(load_study(study_dir))["pipeline"]) == {"first"}
    summary = resume_study(study_dir, pipeline=fake.stages, progress=False)
    assert summary.ran == ("second",) and summary.skipped == ("first",)
    assert resume_study(study_dir, pipeline=fake.stages, progress=False).nothing_to_do
    assert fake.runs == {"first": 1, "second": 2}


def test_a_stage_that_dies_half_way_is_forgotten(study_dir: Path, fake) -> None:
    run_study(study_dir, pipeline=fake.stages, progress=False)
    fake.fail.add("first")
    with pytest.raises(RuntimeError):
        run_study(study_dir, pipeline=fake.stages, progress=False, stages=["first"], force=True)
    assert "first" not in read_manifest(load_study(study_dir))["pipeline"]
    assert resume_study(study_dir, pipeline=fake.stages, progress=False).ran == ("first",)


def test_deleted_output_is_rebuilt(study_dir: Path, fake) -> None:
    run_study(study_dir, pipeline=fake.stages, progress=False)
    (study_dir / "out" / "second.txt").unlink()
    assert run_study(study_dir, pipeline=fake.stages, progress=False).ran == ("second",)


def test_resume_without_a_run_is_an_error(study_dir: Path, fake) -> None:
    with pytest.raises(ConfigError, match="no run to resume"):
        resume_study(study_dir, pipeline=fake.stages, progress=False)


def test_unknown_stage_lists_valid_ones(study_dir: Path, fake) -> None:
    with pytest.raises(ConfigError, match="valid stages: first, second"):
        run_study(study_dir, pipeline=fake.stages, stages=["thrid"], progress=False)


def test_partial_stage_is_not_recorded(study_dir: Path, fake) -> None:
    from valuesurvey.pipeline import Stage

    calls = []

    def limited(study, context):
        calls.append(context.limit)
        return {"complete": context.limit is None}

    stages = (Stage("elicit", "limited", lambda s: {}, lambda s: [], limited),)
    summary = run_study(study_dir, pipeline=stages, progress=False, limit=5)
    assert summary.partial == ("elicit",) and not summary.nothing_to_do
    assert "elicit" not in read_manifest(load_study(study_dir))["pipeline"]
    assert run_study(study_dir, pipeline=stages, progress=False).ran == ("elicit",)
    assert run_study(study_dir, pipeline=stages, progress=False).nothing_to_do
    assert calls == [5, None]


def test_editing_a_replacement_instrument_file_changes_the_elicit_inputs(tmp_path: Path) -> None:
    from valuesurvey import instruments
    from valuesurvey.pipeline._stages import _instrument_hashes

    root = tmp_path / "study"
    root.mkdir()
    shipped = yaml.safe_load((instruments.DATA_DIR / "wvs7.yaml").read_text(encoding="utf-8"))
    (root / "my_wvs7.yaml").write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    study_yaml = {
        "name": "own-file",
        "instruments": ["wvs7"],
        "instrument_options": {"wvs7": {"file": "my_wvs7.yaml"}},
        "languages": ["en"],
        "personas": ["none"],
        "models": [{"id": "sim-cn-01", "provider": "simulated", "origin": "CN", "company": "simulated"}],
    }
    (root / "study.yaml").write_text(yaml.safe_dump(study_yaml), encoding="utf-8")
    before = _instrument_hashes(load_study(root))
    assert before == {"wvs7": instruments.get("wvs7").content_hash}

    shipped["items"][0]["en"] = "Claiming government benefits to which you are not entitled, in a new wording"
    (root / "my_wvs7.yaml").write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    after = _instrument_hashes(load_study(root))
    assert after["wvs7"] != before["wvs7"]


def test_a_stage_that_starts_r_leaves_r_its_home(tmp_path: Path) -> None:
    """In a fresh process: R started inside a stage can still load packages after the stage ends
    (the runner restores the environment for child processes, but R_HOME must stay)."""
    import subprocess
    import sys

    script = f"""
import os
from pathlib import Path
import yaml
from valuesurvey.pipeline import Stage, run_study
from valuesurvey.rbridge import get_session
root = Path({str(tmp_path / "study")!r}); root.mkdir()
spec = {{"name": "r", "instruments": ["wvs7"], "languages": ["en"], "personas": ["none"],
        "models": [{{"id": "sim-cn-01", "provider": "simulated", "origin": "CN", "company": "simulated"}}]}}
(root / "study.yaml").write_text(yaml.safe_dump(spec))
ld_before = os.environ.get("LD_LIBRARY_PATH")
stage = Stage("start_r", "start R", lambda s: {{}}, lambda s: [], lambda s, c: get_session() and None)
run_study(root, pipeline=(stage,), progress=False)
assert os.environ.get("LD_LIBRARY_PATH") == ld_before
import rpy2.robjects as ro
print(ro.r('tryCatch({{loadNamespace("parallel"); R.home("bin")}}, error=function(e) conditionMessage(e))')[0])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].endswith("/bin"), done.stdout
