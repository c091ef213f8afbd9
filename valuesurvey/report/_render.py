"""Render the manuscript: ``quarto render`` when Quarto ≥ 1.4 is installed, else pandoc 3 + typst.

Both renderers work on a staged copy in ``STUDY_DIR/report/_build/`` (the Quarto sources, the
bibliography and a copy of ``STUDY_DIR/figures/``), so nothing is written into the repository and
typst, which refuses files outside its root, sees every figure. Finished HTML and PDF are moved
into ``STUDY_DIR/report/`` atomically.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from valuesurvey._io import atomic_path
from valuesurvey.errors import ConfigError, MissingComponentError
from valuesurvey.figures._data import StudyTables, synthetic_label
from valuesurvey.report._crossref import resolve_crossrefs
from valuesurvey.report._execute import RenderError, execute_document
from valuesurvey.report._qmd import parse_qmd
from valuesurvey.study import Study

__all__ = ["MANUSCRIPT", "quarto_version", "render_with_pandoc", "render_with_quarto", "sources_dir"]

log = logging.getLogger(__name__)

MANUSCRIPT = "manuscript.qmd"
MIN_QUARTO = (1, 4)
#: Front-matter keys pandoc understands; Quarto-only keys (format, execute, jupyter…) are dropped.
PANDOC_META = (
    "title",
    "subtitle",
    "author",
    "date",
    "lang",
    "bibliography",
    "csl",
    "link-citations",
    "toc-title",
)
TYPST_HEADER = "#set figure(numbering: none)\n#set par(justify: true)\n"


def typst_footer(note: str | None) -> str:
    """A page footer stamping ``note`` on every page (with the page number), as a typst set rule.

    It goes into the header, before the template's ``#show`` rule: a page set rule inside the
    body would start a new page (and is refused inside containers).

    Examples
    --------
    >>> print(typst_footer('SIMULATED "demo"'))
    #set page(footer: [#set text(size: 7pt, fill: rgb("#D55E00"), weight: "bold"); #"SIMULATED \\"demo\\"" #h(1fr) #context counter(page).display()])
    <BLANKLINE>
    """
    if not note:
        return ""
    literal = '"' + note.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    return (
        f'#set page(footer: [#set text(size: 7pt, fill: rgb("#D55E00"), weight: "bold"); '
        f"#{literal} #h(1fr) #context counter(page).display()])\n"
    )


def sources_dir() -> Path:
    """The repository's ``reports/`` folder (Quarto sources) next to ``_quarto.yml``."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "reports"
    if not (folder / MANUSCRIPT).exists():
        raise MissingComponentError(
            f"the Quarto sources ({folder / MANUSCRIPT})",
            "use a source checkout of valuesurvey (pip install -e .)",
        )
    return folder


def quarto_version() -> tuple[int, ...] | None:
    """The installed Quarto version, or None when Quarto is not on PATH."""
    exe = shutil.which("quarto")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    numbers = re.findall(r"\d+", out)
    return tuple(int(n) for n in numbers[:3]) if numbers else None


def _stage(study: Study, build: Path) -> Path:
    """Copy the sources and the study's figures into ``build``; return the staged reports dir."""
    if build.exists():
        shutil.rmtree(build)
    source = sources_dir()
    reports = build / "reports"
    shutil.copytree(source, reports, ignore=shutil.ignore_patterns("_freeze", "*_files", ".quarto"))
    config = source.parent / "_quarto.yml"
    if config.exists():
        shutil.copy2(config, build / "_quarto.yml")
    if study.paths.figures_dir.is_dir():
        shutil.copytree(study.paths.figures_dir, reports / "figures")
    return reports


def _publish(built: Path, target: Path) -> Path:
    with atomic_path(target) as tmp:
        shutil.copyfile(built, tmp)
    return target


def _pandoc() -> str:
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as exc:
        raise MissingComponentError("pandoc 3 (pypandoc-binary)", "pip install pypandoc-binary") from exc


def _run(cmd: Sequence[str], cwd: Path, what: str) -> None:
    result = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise RenderError(f"{what} failed (exit {result.returncode}): {message[-1] if message else ''}")
    for line in result.stderr.splitlines():
        log.info("%s: %s", what, line)


def _front_matter(meta: dict[str, Any]) -> str:
    kept = {k: meta[k] for k in PANDOC_META if k in meta}
    return "---\n" + yaml.safe_dump(kept, sort_keys=False, allow_unicode=True) + "---\n\n"


def render_with_pandoc(study: Study, formats: Sequence[str], *, timeout: int = 900) -> list[Path]:
    """Execute the cells with a Jupyter kernel, resolve cross-references, convert with pandoc/typst."""
    report_dir = study.paths.report_dir
    reports = _stage(study, report_dir / "_build")
    doc = parse_qmd((reports / MANUSCRIPT).read_text(encoding="utf-8"), name=str(sources_dir() / MANUSCRIPT))
    body = execute_document(doc, cwd=reports, params={"study_dir": str(study.root)}, timeout=timeout)
    body, refs = resolve_crossrefs(body)
    if refs.unresolved:
        log.warning("unresolved cross-references: %s", ", ".join(sorted(set(refs.unresolved))))
    markdown = reports / "manuscript.md"
    markdown.write_text(_front_matter(doc.front_matter) + body, encoding="utf-8")
    pandoc = _pandoc()
    common = [pandoc, markdown.name, "--from=markdown", "--standalone", "--citeproc", "--number-sections"]
    written = []
    stem = study.name
    if "html" in formats:
        css = ["--css=style.css"] if (reports / "style.css").exists() else []
        note = synthetic_label(study, StudyTables(study))
        if note:  # a banner above the title and the table of contents, not only a callout below them
            (reports / "banner.html").write_text(
                f'<div class="synthetic-banner" role="note">{html.escape(note)}</div>\n', encoding="utf-8"
            )
            css.append("--include-before-body=banner.html")
        _run(
            [*common, "--to=html5", "--embed-resources", "--toc", *css, "--output=manuscript.html"],
            reports,
            "pandoc (html)",
        )
        written.append(_publish(reports / "manuscript.html", report_dir / f"{stem}.html"))
    if "pdf" in formats:
        note = synthetic_label(study, StudyTables(study))
        (reports / "header.typ").write_text(TYPST_HEADER + typst_footer(note), encoding="utf-8")
        _run(
            [*common, "--to=typst", "--include-in-header=header.typ", "--output=manuscript.typ"],
            reports,
            "pandoc (typst)",
        )
        written.append(_publish(_typst_pdf(reports / "manuscript.typ"), report_dir / f"{stem}.pdf"))
    return written


def _typst_pdf(source: Path) -> Path:
    try:
        import typst
    except ImportError as exc:
        raise MissingComponentError("typst (Python wheel)", "pip install typst") from exc
    output = source.with_suffix(".pdf")
    try:
        typst.compile(str(source), output=str(output), root=str(source.parent))
    except Exception as exc:  # typst raises its own error type; the message names file and line
        raise RenderError(f"typst {source.name}: {str(exc).strip().splitlines()[0]}") from exc
    return output


def render_with_quarto(study: Study, formats: Sequence[str]) -> list[Path]:
    """``quarto render`` the staged manuscript with ``-P study_dir:…`` and collect HTML and PDF."""
    exe = shutil.which("quarto")
    if exe is None:
        raise MissingComponentError("Quarto", "install Quarto >= 1.4 from https://quarto.org")
    report_dir = study.paths.report_dir
    build = report_dir / "_build"
    _stage(study, build)
    out_dir = build / "_output"
    targets = {"html": "html", "pdf": "typst"}
    written = []
    for fmt in formats:
        cmd = [
            exe,
            "render",
            f"reports/{MANUSCRIPT}",
            "--to",
            targets[fmt],
            "--output-dir",
            str(out_dir),
            "-P",
            f"study_dir:{study.root}",
        ]
        _run(cmd, build, f"quarto render --to {targets[fmt]}")
        suffix = ".html" if fmt == "html" else ".pdf"
        found = sorted(out_dir.rglob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise RenderError(f"quarto render --to {targets[fmt]} wrote no {suffix} file in {out_dir}")
        written.append(_publish(found[-1], report_dir / f"{study.name}{suffix}"))
    return written


def choose_renderer(renderer: Literal["auto", "quarto", "pandoc"]) -> Literal["quarto", "pandoc"]:
    """``auto`` means Quarto when a version ≥ 1.4 is on PATH, else pandoc."""
    if renderer not in ("auto", "quarto", "pandoc"):
        raise ConfigError(f"renderer {renderer!r}: choose auto, quarto or pandoc")
    if renderer != "auto":
        return renderer
    version = quarto_version()
    return "quarto" if version is not None and version >= MIN_QUARTO else "pandoc"
