"""Real Quarto renders the fixture study's manuscript, through the package and by hand, to HTML and
PDF, with what the pandoc route gives: the same figures, tables, cross-references and citations,
the synthetic banner and footer, and PDF pages where no table runs past the bottom.

Quarto ≥ 1.4 must be on PATH (CI installs the shared Quarto 1.7.34: see .ci/run); otherwise these
tests are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from outline import html_headings, html_outline, page_problems, pdf_captions, pdf_pages_text

from valuesurvey.report import RenderError, quarto_version
from valuesurvey.report._render import render_with_quarto, sources_dir
from valuesurvey.study import Study, load_study

pytestmark = [
    pytest.mark.quarto,
    pytest.mark.slow,
    pytest.mark.skipif(
        quarto_version() is None or quarto_version() < (1, 4), reason="Quarto >= 1.4 is not installed"
    ),
]

NOTE = "SIMULATED DATA: fixture study for tests"


def _copy_study(study: Study, target: Path) -> Study:
    shutil.copytree(study.root, target, ignore=shutil.ignore_patterns("report"))
    return load_study(target)


@pytest.fixture(scope="module")
def quarto_study(fixture_study: Study, tmp_path_factory: pytest.TempPathFactory) -> Study:
    return _copy_study(fixture_study, tmp_path_factory.mktemp("quarto") / "fixture")


@pytest.fixture(scope="module")
def quarto_rendered(quarto_study: Study, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The package route, with a python3 first on PATH that has no jupyter (as on a user's machine:
    Quarto must be run with the package's own Python)."""
    from valuesurvey.report import render_report

    fake = tmp_path_factory.mktemp("fake-python")
    (fake / "python3").write_text("#!/bin/sh\necho 'not the python to use' >&2\nexit 1\n")
    (fake / "python3").chmod(0o755)
    saved = os.environ["PATH"]
    os.environ["PATH"] = f"{fake}{os.pathsep}{saved}"
    try:
        html, pdf = render_report(quarto_study, formats=("html", "pdf"), renderer="quarto")
    finally:
        os.environ["PATH"] = saved
    return {"html": html, "pdf": pdf}


def test_outputs_are_published_and_linked(quarto_study: Study, quarto_rendered: dict[str, Path]) -> None:
    html, pdf = quarto_rendered["html"], quarto_rendered["pdf"]
    assert html == quarto_study.paths.report_dir / "fixture.html"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    raw = html.read_text(encoding="utf-8")
    assert "site_libs/" not in re.sub(r"<script.*?</script>", "", raw, flags=re.S)  # self-contained
    assert raw.count("data:image/png;base64,") >= 10
    # "Other formats" offers exactly the PDF published beside the HTML
    links = re.search(r'<div class="quarto-alternate-formats">(.*?)</div></div>', raw, re.S)
    assert links, "no Other formats block"
    assert re.findall(r'href="([^"]+)"', links.group(1)) == ["fixture.pdf"]
    assert (html.parent / "fixture.pdf").is_file()


def test_same_figures_tables_crossrefs_citations_as_pandoc(
    rendered: dict[str, Path], quarto_rendered: dict[str, Path]
) -> None:
    ours, theirs = html_outline(rendered["html"]), html_outline(quarto_rendered["html"])
    assert len(theirs.figures) == 12 and len(theirs.tables) >= 20  # 10 + the country level's 2
    assert theirs.figures == ours.figures
    assert theirs.tables == ours.tables
    assert theirs.xrefs == ours.xrefs
    assert theirs.citations == ours.citations and theirs.references == ours.references
    assert len(ours.references) == 10  # 6 + the country section's 4
    # the PDFs number the same figures and tables
    assert sorted(pdf_captions(quarto_rendered["pdf"])) == sorted(pdf_captions(rendered["pdf"]))
    assert len(pdf_captions(quarto_rendered["pdf"])) == len(ours.figures) + len(ours.tables)


def test_one_citation_style_and_one_references_heading(
    rendered: dict[str, Path], quarto_rendered: dict[str, Path]
) -> None:
    for pdf in (rendered["pdf"], quarto_rendered["pdf"]):
        text = "\n".join(pdf_pages_text(pdf))
        # author-date, not numeric (the two Atari et al. 2023 works are told apart by the second author)
        assert re.search(r"\(Atari, Haidt,\s+et al\.\s+2023;", text)
        assert len(re.findall(r"^(?:\d+\s+)?References$", text, flags=re.M)) == 1, pdf
        assert "Bibliography" not in text
    for html in (rendered["html"], quarto_rendered["html"]):
        assert re.search(r"Atari, Haidt, et al\.(\s|&nbsp;)+2023", html.read_text(encoding="utf-8"))


def test_synthetic_banner_and_footer(quarto_rendered: dict[str, Path]) -> None:
    raw = quarto_rendered["html"].read_text(encoding="utf-8")
    body = raw[raw.index("<body") :]
    banner = body.index(f'<div class="synthetic-banner" role="note">{NOTE}</div>')
    # Quarto puts it first in the main column, after its title block; style.css fixes it to the
    # top of the window, above the title and the table of contents.
    main = body.index("<main")
    assert main < banner < body.index(">Abstract<", main)
    assert re.search(r"\.synthetic-banner\s*\{[^}]*position:\s*fixed", raw)
    pages = pdf_pages_text(quarto_rendered["pdf"])
    assert len(pages) > 3
    assert all(NOTE in " ".join(page.split()) for page in pages)


def test_style_keeps_quartos_layout(quarto_rendered: dict[str, Path]) -> None:
    raw = quarto_rendered["html"].read_text(encoding="utf-8")
    assert "max-width: 52rem" not in raw  # the pandoc route's column (pandoc.css) would squeeze the grid
    assert ".synthetic-banner" in raw  # style.css, shared with the pandoc route
    assert 'id="TOC"' in raw or 'id="toc"' in raw


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_pages_quarto(quarto_rendered: dict[str, Path]) -> None:
    headings = html_headings(quarto_rendered["html"])
    assert page_problems(quarto_rendered["pdf"], footer=NOTE, headings=headings) == []


def test_by_hand_render_of_the_project(quarto_study: Study, tmp_path: Path) -> None:
    """`quarto render` in the project, as _quarto.yml documents: only the manuscript, with figures."""
    project = tmp_path / "project"
    repo = sources_dir().parent
    project.mkdir()
    for name in ("_quarto.yml", "README.md"):
        shutil.copy2(repo / name, project / name)
    for folder in ("reports", "docs"):
        shutil.copytree(repo / folder, project / folder, ignore=shutil.ignore_patterns("_figures", "*_files"))
    env = {**os.environ, "QUARTO_PYTHON": sys.executable}
    done = subprocess.run(
        ["quarto", "render", "-P", f"study_dir:{quarto_study.root}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = project / "_manuscript"
    rendered = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.suffix in (".html", ".pdf"))
    assert "reports/index.html" in rendered and "reports/manuscript.pdf" in rendered
    assert not any("study-yaml" in name or "README" in name for name in rendered), rendered
    html = out / "reports" / "index.html"
    assert html.read_text(encoding="utf-8").count("data:image/png;base64,") >= 10
    assert len(html_outline(html).figures) == 12
    headings = html_headings(html)
    assert page_problems(out / "reports" / "manuscript.pdf", footer=NOTE, headings=headings) == []


def test_error_shows_quartos_message(quarto_study: Study, tmp_path: Path) -> None:
    broken = _copy_study(quarto_study, tmp_path / "broken")
    broken.paths.llm_ratings.write_bytes(b"not parquet")
    with pytest.raises(RenderError) as failure:
        render_with_quarto(broken, ["html"])
    message = str(failure.value)
    assert "llm_ratings.parquet" in message and "cannot read table" in message, message
    assert ".ts:" not in message  # not a frame of Quarto's stack trace
