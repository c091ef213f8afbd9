"""Figures of both studies, drawn from the study directory (PNG and SVG in ``STUDY_DIR/figures/``).

Seed 001 (the paper): ``fig1_similarity`` … ``fig5_removal``; seed 000 (the poster):
``f1_1_dimensions``, ``f1_2_values``, ``f2_top_bottom``, ``f3_dendrogram``, ``f4_heatmap``; the
country level (``analysis.countries``): ``fig_countries_ranked``, ``fig_countries_distance``.
One style throughout (Okabe–Ito colours; China vermillion, USA blue), and a footer on every figure
when any data are synthetic or simulated.

A figure whose input tables are absent is skipped (logged); a table lacking a needed column raises
:class:`valuesurvey.errors.DataError` naming the file and column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from valuesurvey.figures import _countries, _ranking, _similarity
from valuesurvey.figures._data import StudyTables, synthetic_label
from valuesurvey.figures._style import figure_style, save_figure
from valuesurvey.study import Study

__all__ = ["FIGURES", "FigureSpec", "StudyTables", "available_figures", "figure_inputs", "make_figures"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file stem, the study it belongs to, a caption and what it needs."""

    name: str
    study: str  # "similarity" (seed 001), "ranking" (seed 000) or "countries" (issue 17)
    caption: str  # may name the study's groups: {shaded_origins}, {ranking_groups} (the report fills them)
    draw: Callable[[StudyTables, list[str]], Figure]
    needs_humans: bool = False
    needs_ratings: bool = False


def _ranking_only(fn: Callable[[StudyTables], Figure]) -> Callable[[StudyTables, list[str]], Figure]:
    return lambda tables, _instruments: fn(tables)


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "fig1_similarity",
        "similarity",
        "Mean cosine similarity of LLM responses to human responses, by human nationality and LLM "
        "origin (no persona; each person paired with LLMs prompted in their language). Error bars: 95% "
        "confidence intervals across participants.",
        _similarity.figure1,
    ),
    FigureSpec(
        "fig2_normalised",
        "similarity",
        "Normalised human and LLM ratings by MFQ-2 dimension and WVS question. Ratings are z-scored "
        "within each participant and within each LLM; no persona, English prompts.",
        _similarity.figure2,
        needs_humans=True,
        needs_ratings=True,
    ),
    FigureSpec(
        "fig3_per_model",
        "similarity",
        "Cosine similarity of individual humans' ratings to each LLM's ratings (A, B; grey background: "
        "{shaded_origins}) and to mean profiles of humans and LLMs by country (C, D).",
        _similarity.figure3,
        needs_humans=True,
        needs_ratings=True,
    ),
    FigureSpec(
        "fig4_conditions",
        "similarity",
        "Cosine similarity of LLMs to humans by LLM origin, prompt language and persona. Bars: means; "
        "error bars: 95% confidence intervals; purple background: {shaded_origins}.",
        _similarity.figure4,
    ),
    FigureSpec(
        "fig5_removal",
        "similarity",
        "Change in cosine similarity of LLMs to humans when removing a dimension (MFQ-2) or a question "
        "(WVS); no persona, language matched to the participant. Error bars: 95% CIs.",
        _similarity.figure5,
    ),
    FigureSpec(
        "fig_countries_ranked",
        "countries",
        "Mean cosine similarity of each LLM to the people of every country (no persona; rows ordered by "
        "the model's mean over countries): grey dots are countries, the diamond the reference country "
        "and the circle the model's own country of origin, each with its 95% bootstrap CI (people "
        "resampled within the country); the closest and farthest country are named.",
        _countries.figure_ranked,
    ),
    FigureSpec(
        "fig_countries_distance",
        "countries",
        "Similarity of LLMs to each country's people against the country's cultural distance from the "
        "reference country (no persona): countries' means over models (labelled), model × country "
        "means (grey), and the mixed model's fitted line with its 95% confidence band.",
        _countries.figure_distance,
    ),
    FigureSpec(
        "f1_1_dimensions",
        "ranking",
        "Overall value priorities across LLMs: mean rank of each dimension (1 = most important; 95% "
        "CIs across models).",
        _ranking_only(_ranking.figure_f1_dimensions),
    ),
    FigureSpec(
        "f1_2_values",
        "ranking",
        "Overall value priorities across LLMs: mean rank of each value, coloured by dimension.",
        _ranking_only(_ranking.figure_f1_values),
    ),
    FigureSpec(
        "f2_top_bottom",
        "ranking",
        "{ranking_groups}: top-5 and bottom-5 values and their mean ranks.",
        _ranking_only(_ranking.figure_f2_top_bottom),
    ),
    FigureSpec(
        "f3_dendrogram",
        "ranking",
        "Hierarchical clustering (Ward) of LLMs by their value rankings; branches and labels coloured "
        "by archetype when the cluster-validity rule finds cluster structure, otherwise grey branches "
        "and labels coloured by origin.",
        _ranking_only(_ranking.figure_f3_dendrogram),
    ),
    FigureSpec(
        "f4_heatmap",
        "ranking",
        "Clustered heatmap of value rankings: columns are values, rows are LLMs; cooler colours denote "
        "lower priority.",
        _ranking_only(_ranking.figure_f4_heatmap),
    ),
)


def _similarity_instruments(tables: StudyTables, spec: FigureSpec) -> list[str]:
    chosen = []
    for instrument in tables.rating_instruments():
        if tables.similarity(instrument) is None:
            continue
        if spec.needs_humans and tables.humans(instrument) is None:
            continue
        if spec.needs_ratings and tables.llm_ratings() is None:
            continue
        chosen.append(instrument)
    return chosen


def available_figures(tables: StudyTables) -> dict[str, list[str]]:
    """Figures that the study's tables allow, each with the instruments it covers."""
    ready: dict[str, list[str]] = {}
    has_ranking = tables.ranking() is not None
    for spec in FIGURES:
        if spec.study == "ranking":
            if has_ranking:
                ready[spec.name] = ["ai_values"]
        elif spec.study == "countries":
            if instruments := _countries.ready_instruments(tables, spec.name):
                ready[spec.name] = instruments
        elif instruments := _similarity_instruments(tables, spec):
            ready[spec.name] = instruments
    return ready


def figure_inputs(study: Study) -> list[Path]:
    """Every file a figure may read: study.yaml and the ratings, rankings, humans, similarity and
    estimates tables (a figure older than the newest of them is stale)."""
    paths = study.paths
    files = [p for p in (paths.study_yaml, paths.llm_ratings, paths.rankings) if p.exists()]
    for folder in (paths.humans_dir, paths.similarity_dir, paths.estimates_dir):
        if folder.is_dir():
            files += sorted(p for p in folder.iterdir() if p.suffix in {".parquet", ".csv"})
    return files


def _is_current(out_dir: Path, name: str, newest_input: float) -> bool:
    files = [out_dir / f"{name}.{ext}" for ext in ("png", "svg")]
    return all(f.exists() and f.stat().st_mtime >= newest_input for f in files)


def make_figures(study: Study, *, only_stale: bool = False) -> list[Path]:
    """Draw every figure the study directory allows; return the PNG and SVG paths.

    Parameters
    ----------
    study : Study
        A loaded study whose directory holds the earlier stages' tables.
    only_stale : bool
        Draw only figures whose PNG or SVG is missing or older than an input table
        (:func:`figure_inputs`); the others are returned as they are. The report uses this so
        that it does not redraw what the figures stage just drew.

    Returns
    -------
    list of Path
        ``STUDY_DIR/figures/<name>.png`` and ``.svg`` for each figure drawn, in :data:`FIGURES` order.
    """
    tables = StudyTables(study)
    footer = synthetic_label(study, tables)
    out_dir = study.paths.figures_dir
    written: list[Path] = []
    ready = available_figures(tables)
    inputs = figure_inputs(study) if only_stale else []
    newest = max((p.stat().st_mtime for p in inputs), default=0.0)
    with figure_style():
        for spec in FIGURES:
            if spec.name not in ready:
                log.info("figure %s skipped: its tables are not in %s", spec.name, study.root)
                continue
            if only_stale and _is_current(out_dir, spec.name, newest):
                written += [out_dir / f"{spec.name}.{ext}" for ext in ("png", "svg")]
                continue
            fig = spec.draw(tables, ready[spec.name])
            written += save_figure(fig, out_dir, spec.name, footer=footer)
    return written
