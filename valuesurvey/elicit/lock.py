"""One writer per study: ``.valuesurvey.lock`` in the study directory.

``valuesurvey elicit``, ``export`` and ``run`` hold the study's lock while they write; a second one
started on the same study meanwhile is refused with one line naming the process that holds it (pid,
host, start time, command), or, with ``wait=True``, waits until it is released. Two runs at once
would otherwise send every request twice (each sees the same requests missing from the store) and
pay for both.

The lock is an advisory ``flock`` on the file, which the kernel releases when its process ends,
however it ends: a process killed with SIGKILL leaves no lock behind, only its description in the
file (a holder that releases normally empties it). The next process therefore takes the lock at
once and reports the stale description it found (:attr:`StudyLock.stale`).

Within one process the lock is re-entrant along a call chain (a :class:`~contextvars.ContextVar`):
``run`` holds it and its elicitation stage enters it again without blocking itself; another thread
of the same process does not inherit it and is refused like another process.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from valuesurvey.errors import DataError, ValuesurveyError

__all__ = ["EXIT_LOCKED", "LOCK_FILE", "LockHolder", "StudyLock", "StudyLockedError", "study_lock"]

log = logging.getLogger(__name__)

LOCK_FILE = ".valuesurvey.lock"
#: Exit code of a command refused because another process writes the study (sysexits' EX_TEMPFAIL:
#: try again later).
EXIT_LOCKED = 75

_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "valuesurvey_study_locks", default=frozenset()
)


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a study's lock."""

    pid: int
    host: str
    started_at: str
    command: str

    def describe(self) -> str:
        """``pid 4242 on host lab-1 since 2026-12-01T10:31:13Z (valuesurvey elicit)``"""
        return f"pid {self.pid} on host {self.host} since {self.started_at} ({self.command})"

    @classmethod
    def current(cls, command: str) -> LockHolder:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(pid=os.getpid(), host=socket.gethostname(), started_at=started, command=command)

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        try:
            data = json.loads(text)
            return cls(
                pid=int(data["pid"]),
                host=str(data["host"]),
                started_at=str(data["started_at"]),
                command=str(data["command"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


class StudyLockedError(ValuesurveyError):
    """Another process holds the study's lock."""

    exit_code = EXIT_LOCKED

    def __init__(self, root: Path, holder: LockHolder | None) -> None:
        who = holder.describe() if holder is not None else "another process (it has not said which yet)"
        super().__init__(
            f"{root}: another valuesurvey process is writing this study: {who}; wait for it to finish "
            "(or pass --wait), or stop it"
        )
        self.root = root
        self.holder = holder


@dataclass(frozen=True)
class StudyLock:
    """A held lock: who holds it, and the description a dead holder left behind (if any)."""

    path: Path
    holder: LockHolder
    stale: LockHolder | None = None
    nested: bool = False  # this call chain held it already


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace").strip()


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("utf-8"))
    os.fsync(fd)


def _command() -> str:
    args = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:3]]
    return " ".join(a for a in args if a)


@contextlib.contextmanager
def study_lock(
    root: str | os.PathLike[str], *, command: str | None = None, wait: bool = False, poll: float = 0.25
) -> Iterator[StudyLock]:
    """Hold the lock of the study in ``root`` for the duration of the block.

    Parameters
    ----------
    root : path-like
        The study directory.
    command : str, optional
        How the lock names its holder to a refused process (default: this process's command line).
    wait : bool
        Wait for the holder to finish instead of raising :class:`StudyLockedError`.
    poll : float
        Seconds between two tries while waiting.

    Raises
    ------
    StudyLockedError
        Another process holds the lock (and ``wait`` is false).
    """
    root = Path(root)
    path = root / LOCK_FILE
    name = str(path.resolve())
    me = LockHolder.current(command or _command())
    if name in _HELD.get():
        yield StudyLock(path, me, nested=True)
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DataError(f"cannot create the study's lock file ({exc.strerror})", path=path) from None
    try:
        supported = _acquire(fd, root, wait=wait, poll=poll)
        stale = LockHolder.parse(_read(fd)) if supported else None
        if stale is not None:
            log.warning(
                "%s: took over the study's lock, left by %s, which ended without releasing it (killed?)",
                root,
                stale.describe(),
            )
        if supported:
            _write(fd, json.dumps(asdict(me)) + "\n")
        token = _HELD.set(_HELD.get() | {name})
        try:
            yield StudyLock(path, me, stale=stale)
        finally:
            _HELD.reset(token)
            if supported:
                _write(fd, "")  # released normally: nothing stale is left to report
    finally:
        os.close(fd)  # closing releases the flock


def _acquire(fd: int, root: Path, *, wait: bool, poll: float) -> bool:
    """Take the flock on ``fd``; False when the file system cannot lock (then nothing is enforced)."""
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            holder = LockHolder.parse(_read(fd))
            if not wait:
                raise StudyLockedError(root, holder) from None
            if not announced:
                who = holder.describe() if holder else "another process"
                log.warning("%s: waiting for %s to finish writing this study", root, who)
                announced = True
            time.sleep(poll)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            log.warning(
                "%s: this file system cannot lock files (%s); make sure no other process writes the study",
                root,
                exc.strerror,
            )
            return False
