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
                "—"
                if isinstance(v, float) and v != v  # NaN: not applicable (a model without a batch API)
                else f"{v:,.4f}"
                if isinstance(v, float)
                else f"{v:,}"
                if isinstance(v, int)
                else str(v)
                for v in row
            )
        )
    return table


Batch = Annotated[
    bool,
    typer.Option(
        "--batch",
        help="Send every model whose endpoint has a batch API (OpenAI Batch, Anthropic Message Batches; "
        "batch_discount in the registry) through it, at the batch price; the others are asked live. "
        "Models with batch: true in study.yaml are batched anyway.",
    ),
]


def plan(
    study_file: StudyFile, models: Models = None, batch: Batch = False, verbose: Verbose = False
) -> None:
    """Show the requests per model, with token and cost estimates at list and batch prices; nothing
    is sent."""
    from valuesurvey.elicit import plan_study
    from valuesurvey.elicit.batch import batch_support, batched_models
    from valuesurvey.elicit.store import ResponseStore
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    the_plan = plan_study(study, models=_model_list(models))
    chosen = batched_models(
        ((mp.model, mp.provider) for mp in the_plan.models), every=batch, where=str(study.paths.study_yaml)
    )
    done: dict[str, str] = {}
    if study.paths.responses.exists():
        with ResponseStore.open(study.paths.responses) as store:
            done = store.final_statuses()
    summary = the_plan.summary(done)
    batch_cost, batched = [], []
    for mp, row in zip(the_plan.models, summary.itertuples(index=False), strict=True):
        supported = batch_support(mp.model, mp.provider) is None
        tin, tout = int(row.est_input_tokens), int(row.est_output_tokens)
        batch_cost.append(mp.model.cost_usd(tin, tout, batch=True) if supported else float("nan"))
        batched.append("yes" if chosen[mp.model.id] else "no" if supported else "n/a")
    summary["batch"] = batched
    summary["est_batch_cost_usd"] = batch_cost
    total = summary[
        ["requests", "stored", "to_send", "est_input_tokens", "est_output_tokens", "est_cost_usd"]
    ].sum()
    run_cost = sum(
        b if chosen[m] else live
        for m, b, live in zip(
            summary["model"], summary["est_batch_cost_usd"], summary["est_cost_usd"], strict=True
        )
    )
    best = sum(
        live if pd.isna(b) else b
        for b, live in zip(summary["est_batch_cost_usd"], summary["est_cost_usd"], strict=True)
    )
    out = console()
    out.print(_table(summary, f"plan for {study.name} (nothing sent)"))
    n_batch = int((summary["batch"] != "n/a").sum())
    out.print(
        f"total: {int(total['requests']):,} requests, {int(total['to_send']):,} to send, "
        f"~{int(total['est_input_tokens']):,} input and ~{int(total['est_output_tokens']):,} output tokens, "
        f"~${float(total['est_cost_usd']):.2f} at list prices; ~${run_cost:.2f} as this run would send them "
        f"({sum(chosen.values())} models batched); ~${best:.2f} with every model that has a batch API "
        f"batched ({n_batch} of {len(summary)}: elicit --batch) (estimates; ranking re-asks not included)"
    )


SubmitOnly = Annotated[
    bool,
    typer.Option(
        "--submit-only",
        help="Submit the batches and exit without waiting for them (exit 3: requests still in batches); "
        "rerun elicit to poll them and collect the results.",
    ),
]
NoCache = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Do not use the response cache (cache: in study.yaml or $VALUESURVEY_CACHE) in this run.",
    ),
]


def elicit(
    study_file: StudyFile,
    models: Models = None,
    limit: Limit = None,
    batch: Batch = False,
    submit_only: SubmitOnly = False,
    no_cache: NoCache = False,
    wait: Wait = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Ask the models every planned request not yet in responses.sqlite; resumable at any point.

    Batched models (--batch, or batch: true in study.yaml) are sent through their provider's batch
    API at the batch price; their batches are recorded before they are submitted, so a rerun after a
    kill polls them and never submits them again. With a response cache, cached answers are reused
    instead of paid for again.

    Exit codes: 0 every request of the run succeeded;
    3 some failed, were not sent, or are still in batches running at the provider (a table of failures
    by class is printed; rerun to ask them again or to collect them);
    75 another process is writing the study; 1 bad input; 130/143 interrupted (Ctrl-C/SIGTERM).
    """
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    summary = run_elicitation(
        study,
        models=_model_list(models),
        limit=limit,
        progress=not quiet,
        wait=wait,
        batch=batch,
        submit_only=submit_only,
        cache=False if no_cache else None,
    )
    out = console()
    out.print(_table(summary.per_model, f"responses.sqlite after run {summary.run_id}"))
    wrote = ", ".join(str(p.name) for p in summary.outputs) or "nothing"
    notes = ""
    if summary.cached:
        notes += f" {summary.cached:,} of them reused from the response cache (not sent, not paid)."
    if summary.batched:
        notes += f" Batched: {', '.join(summary.batched)}."
    if summary.failed:
        out.print(_table(summary.failures, f"failed requests of run {summary.run_id}, by class"))
        done = summary.sent - (summary.failed - summary.not_sent - summary.in_batch)
        in_batch = f", {summary.in_batch:,} still in batches at the provider" if summary.in_batch else ""
        out.print(
            f"{summary.failed:,} requests failed or were not sent ({summary.not_sent:,} not sent{in_batch}); "
            f"{done:,} answers stored in {summary.seconds:.1f}s;{notes} {summary.already_stored:,} of "
            f"{summary.planned:,} planned were already stored. Wrote: {wrote}. Rerun to ask the failed "
            "ones again" + (" and to collect the batches." if summary.in_batch else ".")
        )
        raise typer.Exit(EXIT_REQUESTS_FAILED)
    out.print(
        f"{summary.sent:,} answers stored in {summary.seconds:.1f}s;{notes} {summary.already_stored:,} of "
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
