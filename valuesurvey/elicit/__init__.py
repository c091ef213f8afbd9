"""Elicitation: ask models the instruments' items, durably, resumably and fast.

::

    plan_study(study)            every request of the design, each with its request key
    run_elicitation(study)       send what responses.sqlite lacks; write llm_ratings.parquet and
                                 rankings.parquet; record the run in logs/elicit/<run_id>.json
    elicitation_summary(study)   per model: requests, attempts, retries, ok, refusals, invalid,
                                 errors, tokens and cost, from the store

Modules: :mod:`.providers` (openai_compatible, anthropic, llamacpp, simulated), :mod:`.parse`
(answers → data), :mod:`.store` (SQLite WAL), :mod:`.plan`, :mod:`.runner`, :mod:`.export`,
:mod:`.runlog`, :mod:`.progress`; errors in :mod:`._exceptions`, transport settings in
:mod:`._config`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import pandas as pd

from valuesurvey.elicit._config import DEFAULT_CONFIG, ElicitConfig
from valuesurvey.elicit._exceptions import (
    ElicitError,
    MissingAPIKeyError,
    ProviderError,
    ProviderNotFoundError,
    RateLimitError,
    RequestRejectedError,
    TransientError,
)
from valuesurvey.elicit.plan import Plan, plan_study
from valuesurvey.elicit.store import ResponseStore, utcnow

__all__ = [
    "DEFAULT_CONFIG",
    "ElicitConfig",
    "ElicitError",
    "ElicitSummary",
    "MissingAPIKeyError",
    "Plan",
    "ProviderError",
    "ProviderNotFoundError",
    "RateLimitError",
    "RequestRejectedError",
    "TransientError",
    "elicitation_summary",
    "plan_study",
    "run_elicitation",
]

SUMMARY_COLUMNS = [
    "model",
    "requests",
    "attempts",
    "retries",
    "ok",
    "refusals",
    "invalid",
    "nonsense",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
]


@dataclass
class ElicitSummary:
    """What :func:`run_elicitation` did.

    ``planned`` counts design units (rating requests and rankings); ``already_stored`` those complete
    before the run; ``sent`` the answers stored by this run (ranking re-asks included);
    ``per_model`` is :func:`elicitation_summary` after the run.
    """

    run_id: str
    planned: int
    already_stored: int
    sent: int
    seconds: float
    per_model: pd.DataFrame
    outputs: list[Path] = field(default_factory=list)
    runlog: Path | None = None
    run_seconds: float = 0.0  # sending and storing only (``seconds`` adds planning and export)
    run_cpu_seconds: float = 0.0  # CPU time of the process during ``run_seconds``


def run_elicitation(
    study,
    *,
    models: Sequence[str] | None = None,
    limit: int | None = None,
    progress: bool = True,
    config: ElicitConfig | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ElicitSummary:
    """Elicit every planned request the store lacks, then export the tables from the store.

    Parameters
    ----------
    study : valuesurvey.study.Study
        The study (``load_study(path)``).
    models : sequence of str, optional
        Only these model ids (default: every model of the study).
    limit : int, optional
        At most this many new requests per model in this run (for a trial; rerun to continue).
    progress : bool
        Show a rich progress display per model on stderr.
    config : ElicitConfig, optional
        Transport settings (timeouts, retries, backoff); model ``options`` ``timeout`` and
        ``max_retries`` override them per model.
    transport : httpx.AsyncBaseTransport, optional
        A custom transport (tests use ``httpx.MockTransport``).

    Returns
    -------
    ElicitSummary
    """
    from valuesurvey.elicit.export import write_exports
    from valuesurvey.elicit.progress import NullProgress, RichProgress
    from valuesurvey.elicit.runlog import RunLog, git_revision, package_versions, write_runlog
    from valuesurvey.elicit.runner import new_run_id, run_plan

    t0 = time.perf_counter()
    plan = plan_study(study, models=models)
    run_id = new_run_id()
    cfg = (config or ElicitConfig()).resolved()
    log = RunLog(
        run_id=run_id,
        study=study.name,
        started_at=utcnow(),
        revision=git_revision(),
        packages=package_versions(),
        config=asdict(cfg),
        generation=study.generation.model_dump(),
        answer_mode=str(study.answer_mode),
        limit=limit,
        models=[
            {
                "id": mp.model.id,
                "provider": mp.model.provider,
                "api_model": mp.model.api_model,
                "base_url": mp.model.base_url,
                "api_key_env": mp.model.api_key_env,
                "origin": mp.model.origin,
                "company": mp.model.company,
                "display_name": mp.model.display_name,
                "answer_mode": mp.answer_mode,
                "options": mp.model.options,
            }
            for mp in plan.models
        ],
    )
    root = study.paths.root
    sink = RichProgress() if progress else NullProgress()
    with ResponseStore.open(study.paths.responses) as store:
        store.start_run(
            run_id, {"study": study.name, "limit": limit, "models": [m["id"] for m in log.models]}
        )
        write_runlog(root, log)
        try:
            result = asyncio.run(
                run_plan(plan, store, run_id=run_id, limit=limit, config=cfg, sink=sink, transport=transport)
            )
        except BaseException as exc:
            status = (
                "interrupted" if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError) else "failed"
            )
            write_runlog(
                root, log.model_copy(update={"status": status, "finished_at": utcnow(), "error": str(exc)})
            )
            raise
        finally:
            sink.close()
        store.finish_run(run_id)
        outputs = write_exports(plan, store, study.paths)
        _warn_low_scale_mass(plan, store)
        per_model = _summary_frame(store, [mp.model.id for mp in plan.models])
    runlog = write_runlog(
        root,
        log.model_copy(
            update={
                "status": "completed",
                "finished_at": utcnow(),
                "planned": result.planned,
                "already_stored": result.already_stored,
                "summary": per_model.to_dict(orient="records"),
            }
        ),
    )
    return ElicitSummary(
        run_id=run_id,
        planned=result.planned,
        already_stored=result.already_stored,
        sent=result.sent,
        seconds=time.perf_counter() - t0,
        per_model=per_model,
        outputs=outputs,
        runlog=runlog,
        run_seconds=result.seconds,
        run_cpu_seconds=result.cpu_seconds,
    )


def _warn_low_scale_mass(plan, store: ResponseStore) -> None:
    from valuesurvey.elicit.answers import low_scale_mass_warnings

    keys = {r.key for mp in plan.models if mp.answer_mode == "logprobs" for r in mp.ratings}
    if not keys:
        return
    rows = store.frame(["key", "model", "scale_mass"])
    for message in low_scale_mass_warnings(rows[rows["key"].isin(keys)]):
        logging.getLogger("valuesurvey.elicit").warning("%s", message)


def _summary_frame(store: ResponseStore, models: Sequence[str] | None = None) -> pd.DataFrame:
    frame = store.frame(["model", "status", "attempts", "input_tokens", "output_tokens", "cost_usd"])
    if models is not None:
        frame = frame[frame["model"].isin(models)]
    grouped = frame.groupby("model", sort=True)
    out = pd.DataFrame(
        {
            "requests": grouped.size(),
            "attempts": grouped["attempts"].sum(),
            "ok": grouped["status"].apply(lambda s: int((s == "ok").sum())),
            "refusals": grouped["status"].apply(lambda s: int((s == "refusal").sum())),
            "invalid": grouped["status"].apply(lambda s: int((s == "invalid").sum())),
            "nonsense": grouped["status"].apply(lambda s: int((s == "nonsense").sum())),
            "errors": grouped["status"].apply(lambda s: int((s == "error").sum())),
            "input_tokens": grouped["input_tokens"].sum(),
            "output_tokens": grouped["output_tokens"].sum(),
            "cost_usd": grouped["cost_usd"].sum(),
        }
    ).reset_index()
    out["retries"] = out["attempts"] - out["requests"]
    out = out.astype({c: "int64" for c in SUMMARY_COLUMNS if c not in ("model", "cost_usd")})
    return out[SUMMARY_COLUMNS]


def elicitation_summary(study) -> pd.DataFrame:
    """Per model, from ``responses.sqlite``: requests, attempts, retries, ok, refusals, invalid, nonsense, errors,
    input_tokens, output_tokens, cost_usd (columns in that order; empty if nothing is stored).

    ``attempts`` counts HTTP attempts over the requests' current rows; ``retries = attempts − requests``.
    """
    path = study.paths.responses
    if not Path(path).exists():
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    with ResponseStore.open(path) as store:
        return _summary_frame(store)
