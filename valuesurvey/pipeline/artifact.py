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

Human microdata never leave the machine unless ``include_human_data=True``: not the files named
in ``study.humans``, not ``humans/<instrument>.parquet``, no answer, mean or z-score of a person
and no respondent id of the release (``D_INTERVIEW``, MFQ-2 ids). What a reviewer needs to re-fit
the models without them, the person × LLM similarity rows (``similarity/<instrument>.parquet``,
``_rq.csv``, ``_reference.parquet``, the person rows of ``exclusions.csv`` and
``zero_variance.csv``), ships under pseudonymous participant ids: a keyed hash whose random key
exists only while the zip is written. ``similarity/<instrument>_zscores.parquet`` keeps the LLMs'
rows only. A human file ships as is only when the file itself is labelled synthetic (its file
label, notes or label column; the ``synthetic:`` flag of study.yaml alone is not enough, because a
copied flag must not publish real data).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import json
import logging
import platform
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from valuesurvey._io import atomic_path, sha256_file
from valuesurvey.errors import DataError
from valuesurvey.manifest import PACKAGE_ROOT, REPO_ROOT, code_revision
from valuesurvey.study import Study, load_study

__all__ = ["build_artifact"]

log = logging.getLogger(__name__)

_CODE_FILES = ("pyproject.toml", "Makefile", "README.md", "_quarto.yml", "scripts/setup.sh", "data/README.md")
_CODE_DIRS = ("R", "reports", "benchmarks")
_SKIPPED_SUFFIXES = (".pyc", ".tmp", ".lock", "-wal", "-shm", "-journal", ".zip")
_SKIPPED_PARTS = {
    "__pycache__", ".pytest_cache", ".ruff_cache", "_freeze", ".quarto", ".ipynb_checkpoints", "_figures",
    "_manuscript",
}  # fmt: skip


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


@dataclass(frozen=True)
class _HumanSource:
    """One human data file named in study.yaml, and whether it may ship."""

    instrument: str
    path: Path
    shippable: bool
    why: str


def _synthetic_in_file(study: Study, instrument: str, path: Path) -> str | None:
    """The file's own synthetic label: from its load report when it describes this file, else read."""
    report_path = study.paths.humans_dir / f"{instrument}_load_report.json"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        if Path(report.get("file", "")).resolve() == path and "synthetic_in_file" in report:
            return report.get("synthetic_evidence") if report["synthetic_in_file"] else None
    except (OSError, ValueError):
        pass
    try:
        from valuesurvey.humans._readers import file_synthetic_evidence

        return file_synthetic_evidence(path, study.humans[instrument].format)
    except Exception as exc:  # a missing or unreadable file is treated as microdata: never shipped
        log.info("%s: cannot read its label (%s); treated as microdata", path, exc)
        return None


def _human_sources(study: Study, include_human_data: bool) -> dict[str, _HumanSource]:
    sources = {}
    for name, spec in study.humans.items():
        path = study.resolve(spec.path).resolve()
        if include_human_data:
            sources[name] = _HumanSource(name, path, True, "included with --include-human-data")
            continue
        evidence = _synthetic_in_file(study, name, path)
        if evidence is not None:
            sources[name] = _HumanSource(name, path, True, f"synthetic: {evidence}")
        elif spec.synthetic:
            why = "study.yaml says synthetic, but the file carries no synthetic label: treated as microdata"
            log.warning("artifact: humans.%s: %s", name, why)
            sources[name] = _HumanSource(name, path, False, why)
        else:
            sources[name] = _HumanSource(name, path, False, "microdata")
    return sources


class _Pseudonyms:
    """Participant id → pseudonym, a keyed hash (HMAC-SHA256) whose key is random and never stored."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def __call__(self, instrument: str, ids: pd.Series) -> pd.Series:
        text = ids.astype("string")
        mapping = {
            value: "p"
            + hmac.new(self._key, f"{instrument}\0{value}".encode(), hashlib.sha256).hexdigest()[:16]
            for value in pd.unique(text.dropna())
        }
        if len(set(mapping.values())) != len(mapping):  # 64 bits: a collision is a bug, never silent
            raise DataError(f"{instrument}: two participants got the same pseudonym; build again")
        return text.map(mapping).astype(object)


_PERSON_TABLES = ("{i}.parquet", "{i}_reference.parquet", "{i}_rq.csv")


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"participant": "string"}, keep_default_na=True)
    return pd.read_parquet(path)


def _write_table(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    else:
        frame.to_parquet(path, index=False)
    return path


#: Columns that identify a row of a person × LLM table besides the participant.
_ROW_KEYS = ("nationality", "model", "origin", "language", "persona", "removed", "source", "group")


def _canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows nested as before (the slowest-changing key outermost, each key's levels in their
    original order of appearance), with the participants innermost, in pseudonym order.

    The release's order of respondents does not survive, and every other column keeps the order in
    which its levels first appear, which R uses for factor levels and so for the order of terms.
    """
    keys = [c for c in _ROW_KEYS if c in frame.columns]
    runs = {c: int((frame[c] != frame[c].shift()).sum()) for c in keys}
    keys.sort(key=runs.__getitem__)
    ranks = {f"_rank_{c}": pd.Categorical(frame[c], categories=pd.unique(frame[c])).codes for c in keys}
    ordered = frame.assign(**ranks).sort_values([*ranks, "participant"], kind="stable")
    return ordered.drop(columns=list(ranks)).reset_index(drop=True)


def _pseudonymised(path: Path, instrument: str, pseudonyms: _Pseudonyms, scratch: Path, name: str) -> Path:
    """A copy of a person × LLM table with pseudonyms, in :func:`_canonical_order`."""
    frame = _read_table(path)
    frame["participant"] = pseudonyms(instrument, frame["participant"])
    return _write_table(_canonical_order(frame), scratch / name)


def _person_rows_pseudonymised(
    path: Path, private: set[str], pseudonyms: _Pseudonyms, scratch: Path, name: str
) -> Path:
    """exclusions.csv, zero_variance.csv, a declared analysis's rows: the person rows of private
    instruments get pseudonyms (the same as in the similarity tables)."""
    frame = pd.read_csv(path, dtype={"participant": "string"})
    if "participant" in frame.columns and not frame.empty:
        person = frame["participant"].notna() & frame["instrument"].astype(str).isin(private)
        for instrument in private:
            rows = person & (frame["instrument"].astype(str) == instrument)
            if rows.any():
                frame.loc[rows, "participant"] = pseudonyms(instrument, frame.loc[rows, "participant"])
    return _write_table(frame, scratch / name)


def _llm_rows_only(path: Path, scratch: Path, name: str) -> Path:
    frame = pd.read_parquet(path)
    return _write_table(frame[frame["source"] != "human"].reset_index(drop=True), scratch / name)


def _has_column(path: Path, column: str) -> bool:
    try:
        if path.suffix == ".parquet":
            return column in pq.read_schema(path).names
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", errors="replace") as handle:
                return column in [c.strip().strip('"') for c in handle.readline().split(",")]
    except (OSError, ValueError):
        return True  # unreadable: cannot tell, so not shipped
    return False


def _sqlite_snapshot(path: Path, scratch: Path) -> Path:
    """A consistent copy of a (possibly WAL-mode, possibly open) SQLite database."""
    target = scratch / path.name
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
    except sqlite3.Error as exc:
        raise DataError(f"cannot snapshot the response store ({exc})", path=path) from exc
    return target


@dataclass
class _HumanNotes:
    """What the README says about human data: left out, pseudonymised, shipped."""

    left_out: list[str]
    pseudonymised: list[str]
    sources: dict[str, _HumanSource]
    private: set[str]


def _study_entries(
    study: Study, include_human_data: bool, scratch: Path, exclude: Path | None
) -> tuple[list[_Entry], _HumanNotes]:
    """The study directory's files with human data left out or pseudonymised (see the module doc)."""
    root = study.root.resolve()
    paths = study.paths
    sources = _human_sources(study, include_human_data)
    rating = [i for i in study.instruments if i != "ai_values"]
    # Tables built from a file that may ship are ours; a table put in humans/ by hand is not.
    present = {i for i in rating if i in sources or paths.humans(i).exists() or paths.similarity(i).exists()}
    private = (
        set() if include_human_data else {i for i in present if not (i in sources and sources[i].shippable)}
    )
    private_sources = {src.path for src in sources.values() if not src.shippable}
    similarity = paths.similarity_dir.resolve()
    person_tables = {
        (similarity / pattern.format(i=i)).resolve(): i for i in private for pattern in _PERSON_TABLES
    }
    zscores = {(similarity / f"{i}_zscores.parquet").resolve() for i in private}
    person_rows = {(similarity / "exclusions.csv").resolve(), (similarity / "zero_variance.csv").resolve()}
    # The rows a declared analysis of the similarity table was fitted on (analyses/<name>_rows.csv).
    declared_rows = {(study.root / "analyses" / f"{a.name}_rows.csv").resolve() for a in study.analyses}
    shared = {i for i in rating if i not in private}  # per-person tables that ship as they are
    known = {
        *(
            (similarity / p.format(i=i)).resolve()
            for i in shared
            for p in (*_PERSON_TABLES, "{i}_zscores.parquet")
        ),
        *(paths.humans(i).resolve() for i in shared),
    }
    build_dir = (paths.report_dir / "_build").resolve()
    pseudonyms = _Pseudonyms()
    notes = _HumanNotes([], [], sources, private)
    entries: list[_Entry] = []
    for path in sorted(root.rglob("*")):
        resolved = path.resolve()
        if not _wanted(path) or resolved == exclude or resolved.is_relative_to(build_dir):
            continue
        relative = path.relative_to(root).as_posix()
        name = f"study/{relative}"
        humans_table = resolved.parent == paths.humans_dir.resolve() and path.suffix == ".parquet"
        if resolved in private_sources or (humans_table and not include_human_data and resolved not in known):
            notes.left_out.append(name)
            continue
        if resolved in person_tables:
            path = _pseudonymised(path, person_tables[resolved], pseudonyms, scratch / "p", relative)
            notes.pseudonymised.append(f"`{name}`")
        elif resolved in zscores:
            path = _llm_rows_only(path, scratch / "p", relative)
            notes.pseudonymised.append(f"`{name}` (LLM rows only)")
        elif resolved in declared_rows and private and _has_column(path, "participant"):
            if not _has_column(path, "instrument"):  # written before the rows named their instrument
                notes.left_out.append(f"{name} (person rows without their instrument)")
                continue
            path = _person_rows_pseudonymised(path, private, pseudonyms, scratch / "p", relative)
            notes.pseudonymised.append(f"`{name}` (person rows)")
        elif resolved in person_rows and private:
            path = _person_rows_pseudonymised(path, private, pseudonyms, scratch / "p", relative)
            notes.pseudonymised.append(f"`{name}` (person rows)")
        elif (
            private
            and resolved not in known
            and path.suffix in (".csv", ".parquet")
            and _has_column(path, "participant")
        ):
            notes.left_out.append(f"{name} (a per-person table the artifact does not know)")
            continue
        elif path.suffix == ".sqlite":
            path = _sqlite_snapshot(path, scratch)
        entries.append(_Entry(name, path))
    rewritten = _external_human_files(study, sources, entries, notes.left_out)
    entries = [e for e in entries if e.name != "study/study.yaml"]
    entries.insert(0, _Entry("study/study.yaml", data=rewritten.encode("utf-8")))
    if rewritten != study.paths.study_yaml.read_text(encoding="utf-8"):
        entries.append(_Entry("study/study.original.yaml", study.paths.study_yaml))
    return entries, notes


def _external_human_files(
    study: Study, sources: dict[str, _HumanSource], entries: list[_Entry], left_out: list[str]
) -> str:
    """Copy shippable human files that live outside the study directory into ``study/human-data/``.

    Returns the study.yaml text to ship, with those paths rewritten to the copies.
    """
    text = study.paths.study_yaml.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    root = study.root.resolve()
    changed = False
    for name, source in sorted(sources.items()):
        if source.path.is_relative_to(root):
            continue
        if not source.shippable:
            left_out.append(str(source.path))
            continue
        if not source.path.is_file():
            left_out.append(f"{source.path} (missing)")
            continue
        target = f"human-data/{name}-{source.path.name}"
        entries.append(_Entry(f"study/{target}", source.path))
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
    found = instruments.for_study(study)  # as elicited: user files and item subsets included
    for instrument_id in study.instruments:
        instrument = found[instrument_id]
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


def _source_facts(study: Study, instrument: str) -> str:
    """File name, release and sha256 of a human file, from its load report and the manifest."""
    facts = []
    try:
        report = json.loads((study.paths.humans_dir / f"{instrument}_load_report.json").read_text("utf-8"))
    except (OSError, ValueError):
        report = {}
    if report.get("release"):
        facts.append(f"release: {report['release']}")
    if report.get("layout"):
        facts.append(f"layout: {report['layout']}")
    try:
        manifest = json.loads(study.paths.manifest.read_text(encoding="utf-8"))
        digest = manifest["stages"]["humans"]["inputs"][f"{instrument}_file"]
        facts.append(f"sha256 {digest}")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return "; ".join(facts)


def _human_data_section(study: Study, notes: _HumanNotes, include_human_data: bool) -> list[str]:
    lines = ["## Human data", ""]
    if include_human_data:
        return [
            *lines,
            "Human microdata are included (built with `--include-human-data`): check their licences",
            "before you share this file.",
            "",
        ]
    shipped = [src for src in notes.sources.values() if src.shippable]
    for src in shipped:
        lines.append(f"- `{src.instrument}`: `{src.path.name}` is included ({src.why}).")
    if shipped:
        lines.append("")
    if not notes.private:
        return lines
    lines += [
        "Human microdata are licensed to their users and are not in this artifact: no answer, mean or",
        "z-score of a person, and no respondent id of the release. Left out:",
        "",
        *[f"- `{note}`" for note in notes.left_out],
        "",
    ]
    for instrument in sorted(notes.private):
        src = notes.sources.get(instrument)
        if src is None:
            lines.append(
                f"- `{instrument}`: the humans table was put into `humans/` by hand (no source file)."
            )
            continue
        facts = _source_facts(study, instrument)
        lines.append(f"- `{instrument}`: `{src.path.name}` ({src.why}{'; ' + facts if facts else ''}).")
    lines += [
        "",
        "What ships instead is what the models need: one row per person × LLM condition (× removed",
        "dimension or question) with the person's nationality and the cosine similarity, under",
        "pseudonymous participant ids (a keyed hash whose random key existed only while this zip was",
        "written, so nobody can map them back to the release's ids), rows ordered by pseudonym:",
        "",
        *[f"- {name}" for name in notes.pseudonymised],
        "",
        "These rows are pseudonymous, not anonymous: with the LLM ratings shipped here, a person's",
        "cosines across many LLM conditions determine the direction of that person's z-scored answers.",
        "Treat them as derived personal data under the data's licence.",
        "",
        "`Rscript code/R/run_models.R study OUT` re-fits every RQ1-RQ3 model (lm and lmer) from",
        "`similarity/<instrument>_rq.csv`, and the analyses declared in study.yaml (`analyses:`) from",
        "`analyses/<name>_rows.csv`, and writes the tables of `estimates/` into `OUT`. To rebuild",
        "everything else (humans tables, z-scores, similarity, figures, report), obtain the files from the",
        "archives (`code/data/README.md` says where and how: WVS-7 from the World Values Survey archive,",
        "MFQ-2 from OSF), put each where `study/study.yaml` names it under `humans:` (or edit that path),",
        "and run:",
        "",
        "```sh",
        "code/.venv/bin/valuesurvey run study/study.yaml --stages analyze,figures,report --force",
        "```",
        "",
        "The humans stage checks the file's layout and prints its release; the sha256 above tells you",
        "whether you have the same file. The pseudonymised files above differ from the originals whose",
        "hashes `study/manifest.json` records.",
        "",
    ]
    return lines


def _readme(study: Study, entries: list[_Entry], notes: _HumanNotes, include_human_data: bool) -> str:
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
        *_human_data_section(study, notes, include_human_data),
        "## Reproduce",
        "",
        "```sh",
        "sha256sum -c SHA256SUMS                      # every file is intact",
        "cd code && make setup && cd ..               # R (Debian packages) + a venv with the package",
        "                                             # (elsewhere: bash code/scripts/setup.sh prints what to install)",
        "PY=code/.venv/bin",
        "# The analysis from the shipped responses: similarity, RQ1-RQ3 (lm and lmer), ranking analysis",
        "# (needs the human data files: see Human data above when they are not included)",
        "$PY/valuesurvey run study/study.yaml --stages analyze --force",
        "# The figures and the report (HTML and PDF)",
        "$PY/valuesurvey run study/study.yaml --stages figures,report --force",
        "# The R models without Python (RQ1-RQ3 and the declared analyses), from the exported rows",
        "# (no human file needed):",
        "Rscript code/R/run_models.R study refit",
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
