"""``manifest.json``: what each stage read, what it wrote, with which code, and how long it took.

The manifest is the memory of a study directory. Each stage records, when it finishes:

- ``inputs``: a sha256 per input, where an input is a file, a directory (hashed over every file in it),
  or any JSON-able value (a study.yaml section, an instrument hash, a code fingerprint);
- ``outputs``: a sha256 per file written;
- ``seconds``, ``completed_at`` and the ``environment`` (package version, git revision and dirty flag,
  Python, R, lme4, lmerTest and emmeans versions).

:func:`stage_is_current` compares a stage's current inputs with the recorded ones: this is what makes
``valuesurvey run`` resumable (a stage whose inputs did not change is not redone).

Writes are merges under a file lock and go through :mod:`valuesurvey._io`, so two processes recording
different stages never lose each other's entries and a crash never leaves a half-written manifest.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from valuesurvey import __version__
from valuesurvey._io import sha256_file, write_json
from valuesurvey.errors import DataError
from valuesurvey.study import Study

try:  # POSIX only; elsewhere concurrent writers are not expected.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MANIFEST_VERSION",
    "code_revision",
    "environment",
    "fingerprint",
    "hash_inputs",
    "read_manifest",
    "record_stage",
    "source_fingerprint",
    "stage_is_current",
]

MANIFEST_VERSION = 1
PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
R_PACKAGES = ("lme4", "lmerTest", "emmeans", "broom.mixed", "pbkrtest", "data.table")
MISSING = "missing"


# --------------------------------------------------------------------------------------------------
# Hashing


def fingerprint(value: Any) -> str:
    """sha256 of a JSON-able value in canonical form (sorted keys, no whitespace).

    Pydantic models are dumped in JSON mode, paths become strings.

    Examples
    --------
    >>> fingerprint({"b": 1, "a": [1, 2]}) == fingerprint({"a": [1, 2], "b": 1})
    True
    >>> len(fingerprint("x"))
    64
    """
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _files_under(directory: Path) -> list[Path]:
    # Temporary files of atomic writes in progress (".name.xxx.tmp") are not part of the content.
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp"))
    )


def hash_path(path: Path) -> str:
    """sha256 of a file, or of a directory (relative names and contents of every file), or ``missing``."""
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in _files_under(path):
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
            digest.update(sha256_file(file).encode("ascii") + b"\n")
        return digest.hexdigest()
    return MISSING


def source_fingerprint(*locations: str | Path) -> str:
    """Fingerprint of source code: every ``.py``, ``.R``, ``.yaml``, ``.json``, ``.qmd`` … file under
    the given locations (package-relative names such as ``"elicit"`` or absolute paths).

    Changing a stage's code changes this value, so the stage is redone; editing another stage's code
    does not. Missing locations count as empty (a stage not installed yet).
    """
    suffixes = {".py", ".R", ".r", ".yaml", ".yml", ".json", ".csv", ".qmd", ".gbnf", ".bib", ".typ", ".css"}
    digest = hashlib.sha256()
    for location in locations:
        base = Path(location)
        if not base.is_absolute():
            candidates = [PACKAGE_ROOT / base, PACKAGE_ROOT / f"{base}.py"]
            base = next((c for c in candidates if c.exists()), candidates[0])
        files = [base] if base.is_file() else (_files_under(base) if base.is_dir() else [])
        for file in files:
            if file.suffix not in suffixes or "__pycache__" in file.parts:
                continue
            digest.update(file.name.encode("utf-8") + b"\0" + sha256_file(file).encode("ascii"))
    return digest.hexdigest()


def _label(study: Study, path: Path) -> str:
    try:
        return path.resolve().relative_to(study.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def hash_inputs(study: Study, inputs: Mapping[str, Any] | Iterable[Path]) -> dict[str, str]:
    """Hash a stage's inputs: paths by content, any other value by :func:`fingerprint`.

    ``inputs`` is a mapping of label → value, or an iterable of paths (labelled by their path
    relative to the study directory).
    """
    if not isinstance(inputs, Mapping):
        inputs = {_label(study, Path(p)): Path(p) for p in inputs}
    hashed: dict[str, str] = {}
    for label, value in inputs.items():
        if isinstance(value, Path):
            hashed[str(label)] = hash_path(study.resolve(value))
        else:
            hashed[str(label)] = fingerprint(value)
    return dict(sorted(hashed.items()))


def _hash_outputs(study: Study, outputs: Iterable[Path]) -> dict[str, str]:
    hashed: dict[str, str] = {}
    for output in outputs:
        path = study.resolve(Path(output))
        files = _files_under(path) if path.is_dir() else [path]
        for file in files:
            hashed[_label(study, file)] = sha256_file(file) if file.is_file() else MISSING
    return dict(sorted(hashed.items()))


# --------------------------------------------------------------------------------------------------
# Environment


@functools.cache
def code_revision() -> dict[str, Any]:
    """The package version, and the git commit and dirty flag when running from a git checkout."""
    info: dict[str, Any] = {"package": "valuesurvey", "version": __version__, "commit": None, "dirty": None}
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        return info
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=20,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no", "--", "valuesurvey", "R"],
            capture_output=True, text=True, check=True, timeout=20,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return info
    info.update(commit=commit or None, dirty=bool(status.strip()))
    return info


_R_VERSIONS_SCRIPT = """
cat("R\\t", paste(R.version$major, R.version$minor, sep = "."), "\\n", sep = "")
for (p in strsplit(Sys.getenv("VS_R_PACKAGES"), ",")[[1]]) {
  v <- tryCatch(as.character(utils::packageVersion(p)), error = function(e) "")
  cat(p, "\\t", v, "\\n", sep = "")
}
"""


@functools.cache
def r_versions() -> dict[str, str | None]:
    """R and R package versions, asked of ``Rscript`` once per process (None where absent)."""
    versions: dict[str, str | None] = {"R": None, **dict.fromkeys(R_PACKAGES)}
    rscript = shutil.which("Rscript")
    if rscript is None:
        return versions
    try:
        out = subprocess.run(
            [rscript, "--vanilla", "-e", _R_VERSIONS_SCRIPT],
            capture_output=True, text=True, timeout=60, check=True,
            env={**os.environ, "VS_R_PACKAGES": ",".join(R_PACKAGES)},
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return versions
    for line in out.splitlines():
        name, _, version = line.partition("\t")
        if name in versions:
            versions[name] = version.strip() or None
    return versions


def environment() -> dict[str, Any]:
    """Versions recorded with every stage: package, git revision, Python, platform, R and R packages."""
    return {
        "code": code_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "r": r_versions(),
    }


# --------------------------------------------------------------------------------------------------
# Reading and writing


def _empty_manifest(study: Study) -> dict[str, Any]:
    return {"manifest_version": MANIFEST_VERSION, "study": study.name, "stages": {}, "pipeline": {}}


def read_manifest(study: Study) -> dict[str, Any]:
    """The study's manifest, or an empty one when the study has not run any stage yet."""
    path = study.paths.manifest
    if not path.exists():
        return _empty_manifest(study)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"unreadable manifest ({exc}); delete it to redo every stage", path=path) from exc
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise DataError("not a valuesurvey manifest (no 'stages' mapping)", path=path)
    data.setdefault("pipeline", {})
    return data


@contextlib.contextmanager
def _locked(study: Study) -> Iterator[None]:
    study.root.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(study.root / ".manifest.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_stage(
    study: Study,
    stage: str,
    *,
    inputs: Mapping[str, Any] | Iterable[Path],
    outputs: Iterable[Path],
    seconds: float,
    extra: Mapping[str, Any] | None = None,
    section: str = "stages",
) -> dict[str, Any]:
    """Merge one finished stage into ``manifest.json`` (atomically, under a lock).

    Parameters
    ----------
    study : Study
        The study whose directory holds the manifest.
    stage : str
        Stage name (``elicit``, ``humans``, ``analyze``, ``figures``, ``report`` …).
    inputs : mapping or iterable of paths
        What the stage read: label → path or JSON-able value (see :func:`hash_inputs`).
    outputs : iterable of paths
        Files or directories the stage wrote; each file is hashed.
    seconds : float
        Wall-clock duration of the stage.
    extra : mapping, optional
        Anything else worth recording (counts, settings); must be JSON-able.
    section : str
        ``stages`` (what stage modules record about themselves) or ``pipeline`` (the records
        :func:`valuesurvey.pipeline.run_study` resumes from; kept apart so that a stage recording
        itself with its own choice of inputs never makes the pipeline think it is stale).

    Returns
    -------
    dict
        The stage's entry as written.
    """
    entry = {
        "inputs": hash_inputs(study, inputs),
        "outputs": _hash_outputs(study, outputs),
        "seconds": round(float(seconds), 3),
        "completed_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "extra": dict(extra or {}),
    }
    with _locked(study):
        manifest = read_manifest(study)
        manifest["manifest_version"] = MANIFEST_VERSION
        manifest["study"] = study.name
        manifest["environment"] = entry["environment"]
        manifest.setdefault(section, {})[stage] = entry
        write_json(study.paths.manifest, manifest)
    return entry


def forget_stage(study: Study, stage: str, *, section: str = "stages") -> None:
    """Remove a stage's entry, so that the next run redoes it."""
    with _locked(study):
        manifest = read_manifest(study)
        if manifest.get(section, {}).pop(stage, None) is not None:
            write_json(study.paths.manifest, manifest)


def stage_is_current(
    study: Study,
    stage: str,
    inputs: Mapping[str, Any] | Iterable[Path],
    *,
    check_outputs: bool = True,
    section: str = "stages",
) -> bool:
    """True when ``stage`` finished before with exactly these inputs and its outputs are intact.

    Outputs are re-hashed (an output edited or deleted by hand makes the stage stale), except SQLite
    files, which are only checked to exist: opening a WAL database may rewrite its header without
    changing its content.
    """
    entry = read_manifest(study).get(section, {}).get(stage)
    if entry is None or entry.get("inputs") != hash_inputs(study, inputs):
        return False
    if not check_outputs:
        return True
    for label, recorded in entry.get("outputs", {}).items():
        path = study.resolve(Path(label))
        if not path.is_file():
            return False
        if path.suffix != ".sqlite" and sha256_file(path) != recorded:
            return False
    return True
