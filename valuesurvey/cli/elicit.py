"""``valuesurvey plan`` and ``valuesurvey elicit``: what a study will ask, and asking it (resumable)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from valuesurvey.cli._common import StudyFile, Verbose, handle_errors, setup_logging

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
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def _model_list(models: str | None) -> list[str] | None:
    return [m.strip() for m in models.split(",") if m.strip()] if models else None


def _table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
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
    console = Console()
    console.print(_table(summary, f"plan for {study.name} (nothing sent)"))
    console.print(
        f"total: {int(total['requests']):,} requests, {int(total['to_send']):,} to send, "
        f"~{int(total['est_input_tokens']):,} input and ~{int(total['est_output_tokens']):,} output tokens, "
        f"~${float(total['est_cost_usd']):.2f} (estimates; ranking re-asks not included)"
    )


def elicit(
    study_file: StudyFile,
    models: Models = None,
    limit: Limit = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Ask the models every planned request not yet in responses.sqlite; resumable at any point."""
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    summary = run_elicitation(study, models=_model_list(models), limit=limit, progress=not quiet)
    console = Console()
    console.print(_table(summary.per_model, f"responses.sqlite after run {summary.run_id}"))
    console.print(
        f"{summary.sent:,} answers stored in {summary.seconds:.1f}s; {summary.already_stored:,} of "
        f"{summary.planned:,} planned were already stored. Wrote: "
        + ", ".join(str(p.name) for p in summary.outputs)
    )


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
    app.command("plan")(handle_errors(plan))
    app.command("elicit")(handle_errors(elicit))
