"""The journal artifact: one zip a reviewer unpacks to check and re-run a study.

Layout (every path below the top folder ``<study>-artifact/``)::

    README.md                 what is inside and the commands that reproduce every table and figure
    SHA256SUMS                sha256 of every other file (``sha256sum -c SHA256SUMS``)
    code/                     the package source (valuesurvey/), R/, reports/, pyproject.toml, Makefile
    code/VERSION.json         package version, git commit and dirty flag (and git-diff.patch when dirty)
    study/                    study.yaml, responses.sqlite, llm_ratings/rankings, similarity/,
                              estimates/, figures/, report/, manifest.json
    instruments/              each instrument as JSON, and hashes.json (content hash per instrument)
    environment/              pip-freeze.txt, R-sessionInfo.txt, dpkg-packages.txt, platform.json

Human microdata (the files named in ``study.humans`` and their copies in ``study/humans/``) are left
out unless ``include_human_data=True``, because their licences usually forbid redistribution.
Files marked ``synthetic: true`` in study.yaml are ours and always included.
"""

from __future__ import annotations

import functools
import importlib
import json
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from valuesurvey._io import atomic_path, sha256_file
from valuesurvey.errors import DataError
from valuesurvey.manifest import PACKAGE_ROOT, REPO_ROOT, code_revision
from valuesurvey.study import Study, load_study

__all__ = ["build_artifact"]

_CODE_FILES = ("pyproject.toml", "Makefile", "README.md", "_quarto.yml", "scripts/setup.sh", "data/README.md")
_CODE_DIRS = ("R", "reports", "benchmarks")
_SKIPPED_SUFFIXES = (".pyc", ".tmp", ".lock", "-wal", "-shm", "-journal", ".zip")
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", "_freeze", ".quarto", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class _Entry:
    """One file of the artifact: its name in the zip, and where its bytes come from."""

    name: str
    source: Path | None = None
    data: bytes | None = None


def _wanted(path: Path) -> bool:
    return (
        path.is_file()
        and not path.name.endswith(_SKIPPED_SUFFIXES)
        and not (path.name.startswith(".") and path.name != ".gitignore")
        and not (_SKIPPED_PARTS & set(path.parts))
    )


def _tree(base: Path, prefix: str) -> Iterator[_Entry]:
    if base.is_file():
        yield _Entry(prefix, base)
        return
    for path in sorted(base.rglob("*")):
        if _wanted(path):
            yield _Entry(f"{prefix}/{path.relative_to(base).as_posix()}", path)


# ------------------------------------------------------------------------------------------------ code


def _git(*args: str) -> str | None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        return None
    try:
        return subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _code_entries() -> Iterator[_Entry]:
    revision = code_revision()
    yield _Entry("code/VERSION.json", data=_json_bytes(revision))
    if revision.get("dirty"):
        diff = _git("diff", "HEAD", "--", "valuesurvey", "R")
        if diff:
            yield _Entry("code/git-diff.patch", data=diff.encode("utf-8"))
    yield from _tree(PACKAGE_ROOT, "code/valuesurvey")
    for name in _CODE_DIRS:
        if (REPO_ROOT / name).is_dir():
            yield from _tree(REPO_ROOT / name, f"code/{name}")
    for name in _CODE_FILES:
        if (REPO_ROOT / name).is_file():
            yield _Entry(f"code/{name}", REPO_ROOT / name)


# ----------------------------------------------------------------------------------------------- study


def _human_files(study: Study) -> dict[str, tuple[Path, bool]]:
    """instrument → (resolved source file, synthetic?)."""
    return {name: (study.resolve(spec.path).resolve(), spec.synthetic) for name, spec in study.humans.items()}


def _sqlite_snapshot(path: Path, scratch: Path) -> Path:
    """A consistent copy of a (possibly WAL-mode, possibly open) SQLite database."""
    target = scratch / path.name
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
    except sqlite3.Error as exc:
        raise DataError(f"cannot snapshot the response store ({exc})", path=path) from exc
    return target


def _study_entries(
    study: Study, include_human_data: bool, scratch: Path, exclude: Path | None
) -> tuple[list[_Entry], list[str]]:
    """The study directory's files, human data filtered, and notes on what was left out."""
    root = study.root.resolve()
    humans = _human_files(study)
    private_sources = {path for path, synthetic in humans.values() if not synthetic}
    # humans/<instrument>.parquet are copies of microdata: private unless built from a synthetic file.
    synthetic_tables = {study.paths.humans(name).resolve() for name, (_, synth) in humans.items() if synth}
    private_tables = {
        p.resolve() for p in study.paths.humans_dir.glob("*.parquet") if p.resolve() not in synthetic_tables
    }
    entries: list[_Entry] = []
    notes: list[str] = []
    for path in sorted(root.rglob("*")):
        resolved = path.resolve()
        if not _wanted(path) or resolved == exclude:
            continue
        name = f"study/{path.relative_to(root).as_posix()}"
        if not include_human_data and (resolved in private_sources or resolved in private_tables):
            notes.append(name)
            continue
        if path.suffix == ".sqlite":
            path = _sqlite_snapshot(path, scratch)
        entries.append(_Entry(name, path))
    rewritten = _external_human_files(study, humans, include_human_data, entries, notes)
    entries = [e for e in entries if e.name != "study/study.yaml"]
    entries.insert(0, _Entry("study/study.yaml", data=rewritten.encode("utf-8")))
    if rewritten != study.paths.study_yaml.read_text(encoding="utf-8"):
        entries.append(_Entry("study/study.original.yaml", study.paths.study_yaml))
    return entries, notes


def _external_human_files(
    study: Study,
    humans: dict[str, tuple[Path, bool]],
    include_human_data: bool,
    entries: list[_Entry],
    notes: list[str],
) -> str:
    """Copy human files that live outside the study directory into ``study/human-data/``.

    Returns the study.yaml text to ship, with those paths rewritten to the copies.
    """
    text = study.paths.study_yaml.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    root = study.root.resolve()
    changed = False
    for name, (source, synthetic) in sorted(humans.items()):
        if source.is_relative_to(root):
            continue
        if not (include_human_data or synthetic):
            notes.append(str(source))
            continue
        if not source.is_file():
            notes.append(f"{source} (missing)")
            continue
        target = f"human-data/{name}-{source.name}"
        entries.append(_Entry(f"study/{target}", source))
        data["humans"][name]["path"] = target
        changed = True
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True) if changed else text


# ----------------------------------------------------------------------------------------- instruments


def _instrument_entries(study: Study) -> Iterator[_Entry]:
    try:
        instruments = importlib.import_module("valuesurvey.instruments")
    except ImportError:
        yield _Entry("instruments/MISSING.txt", data=b"valuesurvey.instruments was not importable\n")
        return
    hashes: dict[str, str | None] = {}
    for instrument_id in study.instruments:
        instrument = instruments.get(instrument_id)
        hashes[instrument_id] = getattr(instrument, "content_hash", None)
        payload = instrument.model_dump(mode="json") if hasattr(instrument, "model_dump") else str(instrument)
        yield _Entry(f"instruments/{instrument_id}.json", data=_json_bytes(payload))
    yield _Entry("instruments/hashes.json", data=_json_bytes(hashes))


# ----------------------------------------------------------------------------------------- environment


def _command_output(args: list[str], timeout: float = 120) -> bytes:
    if shutil.which(args[0]) is None and not Path(args[0]).exists():
        return f"{args[0]} not found on this machine\n".encode()
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{' '.join(args)} failed: {exc}\n".encode()
    return done.stdout + (done.stderr if done.returncode else b"")


def _environment_entries() -> Iterator[_Entry]:
    for name, data in _environment_files():
        yield _Entry(name, data=data)


@functools.cache
def _environment_files() -> tuple[tuple[str, bytes], ...]:
    """The environment, captured once per process (pip, R and dpkg take seconds to ask)."""
    return tuple((entry.name, entry.data or b"") for entry in _capture_environment())


def _capture_environment() -> Iterator[_Entry]:
    yield _Entry("environment/pip-freeze.txt", data=_command_output([sys.executable, "-m", "pip", "freeze"]))
    session_info = (
        "for (p in c('lme4','lmerTest','emmeans','broom.mixed','pbkrtest','data.table'))"
        " suppressMessages(requireNamespace(p, quietly = TRUE)); print(sessionInfo())"
    )
    yield _Entry("environment/R-sessionInfo.txt", data=_command_output(["Rscript", "-e", session_info]))
    yield _Entry(
        "environment/dpkg-packages.txt",
        data=_command_output(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${Architecture}\n"]),
    )
    yield _Entry(
        "environment/platform.json",
        data=_json_bytes(
            {
                "python": sys.version,
                "implementation": platform.python_implementation(),
                "platform": platform.platform(),
                "machine": platform.machine(),
            }
        ),
    )


# -------------------------------------------------------------------------------------------- README


def _readme(study: Study, entries: list[_Entry], notes: list[str], include_human_data: bool) -> str:
    names = [e.name for e in entries]
    estimates = [n.removeprefix("study/") for n in names if n.startswith("study/estimates/")]
    figures = [n.removeprefix("study/") for n in names if n.startswith("study/figures/")]
    reports = [n.removeprefix("study/") for n in names if n.startswith("study/report/")]
    revision = code_revision()
    lines = [
        f"# Artifact: {study.title or study.name}",
        "",
        f"Study `{study.name}`, valuesurvey {revision['version']}, git commit "
        f"`{revision.get('commit') or 'unknown'}`{' (with uncommitted changes: code/git-diff.patch)' if revision.get('dirty') else ''}.",
        "",
    ]
    if study.synthetic_note:
        lines += [f"**Note:** {study.synthetic_note}", ""]
    lines += [
        "## Contents",
        "",
        "- `code/`: the exact source of the package (`valuesurvey/`), the R functions (`R/`), the Quarto",
        "  sources (`reports/`), `pyproject.toml` and the setup script.",
        "- `study/`: `study.yaml`, the raw responses (`responses.sqlite`: every request, raw answer and",
        "  attempt), the derived tables (`llm_ratings.parquet`, `rankings.parquet`, `similarity/`,",
        "  `estimates/`), the figures, the rendered report and `manifest.json` (input hashes, versions, timings).",
        "- `instruments/`: every instrument's items, prompts and content hash (`hashes.json`).",
        "- `environment/`: `pip freeze`, R `sessionInfo()`, Debian package versions, platform.",
        "- `SHA256SUMS`: checksums of every file. Check with `sha256sum -c SHA256SUMS` from this folder.",
        "",
        "## Human data",
        "",
    ]
    if notes:
        lines += [
            "These files were left out because human microdata are licensed to their users; obtain them",
            "from the original archives (see `code/data/README.md`) and put them where `study/study.yaml`",
            "names them before re-running the `analyze` stage:",
            "",
            *[f"- `{note}`" for note in notes],
            "",
        ]
    elif include_human_data:
        lines += [
            "Human microdata are included (built with `--include-human-data`): check their licences.",
            "",
        ]
    else:
        lines += ["The study's human data files are synthetic and included.", ""]
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "sha256sum -c SHA256SUMS                      # every file is intact",
        "cd code && make setup && cd ..               # R (Debian packages) + a venv with the package",
        "                                             # (elsewhere: bash code/scripts/setup.sh prints what to install)",
        "PY=code/.venv/bin",
        "# The analysis from the shipped responses: similarity, RQ1-RQ3 (lm and lmer), ranking analysis",
        "$PY/valuesurvey run study/study.yaml --stages analyze --force",
        "# The figures and the report (HTML and PDF)",
        "$PY/valuesurvey run study/study.yaml --stages figures,report --force",
        "# The R models without Python, from the exported data (for reviewers who prefer R):",
        "Rscript code/R/run_models.R study",
        "# Re-asking the models (needs the API keys named in study.yaml; completed answers in",
        "# responses.sqlite are reused, so this sends only what is missing):",
        "$PY/valuesurvey resume study/study.yaml",
        "```",
        "",
        "Tables written by the `analyze` stage:",
        "",
        *([f"- `{name}`" for name in estimates] or ["- (none)"]),
        "",
        "Figures written by the `figures` stage:",
        "",
        *([f"- `{name}`" for name in figures] or ["- (none)"]),
        "",
        "Rendered report (`report` stage):",
        "",
        *([f"- `{name}`" for name in reports] or ["- (none)"]),
        "",
        "The analysis is deterministic (seeded with `analysis.seed` in study.yaml): re-running it gives",
        "the same `estimates/*.csv`. `R/run_models.R`, a separate R process, gives the same fixed-effect",
        "estimates (to about 1e-9) and REML criteria (to 1e-12); lmer standard errors, variance components,",
        "Satterthwaite df, p-values and confidence limits may differ from the fourth significant digit on,",
        "because where the optimum of a weakly identified variance lands depends on the memory layout of",
        "the process. Larger differences mean a different model or data.",
        "",
    ]
    return "\n".join(lines)


def _json_bytes(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode("utf-8")


def _checksums(entries: list[_Entry]) -> bytes:
    import hashlib

    lines = []
    for entry in entries:
        digest = (
            hashlib.sha256(entry.data).hexdigest() if entry.data is not None else sha256_file(entry.source)
        )
        lines.append(f"{digest}  {entry.name}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def build_artifact(
    study: Study | str | Path, *, include_human_data: bool = False, out: str | Path | None = None
) -> Path:
    """Write the study's journal artifact zip (see the module docstring for its layout).

    Parameters
    ----------
    study : Study, str or Path
        The study (or its study.yaml / directory).
    include_human_data : bool
        Include human microdata (the source files and ``humans/*.parquet``). Off by default: most
        licences forbid redistribution. Files marked synthetic are always included.
    out : str or Path, optional
        The zip to write; default ``<study dir>/<name>-artifact.zip``.

    Returns
    -------
    Path
        The zip written (atomically).
    """
    study = study if isinstance(study, Study) else load_study(study)
    target = Path(out) if out is not None else study.root / f"{study.name}-artifact.zip"
    top = f"{study.name}-artifact"
    with tempfile.TemporaryDirectory(prefix="vs-artifact-") as scratch:
        study_entries, notes = _study_entries(study, include_human_data, Path(scratch), target.resolve())
        entries = [
            *_code_entries(),
            *study_entries,
            *_instrument_entries(study),
            *_environment_entries(),
        ]
        entries.insert(
            0, _Entry("README.md", data=_readme(study, entries, notes, include_human_data).encode())
        )
        entries.append(_Entry("SHA256SUMS", data=_checksums(entries)))
        with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in entries:
                arcname = f"{top}/{entry.name}"
                if entry.data is not None:
                    archive.writestr(arcname, entry.data)
                else:
                    archive.write(entry.source, arcname)
    return target
