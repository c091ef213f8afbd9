"""Kill ``valuesurvey elicit`` in batch mode (after submission, while polling, while creating a batch)
and restart the server mid-batch: no request is submitted twice (the server counts), every answer is
stored once."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from elicit_helpers import BATCH_KEY, batch_model, write_study_yaml

from valuesurvey.elicit import plan_study
from valuesurvey.study import load_study

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "elicit_driver.py"
PROTOCOLS = ["openai", "anthropic"]

pytestmark = pytest.mark.slow


def _query(db_path: Path, sql: str) -> list[tuple]:
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def _elicit(study_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VALUESURVEY_BATCH_KEY": BATCH_KEY}
    return subprocess.Popen(
        [sys.executable, str(DRIVER), "elicit", str(study_dir), "--quiet", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait(condition, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"elicit ended before {what}: {out.decode()} {err.decode()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def _study(tmp_path: Path, server, protocol: str):
    study_dir = tmp_path / "study"
    write_study_yaml(
        study_dir, repetitions=4, models=[batch_model(server, protocol, options={"batch_max_requests": 40})]
    )
    return load_study(study_dir)


def _check_once(study, server, protocol: str, *, creates: int) -> None:
    planned = plan_study(study).keys()
    rows = _query(study.paths.responses, "SELECT key, status, source FROM responses")
    assert len(rows) == len(planned) and {k for k, _, _ in rows} == planned  # every answer stored once
    assert {(s, src) for _, s, src in rows} == {("ok", "batch")}
    stats = server.stats()
    assert stats["submitted"][protocol] == dict.fromkeys(planned, 1)  # no request submitted twice
    assert stats["creates"] == creates and stats["live"] == {}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("moment", ["after submission", "while polling"])
def test_kill_then_resume_polls_what_was_submitted(batch_serve, tmp_path, protocol, moment) -> None:
    server = batch_serve(hold=True)
    study = _study(tmp_path, server, protocol)  # 76 requests: batches of 40 and 36
    first = _elicit(study.paths.root)

    def submitted() -> bool:
        states = [s for (s,) in _query(study.paths.responses, "SELECT state FROM batches")]
        return states == ["submitted", "submitted"]

    def polled() -> bool:
        polls = server.stats()["polls"]
        return submitted() and len(polls) == 2 and min(polls.values()) >= 3

    _wait(submitted if moment == "after submission" else polled, first, moment)
    _kill(first)
    assert server.stats()["creates"] == 2
    server.control(hold=False)

    resumed = _elicit(study.paths.root)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out.decode() + err.decode()
    _check_once(study, server, protocol, creates=2)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_kill_between_creating_a_batch_and_recording_it(batch_serve, tmp_path, protocol) -> None:
    """The provider created the batch, the run died before it recorded the batch's id: the next run
    finds it at the provider and polls it, instead of creating a second one."""
    server = batch_serve(hold_create=True)
    study = _study(tmp_path, server, protocol)
    first = _elicit(study.paths.root)

    def creating() -> bool:
        states = [s for (s,) in _query(study.paths.responses, "SELECT state FROM batches ORDER BY rowid")]
        return server.stats()["creates"] == 1 and states[:1] == ["creating"]

    _wait(creating, first, "the first create request")
    _kill(first)
    server.control(hold_create=False, release=True)

    resumed = _elicit(study.paths.root)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out.decode() + err.decode()
    assert "found it at the provider" in err.decode() and "adopted it" in err.decode()
    _check_once(study, server, protocol, creates=2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_process(state: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "batch_server.py"),
            "--state",
            str(state),
            "--port",
            str(port),
            "--processing",
            "3",
            "--api-key",
            BATCH_KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("PORT "), line + (process.stderr.read().decode() if process.stderr else "")
    return process


class _Remote:
    """The server process as the helpers see a server: its URLs and its counts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.openai_url = f"{self.base_url}/v1"

    def stats(self) -> dict:
        import httpx

        return httpx.get(f"{self.base_url}/_stats", timeout=10).json()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_server_restarted_mid_batch(tmp_path, protocol, monkeypatch) -> None:
    monkeypatch.setenv("VALUESURVEY_BATCH_KEY", BATCH_KEY)
    port = _free_port()
    state = tmp_path / "server-state"
    server = _server_process(state, port)
    remote = _Remote(port)
    study = _study(tmp_path, remote, protocol)
    elicit = _elicit(study.paths.root)
    try:
        _wait(lambda: len(remote.stats()["polls"]) == 2, elicit, "the first polls")
        server.send_signal(signal.SIGKILL)  # mid-batch: both batches in progress
        server.wait(10)
        time.sleep(1.0)  # polls meanwhile fail (connection refused) and are tried again
        server = _server_process(state, port)  # same state, same port
        out, err = elicit.communicate(timeout=120)
        assert elicit.returncode == 0, out.decode() + err.decode()
        _check_once(study, remote, protocol, creates=2)
    finally:
        server.kill()
        server.wait(10)
        if elicit.poll() is None:
            elicit.kill()
