"""Figures: files, the synthetic footer, tolerance of absent tables, strictness about columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fixture_study import write_fixture_study

from valuesurvey.errors import DataError
from valuesurvey.figures import FIGURES, StudyTables, make_figures
from valuesurvey.figures._ranking import CLUSTER_METHOD, linkage_matrix
from valuesurvey.figures._similarity import removal_deltas
from valuesurvey.study import Study, load_study


def test_every_figure_written_as_png_and_svg_with_footer(
    fixture_study: Study, rendered: dict[str, Path]
) -> None:
    folder = fixture_study.paths.figures_dir
    for spec in FIGURES:
        png, svg = folder / f"{spec.name}.png", folder / f"{spec.name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "SIMULATED DATA: fixture study for tests" in svg.read_text(encoding="utf-8"), spec.name


def test_dendrogram_rebuilt_from_the_analysis_keeps_its_leaf_order(fixture_study: Study) -> None:
    from scipy.cluster import hierarchy

    results = StudyTables(fixture_study).ranking()
    linkage = results.linkage[results.linkage["method"] == CLUSTER_METHOD]
    z, leaves = linkage_matrix(linkage)
    drawn = [leaves[i] for i in hierarchy.dendrogram(z, no_plot=True)["leaves"]]
    clusters = results.clusters[results.clusters["method"] == CLUSTER_METHOD]
    assert drawn == list(clusters.sort_values("leaf_order")["model"])
    assert z[-1, 3] == len(leaves) == len(clusters)


def test_removal_deltas_are_zero_free_of_base_rows(fixture_study: Study) -> None:
    deltas = removal_deltas(StudyTables(fixture_study).similarity("mfq2"))
    assert set(deltas["removed"]) == {"Care", "Equality", "Proportionality", "Loyalty", "Authority", "Purity"}
    assert (deltas["delta"] == deltas["cosine"] - deltas["base"]).all()


def test_absent_instrument_skips_its_figures(tmp_path: Path) -> None:
    study = load_study(write_fixture_study(tmp_path, instruments=("ai_values",)))
    written = make_figures(study)
    names = {p.stem for p in written}
    assert names == {s.name for s in FIGURES if s.study == "ranking"}


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    study = load_study(write_fixture_study(tmp_path, instruments=("ai_values",)))
    path = study.paths.estimates("ranking_mean_ranks")
    pd.read_csv(path).drop(columns=["mean_rank"]).to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"ranking_mean_ranks.csv: column 'mean_rank': required column is missing"
    ):
        make_figures(study)


def test_png_sizes_sane_with_wrapped_footer(fixture_study: Study, rendered: dict[str, Path]) -> None:
    import struct

    for spec in FIGURES:
        header = (fixture_study.paths.figures_dir / f"{spec.name}.png").read_bytes()[16:24]
        width, height = struct.unpack(">II", header)
        assert width <= 2600 and height <= 2600, (spec.name, width, height)


def test_report_draws_only_stale_figures(tmp_path: Path) -> None:
    import os

    study = load_study(write_fixture_study(tmp_path, instruments=("ai_values",)))
    first = make_figures(study)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    again = make_figures(study, only_stale=True)
    assert again == first and all(p.stat().st_mtime_ns == stamps[p] for p in again)
    later = max(p.stat().st_mtime for p in first) + 10
    os.utime(study.paths.rankings, (later, later))  # newer input table: every figure is stale
    redrawn = make_figures(study, only_stale=True)
    assert all(p.stat().st_mtime_ns != stamps[p] for p in redrawn)
    (study.paths.figures_dir / "f3_dendrogram.svg").unlink()
    os.utime(study.paths.rankings, (0, 0))
    stamps = {p: p.stat().st_mtime_ns for p in redrawn if p.exists()}
    make_figures(study, only_stale=True)
    assert (study.paths.figures_dir / "f3_dendrogram.svg").exists()
    assert (study.paths.figures_dir / "f1_1_dimensions.png").stat().st_mtime_ns == stamps[
        study.paths.figures_dir / "f1_1_dimensions.png"
    ]
