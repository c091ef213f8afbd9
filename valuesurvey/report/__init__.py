"""The manuscript: a Quarto document in ``reports/`` rendered to HTML and PDF from the study directory.

``render_report`` draws the figures that are missing or stale, then renders ``reports/manuscript.qmd`` with Quarto (≥ 1.4,
when on PATH; run with this Python as ``QUARTO_PYTHON``) or with our fallback: the code cells run
in a Jupyter kernel, Quarto cross-references are resolved, pandoc 3 writes HTML (self-contained)
and typst, and the typst wheel writes the PDF. Both use ``reports/valuesurvey.lua`` and one CSL
style. Outputs: ``STUDY_DIR/report/<study name>.html`` and ``.pdf``.

The manuscript finds its study through the Quarto parameter ``study_dir`` (``quarto render
reports/manuscript.qmd -P study_dir:/path/to/study``) or, failing that, the environment variable
``VALUESURVEY_STUDY``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from valuesurvey.errors import ConfigError
from valuesurvey.figures import make_figures
from valuesurvey.report._execute import RenderError
from valuesurvey.report._render import (
    choose_renderer,
    quarto_error,
    quarto_version,
    render_with_pandoc,
    render_with_quarto,
    sources_dir,
)
from valuesurvey.report.content import STUDY_ENV, ReportContent, open_study
from valuesurvey.study import Study

__all__ = [
    "STUDY_ENV",
    "RenderError",
    "ReportContent",
    "open_study",
    "quarto_error",
    "quarto_version",
    "render_report",
    "sources_dir",
]

log = logging.getLogger(__name__)
FORMATS = ("html", "pdf")


def render_report(
    study: Study,
    *,
    formats: Sequence[str] = FORMATS,
    renderer: Literal["auto", "quarto", "pandoc"] = "auto",
) -> list[Path]:
    """Draw the figures and render the manuscript into ``STUDY_DIR/report/``.

    Parameters
    ----------
    study : Study
        A study whose directory holds the earlier stages' tables.
    formats : sequence of {"html", "pdf"}
        Output formats.
    renderer : {"auto", "quarto", "pandoc"}
        ``auto`` uses Quarto ≥ 1.4 when it is on PATH, else pandoc + typst.

    Returns
    -------
    list of Path
        The rendered files, in the order of ``formats``.

    Raises
    ------
    RenderError
        A code cell, pandoc, typst or Quarto failed (the message names which).
    MissingComponentError
        The chosen renderer (or the Jupyter kernel) is not installed.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"report formats {list(formats)!r}: choose from {', '.join(FORMATS)}")
    started = time.perf_counter()
    figures = make_figures(study, only_stale=True)  # the figures stage may have just drawn them
    chosen = choose_renderer(renderer)
    log.info("rendering %s with %s", ", ".join(formats), chosen)
    render = render_with_quarto if chosen == "quarto" else render_with_pandoc
    written = render(study, list(formats))
    _record(study, figures, written, time.perf_counter() - started, chosen)
    return written


def _record(study: Study, figures: list[Path], written: list[Path], seconds: float, renderer: str) -> None:
    try:
        from valuesurvey.manifest import record_stage
    except ImportError:
        return
    inputs = [
        p for p in (study.paths.similarity_dir, study.paths.estimates_dir, study.paths.rankings) if p.exists()
    ]
    record_stage(
        study,
        "report",
        inputs=inputs,
        outputs=[*figures, *written],
        seconds=seconds,
        extra={"renderer": renderer},
    )
