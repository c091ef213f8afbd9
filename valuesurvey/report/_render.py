"""Render the manuscript: ``quarto render`` when Quarto ≥ 1.4 is installed, else pandoc 3 + typst.

Both renderers work on a staged copy in ``STUDY_DIR/report/_build/`` (the Quarto sources, the
bibliography, the CSL style, ``_quarto.yml`` and a copy of ``STUDY_DIR/figures/`` as
``reports/_figures/``), so nothing is written into the repository and typst, which refuses files
outside its root, sees every figure. Finished HTML and PDF are moved into ``STUDY_DIR/report/``
atomically, named after the study.

What both routes share lives in the sources, not here: the citation style (the front matter's
``csl``), and ``reports/valuesurvey.lua``, which turns the synthetic-data note into the HTML
banner and the PDF footer, lets long tables break across PDF pages and keeps a ";" after a typst
cross-reference.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from valuesurvey._io import atomic_path
from valuesurvey.errors import ConfigError, DataError, MissingComponentError
from valuesurvey.report._crossref import resolve_crossrefs
from valuesurvey.report._execute import RenderError, execute_document
from valuesurvey.report._qmd import parse_qmd
from valuesurvey.report.content import FIGURES_DIR, ReportContent
from valuesurvey.study import Study

__all__ = [
    "MANUSCRIPT",
    "quarto_error",
    "quarto_version",
    "render_with_pandoc",
    "render_with_quarto",
    "sources_dir",
]

log = logging.getLogger(__name__)

MANUSCRIPT = "manuscript.qmd"
LUA_FILTER = "valuesurvey.lua"
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
#: The pandoc route numbers figures itself (_crossref.py), so typst must not number them again.
TYPST_HEADER = "#set figure(numbering: none)\n#set par(justify: true)\n"
#: The pandoc route's page layout (Quarto's HTML has its own grid, which these rules would squeeze).
PANDOC_CSS = "pandoc.css"


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
    """Copy the sources, ``_quarto.yml`` and the study's figures into ``build``; return the staged
    reports dir."""
    if build.exists():
        shutil.rmtree(build)
    source = sources_dir()
    reports = build / "reports"
    shutil.copytree(
        source,
        reports,
        ignore=shutil.ignore_patterns("_freeze", "*_files", ".quarto", FIGURES_DIR, "*.quarto_ipynb"),
    )
    config = source.parent / "_quarto.yml"
    if config.exists():
        shutil.copy2(config, build / "_quarto.yml")
    if study.paths.figures_dir.is_dir():
        shutil.copytree(study.paths.figures_dir, reports / FIGURES_DIR)
    try:
        title = ReportContent(study).title
    except DataError:  # a broken table: the renderer's first code cell reports it, as it always has
        title = study.report.title or study.title or study.name
    _set_title(reports / MANUSCRIPT, title)
    return reports


_TITLE_LINE = re.compile(r"^title:.*$", re.MULTILINE)


def _set_title(manuscript: Path, title: str) -> None:
    """Put the study's title (:attr:`ReportContent.title`) into the staged manuscript's front
    matter, which both renderers read (the pandoc route through ``PANDOC_META``)."""
    text = manuscript.read_text(encoding="utf-8")
    end = text.find("\n---", 3) if text.startswith("---") else -1
    if end < 0:
        raise RenderError(f"{manuscript.name}: no YAML front matter to put the title in")
    front, rest = text[:end], text[end:]
    line = "title: " + json.dumps(title, ensure_ascii=False)  # a JSON string is a YAML scalar
    front = (
        _TITLE_LINE.sub(lambda _: line, front, count=1) if _TITLE_LINE.search(front) else f"{front}\n{line}"
    )
    manuscript.write_text(front + rest, encoding="utf-8")


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


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tool_message(output: str, limit: int = 6) -> str:
    """The lines of a tool's output that say what went wrong (pandoc, typst)."""
    lines = [line.strip() for line in _ANSI.sub("", output).splitlines() if line.strip()]
    return " | ".join(lines[:limit]) if lines else "(no output)"


def _run(cmd: Sequence[str], cwd: Path, what: str) -> None:
    result = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(
            f"{what} failed (exit {result.returncode}): {_tool_message(result.stderr or result.stdout)}"
        )
    for line in result.stderr.splitlines():
        log.info("%s: %s", what, line)


def _front_matter(meta: dict[str, Any]) -> str:
    kept: dict[str, Any] = {k: meta[k] for k in PANDOC_META if k in meta}
    # Metadata, not -H: a command-line include would replace the header-includes the Lua filter adds.
    kept["header-includes"] = f"```{{=typst}}\n{TYPST_HEADER}```\n"
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
    common = [
        pandoc,
        markdown.name,
        "--from=markdown",
        "--standalone",
        f"--lua-filter={LUA_FILTER}",
        "--citeproc",
        "--number-sections",
    ]
    written = []
    stem = study.name
    if "html" in formats:
        css = [f"--css={name}" for name in (PANDOC_CSS, "style.css") if (reports / name).exists()]
        _run(
            [*common, "--to=html5", "--embed-resources", "--toc", *css, "--output=manuscript.html"],
            reports,
            "pandoc (html)",
        )
        written.append(_publish(reports / "manuscript.html", report_dir / f"{stem}.html"))
    if "pdf" in formats:
        _run(
            [*common, "--to=typst", "--output=manuscript.typ"],
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


# ---------------------------------------------------------------------------------------- Quarto

#: Quarto's output folder (``project.output-dir`` of ``_quarto.yml``) and the article's outputs in it.
QUARTO_OUTPUT_DIR = "_manuscript"
QUARTO_OUTPUTS = {"html": "reports/index.html", "pdf": "reports/manuscript.pdf"}


def quarto_error(output: str) -> str:
    """What Quarto says went wrong: its ``ERROR:`` messages, or a failing cell's exception.

    Quarto ends a failed render with a stack trace of its own code; the message a user needs is
    above it.

    Examples
    --------
    >>> quarto_error("Starting python3 kernel...\\n\\x1b[91mERROR: Unknown format html,typst\\x1b[39m\\n")
    'Unknown format html,typst'
    >>> print(quarto_error("An error occurred while executing the following cell:\\n------\\nopen_study(None)\\n"
    ...     "------\\n\\n---------\\nConfigError    Traceback (most recent call last)\\n"
    ...     "ConfigError: no study: pass the Quarto param study_dir\\n\\nERROR: Stack trace:\\n  at f (x.ts:1)"))
    a code cell failed: ConfigError: no study: pass the Quarto param study_dir (cell: open_study(None))
    """
    lines = [_ANSI.sub("", line).rstrip() for line in output.splitlines()]
    cell = _failed_cell(lines)
    if cell is not None:
        return cell
    messages = []
    for i, line in enumerate(lines):
        if not line.startswith("ERROR:"):
            continue
        text = line.removeprefix("ERROR:").strip()
        if not text or text.startswith("Stack trace"):
            continue
        for more in lines[i + 1 :]:
            if (
                not more.strip()
                or more.startswith(("Stack trace", "ERROR:"))
                or more.lstrip().startswith("at ")
            ):
                break
            text += " " + more.strip()
        messages.append(text)
    if messages:
        return "; ".join(dict.fromkeys(messages))
    return _tool_message(output)


def _failed_cell(lines: list[str]) -> str | None:
    """The exception line of the cell Quarto reports with "An error occurred while executing"."""
    try:
        start = next(
            i for i, line in enumerate(lines) if line.startswith("An error occurred while executing")
        )
    except StopIteration:
        return None
    source = next(
        (
            line.strip()
            for line in lines[start + 2 : start + 12]
            if line.strip() and not line.startswith("---")
        ),
        "",
    )
    exception = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)|[A-Z]\w+Error)\b:?")
    found = None
    for line in lines[start:]:
        if line.startswith("ERROR:"):
            break
        if exception.match(line) and ":" in line and "Traceback" not in line:
            found = line.strip()
    if found is None:
        return None
    return f"a code cell failed: {found}" + (f" (cell: {source})" if source else "")


def _quarto_config(build: Path, stem: str, formats: Sequence[str]) -> None:
    """Point the staged ``_quarto.yml``'s "Other formats" link at the PDF published beside the HTML."""
    config_path = build / "_quarto.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    html = config.setdefault("format", {}).setdefault("html", {})
    if "pdf" in formats:
        # A list naming a format replaces Quarto's automatic links (whose target, manuscript.pdf, is
        # not what we publish); "html" names the page itself, so only the explicit link is shown.
        html["format-links"] = ["html", {"text": "PDF", "href": f"{stem}.pdf", "icon": "file-pdf"}]
    else:
        html["format-links"] = False
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def quarto_environment(study: Study) -> dict[str, str]:
    """Quarto's environment: our own Python for the code cells (it has jupyter, papermill and this
    package), and the study for a manuscript rendered without ``-P``."""
    return {**os.environ, "QUARTO_PYTHON": sys.executable, "VALUESURVEY_STUDY": str(study.root)}


def render_with_quarto(study: Study, formats: Sequence[str], *, timeout: int = 1800) -> list[Path]:
    """``quarto render`` the staged manuscript project with ``-P study_dir:…``; collect HTML and PDF.

    Both formats are rendered by one call (``--to all``): a manuscript project cleans its output
    folder at each render.
    """
    exe = shutil.which("quarto")
    if exe is None:
        raise MissingComponentError("Quarto", "install Quarto >= 1.4 (https://quarto.org/docs/get-started/)")
    version = quarto_version()
    if version is not None and version < MIN_QUARTO:
        raise MissingComponentError(
            f"Quarto >= 1.4 (found {'.'.join(map(str, version))})", "install a newer Quarto"
        )
    report_dir = study.paths.report_dir
    build = report_dir / "_build"
    _stage(study, build)
    _quarto_config(build, study.name, formats)
    target = "all" if set(formats) == {"html", "pdf"} else {"html": "html", "pdf": "typst"}[formats[0]]
    cmd = [exe, "render", f"reports/{MANUSCRIPT}", "--to", target, "-P", f"study_dir:{study.root}"]
    what = f"quarto render --to {target}"
    try:
        result = subprocess.run(
            cmd, cwd=build, env=quarto_environment(study), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"{what} ran longer than {timeout} s") from exc
    output = (result.stdout or "") + "\n" + (result.stderr or "")
    if result.returncode != 0:
        raise RenderError(f"{what} failed (exit {result.returncode}): {quarto_error(output)}")
    for line in _ANSI.sub("", result.stderr or "").splitlines():
        if line.strip():
            log.debug("quarto: %s", line)
    written = []
    for fmt in formats:
        built = build / QUARTO_OUTPUT_DIR / QUARTO_OUTPUTS[fmt]
        if not built.is_file():
            raise RenderError(f"{what} wrote no {built.relative_to(build)}: {_tool_message(output)}")
        suffix = ".html" if fmt == "html" else ".pdf"
        written.append(_publish(built, report_dir / f"{study.name}{suffix}"))
    return written


def choose_renderer(renderer: Literal["auto", "quarto", "pandoc"]) -> Literal["quarto", "pandoc"]:
    """``auto`` means Quarto when a version ≥ 1.4 is on PATH, else pandoc."""
    if renderer not in ("auto", "quarto", "pandoc"):
        raise ConfigError(f"renderer {renderer!r}: choose auto, quarto or pandoc")
    if renderer != "auto":
        return renderer
    version = quarto_version()
    return "quarto" if version is not None and version >= MIN_QUARTO else "pandoc"
