"""``valuesurvey analyze STUDY.yaml``: vectors, the exclusion rule, similarity and the RQ1–RQ3 fits."""

from __future__ import annotations

import time

import typer

from valuesurvey.cli._common import StudyFile, Verbose, handle_errors, setup_logging


@handle_errors
def analyze(study_file: StudyFile, verbose: Verbose = False) -> None:
    """Compute similarity tables and fit RQ1–RQ3 for a study directory: lm as published, the
    recommended mixed model (random effects from analysis.random_effects, simplified as recorded in
    estimates/simplification.csv) and the two-stage by-model check.

    Writes similarity/*.parquet, similarity/exclusions.csv (the one exclusion rule),
    similarity/exclusions_summary.csv, similarity/humans_flow.csv and estimates/*.csv;
    `Rscript R/run_models.R STUDY_DIR` reproduces the estimates without Python.
    """
    from valuesurvey.analysis import analyze_study
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    started = time.perf_counter()
    analyze_study(study)
    typer.echo(
        f"analysis written to {study.paths.similarity_dir} and {study.paths.estimates_dir} "
        f"in {time.perf_counter() - started:.1f} s"
    )


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("analyze")(analyze)
