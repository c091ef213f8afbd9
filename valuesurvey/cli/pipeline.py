"""``valuesurvey demo``, ``run``, ``resume`` and ``artifact``: the whole pipeline in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuesurvey.cli._common import EXIT_REQUESTS_FAILED, StudyFile, Verbose, handle_errors, setup_logging

Stages = Annotated[
    str | None,
    typer.Option(
        "--stages",
        help="Comma-separated stages to run (elicit,analyze,figures,report); default all.",
    ),
]
Force = Annotated[
    bool, typer.Option("--force", help="Redo the selected stages even if their inputs are unchanged.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def _split(stages: str | None) -> list[str] | None:
    return [s.strip() for s in stages.split(",") if s.strip()] if stages else None


def _print_summary(summary: object) -> None:
    ran = getattr(summary, "ran", ())
    skipped = getattr(summary, "skipped", ())
    partial = getattr(summary, "partial", ())
    if not ran and not partial:
        typer.echo("nothing to do: every stage is up to date")
        return
    parts = [f"ran: {', '.join(ran) or '-'}"]
    if partial:
        parts.append(f"partial (run 'valuesurvey resume' to complete): {', '.join(partial)}")
    if skipped:
        parts.append(f"up to date: {', '.join(skipped)}")
    typer.echo("; ".join(parts))
    failed = getattr(summary, "failed_requests", 0)
    if failed:  # exit code 3, as `valuesurvey elicit` (its table of failures is in logs/elicit/)
        typer.echo(f"{failed:,} requests failed or were not sent; see logs/elicit/ and rerun", err=True)
        raise typer.Exit(EXIT_REQUESTS_FAILED)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Study directory to write.")] = Path("demo-study"),
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Run the offline demo end to end: synthetic humans, a simulated panel and a local SmolLM2."""
    from valuesurvey.pipeline import run_demo

    setup_logging(verbose)
    result = run_demo(out, progress=not quiet)
    if quiet:  # otherwise the progress display has already said where the reports are
        for report in result.reports:
            typer.echo(f"report: {report.resolve()}")
    if not result.reports:
        typer.echo(f"no report rendered; see {result.study_yaml.parent}", err=True)


def run(
    study: StudyFile,
    stages: Stages = None,
    force: Force = False,
    models: Annotated[
        str | None, typer.Option("--models", help="Comma-separated model ids to elicit (default all).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Send at most N requests.")] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Elicit, analyze, draw and render a study; stages whose inputs are unchanged are skipped.

    Exit codes: 3 elicitation requests failed or were not sent (later stages ran on what is stored);
    75 another process is writing the study.
    """
    from valuesurvey.pipeline import run_study

    setup_logging(verbose)
    summary = run_study(
        study, stages=_split(stages), force=force, progress=not quiet, limit=limit, models=_split(models)
    )
    _print_summary(summary)


def resume(study: StudyFile, quiet: Quiet = False, verbose: Verbose = False) -> None:
    """Complete a partial run; on a complete run, do nothing."""
    from valuesurvey.pipeline import resume_study

    setup_logging(verbose)
    _print_summary(resume_study(study, progress=not quiet))


def artifact(
    study: StudyFile,
    include_human_data: Annotated[
        bool,
        typer.Option("--include-human-data", help="Include human microdata (check their licences first)."),
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Zip file to write.")] = None,
    verbose: Verbose = False,
) -> None:
    """Package the study for journal submission: code, data, environment, report, checksums.

    Human microdata are left out unless --include-human-data: the person x LLM similarity rows
    ship under pseudonymous ids, enough to re-fit the models (the zip's README says how).
    """
    from valuesurvey.pipeline import build_artifact

    setup_logging(verbose)
    path = build_artifact(study, include_human_data=include_human_data, out=out)
    typer.echo(f"artifact: {path.resolve()}")


def register(app: typer.Typer) -> None:
    """Add demo, run, resume and artifact to the main app."""
    for command in (demo, run, resume, artifact):
        app.command(name=command.__name__)(handle_errors(command))
