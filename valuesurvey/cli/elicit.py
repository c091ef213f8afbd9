"""``valuesurvey plan``, ``elicit`` and ``export``: what a study will ask, asking it (resumable), and
rewriting the tables from the store."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from valuesurvey.cli._common import (
    EXIT_REQUESTS_FAILED,
    StudyFile,
    Verbose,
    console,
    handle_errors,
    setup_logging,
)

Models = Annotated[
    str | None,
    typer.Option("--models", "-m", metavar="ID,ID", help="Only these model ids (comma-separated)."),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit", "-n", min=1, help="At most N new requests per model in this run (rerun to continue)."
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display (the summary is still printed).")
]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="If another process is writing this study, wait for it to finish instead of refusing to start.",
    ),
]


def _model_list(models: str | None) -> list[str] | None:
    return [m.strip() for m in models.split(",") if m.strip()] if models else None


def _table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(
            frame[column]
        )
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            *(
                f"{v:,.4f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
                for v in row
            )
        )
    return table


def plan(study_file: StudyFile, models: Models = None, verbose: Verbose = False) -> None:
    """Show the requests per model, with token and cost estimates; nothing is sent."""
    from valuesurvey.elicit import plan_study
    from valuesurvey.elicit.store import ResponseStore
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    the_plan = plan_study(study, models=_model_list(models))
    done: dict[str, str] = {}
    if study.paths.responses.exists():
        with ResponseStore.open(study.paths.responses) as store:
            done = store.final_statuses()
    summary = the_plan.summary(done)
    total = summary[
        ["requests", "stored", "to_send", "est_input_tokens", "est_output_tokens", "est_cost_usd"]
    ].sum()
    out = console()
    out.print(_table(summary, f"plan for {study.name} (nothing sent)"))
    out.print(
        f"total: {int(total['requests']):,} requests, {int(total['to_send']):,} to send, "
        f"~{int(total['est_input_tokens']):,} input and ~{int(total['est_output_tokens']):,} output tokens, "
        f"~${float(total['est_cost_usd']):.2f} (estimates; ranking re-asks not included)"
    )


def elicit(
    study_file: StudyFile,
    models: Models = None,
    limit: Limit = None,
    wait: Wait = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Ask the models every planned request not yet in responses.sqlite; resumable at any point.

    Exit codes: 0 every request of the run succeeded;
    3 some failed or were not sent (a table of failures by class is printed; rerun to ask them again);
    75 another process is writing the study; 1 bad input; 130/143 interrupted (Ctrl-C/SIGTERM).
    """
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    summary = run_elicitation(study, models=_model_list(models), limit=limit, progress=not quiet, wait=wait)
    out = console()
    out.print(_table(summary.per_model, f"responses.sqlite after run {summary.run_id}"))
    wrote = ", ".join(str(p.name) for p in summary.outputs) or "nothing"
    if summary.failed:
        out.print(_table(summary.failures, f"failed requests of run {summary.run_id}, by class"))
        done = summary.sent - (summary.failed - summary.not_sent)
        out.print(
            f"{summary.failed:,} requests failed or were not sent ({summary.not_sent:,} not sent); "
            f"{done:,} answers stored in {summary.seconds:.1f}s; {summary.already_stored:,} of "
            f"{summary.planned:,} planned were already stored. Wrote: {wrote}. Rerun to ask the failed "
            "ones again."
        )
        raise typer.Exit(EXIT_REQUESTS_FAILED)
    out.print(
        f"{summary.sent:,} answers stored in {summary.seconds:.1f}s; {summary.already_stored:,} of "
        f"{summary.planned:,} planned were already stored. Wrote: {wrote}"
    )


def export(study_file: StudyFile, wait: Wait = False, verbose: Verbose = False) -> None:
    """Rewrite llm_ratings.parquet and rankings.parquet from responses.sqlite for every model of the
    study; nothing is sent."""
    from valuesurvey.elicit import export_tables
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    written = export_tables(study, wait=wait)
    typer.echo("wrote: " + (", ".join(str(p) for p in written) or "nothing (the study plans no requests)"))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("plan")(handle_errors(plan))
    app.command("elicit")(handle_errors(elicit))
    app.command("export")(handle_errors(export))
