"""SIGKILL a real elicitation process mid-run; the resumed run loses nothing and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from elicit_helpers import openai_model, write_study_yaml

from valuesurvey.elicit import plan_study
from valuesurvey.study import load_study

DRIVER = Path(__file__).with_name("elicit_driver.py")


def _stored(db_path: Path) -> dict[str, str]:
    if not db_path.exists():
        return {}
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return dict(db.execute("SELECT key, status FROM responses"))
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        db.close()


def _start(study_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VALUESURVEY_TEST_KEY": "sk-test"}
    return subprocess.Popen(
        [sys.executable, str(DRIVER), "elicit", str(study_dir), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_then_resume_loses_nothing_and_sends_nothing_twice(serve, tmp_path: Path) -> None:
    server = serve(latency=0.03, faults=("500", "reset"), fault_rate=0.1)
    study_dir = tmp_path / "study"
    write_study_yaml(
        study_dir,
        personas=["none", "cn", "us"],
        repetitions=4,
        models=[openai_model(server.base_url, max_concurrency=4)],
    )
    study = load_study(study_dir)
    planned = plan_study(study).keys()
    assert len(planned) == 19 * 3 * 4

    process = _start(study_dir)
    deadline = time.monotonic() + 60
    while len(_stored(study.paths.responses)) < 60:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the first run stored too little"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    before_kill = _stored(study.paths.responses)  # what survived the kill
    boundary = len(server.log)
    assert 60 <= len(before_kill) < len(planned)
    assert set(before_kill.values()) == {"ok"}

    resumed = _start(study_dir)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    after = _stored(study.paths.responses)
    assert set(after) == planned and set(after.values()) == {"ok"}  # each planned key exactly once
    sent_again = {entry["key"] for entry in server.log[boundary:]} & set(before_kill)
    assert sent_again == set()
    # The run log records both runs; the killed one could not write its end: the resumed run, which
    # holds the study's lock, marks it abandoned (and takes over the lock the killed one held).
    logs = sorted((study_dir / "logs" / "elicit").glob("*.json"))
    statuses = sorted(json.loads(p.read_text())["status"] for p in logs)
    assert statuses == ["abandoned", "completed"]
    (abandoned,) = [json.loads(p.read_text()) for p in logs if '"abandoned"' in p.read_text()]
    assert abandoned["pid"] == process.pid and f"pid {process.pid}" in abandoned["error"]
    assert f"took over the study's lock, left by pid {process.pid}" in err.decode()
