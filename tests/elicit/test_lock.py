"""One writer per study: two real `valuesurvey elicit` processes against one loopback server send every
request once; a lock left by a killed process is taken over; SIGTERM leaves an "interrupted" record."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from elicit_helpers import openai_model, sim_model, write_study_yaml

from valuesurvey.elicit import plan_study
from valuesurvey.elicit.lock import EXIT_LOCKED, LOCK_FILE, StudyLockedError, study_lock
from valuesurvey.study import load_study

DRIVER = Path(__file__).with_name("elicit_driver.py")


def _start(study_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "VALUESURVEY_TEST_KEY": "sk-test"}
    return subprocess.Popen(
        [sys.executable, str(DRIVER), *args, str(study_dir), *(["--quiet"] if args[0] != "export" else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _holder(study_dir: Path) -> dict | None:
    try:
        text = (study_dir / LOCK_FILE).read_text()
    except FileNotFoundError:
        return None
    return json.loads(text) if text.strip() else None


def _wait_for(condition, what: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"process ended before {what}: {process.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _stored(study_dir: Path) -> int:
    path = study_dir / "responses.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


@pytest.fixture
def slow_study(serve, tmp_path: Path) -> tuple[Path, object, set[str]]:
    """38 requests, one at a time, 80 ms each: a run of about 3 s."""
    server = serve(latency=0.08)
    study_dir = tmp_path / "study"
    write_study_yaml(study_dir, models=[openai_model(server.base_url, max_concurrency=1)])
    return study_dir, server, plan_study(load_study(study_dir)).keys()


@pytest.mark.slow
def test_a_second_elicit_is_refused_naming_the_first_and_nothing_is_sent_twice(slow_study) -> None:
    study_dir, server, planned = slow_study
    server.hold()  # the first run's first request waits at the server until the second has started
    first = _start(study_dir, "elicit")
    _wait_for(lambda: len(server.log) == 1, "the first run's first request", first)
    assert _holder(study_dir)["pid"] == first.pid
    second = _start(study_dir, "elicit")
    _, err2 = second.communicate(timeout=60)
    server.release()
    _, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == EXIT_LOCKED
    lines = err2.strip().splitlines()
    assert len(lines) == 1, err2
    host = socket.gethostname()
    assert (
        f"another valuesurvey process is writing this study: pid {first.pid} on host {host} since "
        in lines[0]
    )
    assert "(valuesurvey elicit)" in lines[0] and "--wait" in lines[0]
    sent = Counter(entry["key"] for entry in server.log)
    assert set(sent) == planned and set(sent.values()) == {1}  # every request sent exactly once
    assert _holder(study_dir) is None  # released: nothing stale left behind


@pytest.mark.slow
def test_wait_runs_after_the_first_and_finds_everything_stored(slow_study) -> None:
    study_dir, server, planned = slow_study
    server.hold()
    first = _start(study_dir, "elicit")
    _wait_for(lambda: len(server.log) == 1, "the first run's first request", first)
    second = _start(study_dir, "elicit", "--wait")
    assert second.stderr is not None
    waiting = second.stderr.readline()  # blocks until the second says it waits (the first cannot end)
    assert f"waiting for pid {first.pid} on host {socket.gethostname()}" in waiting, waiting
    server.release()
    _, err2 = second.communicate(timeout=120)
    _, err1 = first.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    sent = Counter(entry["key"] for entry in server.log)
    assert set(sent) == planned and set(sent.values()) == {1}


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_and_releases_the_lock(slow_study) -> None:
    study_dir, server, planned = slow_study
    process = _start(study_dir, "elicit")
    _wait_for(lambda: _stored(study_dir) >= 5, "five answers", process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == (
        "error: interrupted by SIGTERM; completed answers are saved, rerun the command to resume"
    )
    assert "Traceback" not in err
    (runlog,) = (study_dir / "logs" / "elicit").glob("*.json")
    record = json.loads(runlog.read_text())
    assert record["status"] == "interrupted" and record["error"].startswith("interrupted by SIGTERM")
    assert record["pid"] == process.pid and record["finished_at"]
    assert _holder(study_dir) is None
    stored = _stored(study_dir)
    assert 5 <= stored < len(planned)
    resumed = _start(study_dir, "elicit")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    sent = Counter(entry["key"] for entry in server.log)
    assert set(sent) == planned
    assert sum(sent.values()) - len(planned) <= 1  # at most the request in flight at the signal


@pytest.mark.slow
def test_run_refuses_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    write_study_yaml(study_dir, models=[sim_model()])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from valuesurvey.elicit.lock import study_lock\n"
            "with study_lock(sys.argv[1], command='a test holder'):\n"
            "    print('held', flush=True); time.sleep(60)\n",
            str(study_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for command in ("run", "elicit", "export"):
            process = _start(study_dir, command)
            _, err = process.communicate(timeout=60)
            assert process.returncode == EXIT_LOCKED, err
            assert f"pid {holder.pid} on host" in err and "(a test holder)" in err
    finally:
        holder.kill()
        holder.wait(10)
    # Killed while holding it: the kernel released it, the next writer takes it over and says so.
    process = _start(study_dir, "elicit")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"took over the study's lock, left by pid {holder.pid}" in err and "(a test holder)" in err


def test_the_lock_is_reentrant_in_one_call_chain_but_not_across_threads(tmp_path: Path) -> None:
    with study_lock(tmp_path, command="outer") as outer:
        assert not outer.nested and outer.stale is None
        with study_lock(tmp_path, command="inner") as inner:  # e.g. `run` → its elicit stage
            assert inner.nested
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                with study_lock(tmp_path):
                    pass
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(10)
        assert len(errors) == 1 and isinstance(errors[0], StudyLockedError)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(errors[0])
        assert "(outer)" in str(errors[0])
    with study_lock(tmp_path) as again:  # released
        assert again.stale is None
