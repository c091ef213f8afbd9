"""``valuesurvey figures STUDY.yaml`` and ``valuesurvey report STUDY.yaml --to html,pdf``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from valuesurvey.cli._common import StudyFile, Verbose, fail, handle_errors, setup_logging
from valuesurvey.study import load_study


class Renderer(StrEnum):
    auto = "auto"
    quarto = "quarto"
    pandoc = "pandoc"


Formats = Annotated[
    str | None,
    typer.Option("--to", help="Comma-separated formats: html, pdf (default: study.yaml report.formats)."),
]
RendererOption = Annotated[
    Renderer | None,
    typer.Option(
        help="quarto (needs Quarto >= 1.4; run with this Python as QUARTO_PYTHON), "
        "pandoc (pandoc + typst wheels), or auto (quarto when installed)."
    ),
]


@handle_errors
def figures(study_file: StudyFile, verbose: Verbose = False) -> None:
    """Draw every figure of both studies into STUDY_DIR/figures/ (PNG and SVG)."""
    from valuesurvey.figures import make_figures

    setup_logging(verbose)
    written = make_figures(load_study(study_file))
    typer.echo(f"wrote {len(written)} figure files")


@handle_errors
def report(
    study_file: StudyFile, to: Formats = None, renderer: RendererOption = None, verbose: Verbose = False
) -> None:
    """Render the manuscript (figures included) into STUDY_DIR/report/ as HTML and/or PDF."""
    from valuesurvey.report import render_report

    setup_logging(verbose)
    study = load_study(study_file)
    formats = tuple(f.strip() for f in to.split(",") if f.strip()) if to else study.report.formats
    if not formats:
        raise fail("--to: give at least one of html, pdf")
    chosen = renderer.value if renderer else study.report.renderer
    for path in render_report(study, formats=formats, renderer=chosen):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add ``figures`` and ``report`` to the main app."""
    app.command("figures")(figures)
    app.command("report")(report)
