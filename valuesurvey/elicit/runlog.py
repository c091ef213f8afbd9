"""The versioned run log: one JSON file per run, ``logs/elicit/<run_id>.json`` in the study directory.

It records what a reviewer may ask about a run: the package versions, the git revision of the code,
the transport config, the sampling settings, each model (provider, API model, base URL, the *name*
of the env var holding its key, never the key) and the outcome per model. Each request and response
is in ``responses.sqlite``, linked to its run by ``run_id``. Written atomically at the start of a run
(``status: running``, with the process id and host) and rewritten at its end: ``completed`` (with
the counts of failed and not-sent requests and the failure summary), ``interrupted`` (SIGTERM,
SIGINT), or ``failed`` (an error stopped it). A process killed outright (SIGKILL, a power cut) cannot
write its end: the next run on the study, which holds the study's lock and so knows that no other
run is going on, marks every log still ``running`` as ``abandoned`` (:func:`mark_abandoned`).

Versions: 2 added ``pid``, ``host``, the ``abandoned`` status and the failure fields; 3 added
``cache``, ``cached``, ``in_batch`` and each model's ``batch``.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from valuesurvey import _io

__all__ = [
    "RUNLOG_VERSION",
    "GitRevision",
    "RunLog",
    "git_revision",
    "mark_abandoned",
    "package_versions",
    "runlog_path",
]

log = logging.getLogger(__name__)

RUNLOG_VERSION = 3
_PACKAGES = ("valuesurvey", "httpx", "pydantic", "pandas", "pyarrow", "numpy", "rich", "xllamacpp")


class GitRevision(BaseModel):
    commit: str
    dirty: bool


class RunLog(BaseModel):
    """A run's record; ``version`` changes whenever fields change meaning."""

    version: int = RUNLOG_VERSION
    run_id: str
    study: str
    status: Literal["running", "completed", "interrupted", "failed", "abandoned"] = "running"
    started_at: str
    finished_at: str | None = None
    pid: int = Field(default_factory=os.getpid)
    host: str = Field(default_factory=socket.gethostname)
    revision: GitRevision | None = None
    python: str = Field(default_factory=platform.python_version)
    packages: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    generation: dict[str, Any] = Field(default_factory=dict)
    answer_mode: str = "text"
    models: list[dict[str, Any]] = Field(default_factory=list)
    limit: int | None = None
    planned: int = 0
    already_stored: int = 0
    summary: list[dict[str, Any]] = Field(default_factory=list)
    failed: int = 0
    not_sent: int = 0
    stopped: dict[str, str] = Field(default_factory=dict)
    failures: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    cache: str | None = None  # the response cache directory used, if any
    cached: dict[str, int] = Field(default_factory=dict)  # per model: answers reused from the cache
    in_batch: dict[str, int] = Field(default_factory=dict)  # per model: requests left in running batches


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_revision(where: Path | None = None) -> GitRevision | None:
    """The commit of the code that runs (and whether the tree has changes), if it is a git checkout."""
    cwd = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return GitRevision(commit=commit, dirty=bool(status.strip()))


def runlog_path(root: Path, run_id: str) -> Path:
    return root / "logs" / "elicit" / f"{run_id}.json"


def write_runlog(root: Path, log: RunLog) -> Path:
    return _io.write_text(runlog_path(root, log.run_id), log.model_dump_json(indent=2) + "\n")


def mark_abandoned(root: Path, *, found_by: str, found_at: str) -> list[Path]:
    """Mark every run log of the study still ``running`` as ``abandoned``; return their paths.

    Call it only while holding the study's lock (:mod:`valuesurvey.elicit.lock`): then no other run
    is going on, and a log that says ``running`` belongs to a process that died without finishing.
    """
    marked = []
    for path in sorted((root / "logs" / "elicit").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not ours, or unreadable: leave it as it is
        if not isinstance(data, dict) or data.get("status") != "running" or data.get("run_id") == found_by:
            continue
        who = f"pid {data['pid']} on {data.get('host', '?')}" if data.get("pid") else "its process"
        data.update(
            status="abandoned",
            error=f"{who} ended without finishing the run (killed, or the machine stopped); "
            f"found by run {found_by} at {found_at}",
        )
        _io.write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        log.warning("%s: run %s was abandoned (%s)", root, data.get("run_id"), data["error"])
        marked.append(path)
    return marked
