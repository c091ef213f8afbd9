"""Elicitation: ask models the instruments' items, durably, resumably and fast.

::

    plan_study(study)            every request of the design, each with its request key
    run_elicitation(study)       send what responses.sqlite lacks; write llm_ratings.parquet and
                                 rankings.parquet for every model of the study; record the run in
                                 logs/elicit/<run_id>.json
    export_tables(study)         rewrite llm_ratings.parquet and rankings.parquet from the store
    elicitation_summary(study)   per model: requests, attempts, retries, ok, refusals, invalid,
                                 errors, tokens and cost, from the store

Both writers hold the study's lock (:mod:`.lock`): a second one on the same study is refused.

Modules: :mod:`.providers` (openai_compatible, anthropic, llamacpp, simulated), :mod:`.parse`
(answers → data), :mod:`.store` (SQLite WAL), :mod:`.plan`, :mod:`.runner`, :mod:`.export`,
:mod:`.runlog`, :mod:`.progress`, :mod:`.lock`; errors in :mod:`._exceptions`, transport settings in
:mod:`._config`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from valuesurvey.elicit._config import DEFAULT_CONFIG, ElicitConfig
from valuesurvey.elicit._exceptions import (
    AuthenticationError,
    ElicitError,
    InvalidAPIKeyError,
    InvalidURLError,
    MissingAPIKeyError,
    ModelNotFoundError,
    NotAnAPIError,
    ProviderError,
    ProviderNotFoundError,
    RateLimitError,
    RequestRejectedError,
    RunInterrupted,
    TransientError,
)
from valuesurvey.elicit.lock import StudyLockedError, study_lock
from valuesurvey.elicit.plan import Plan, plan_study
from valuesurvey.elicit.store import ResponseStore, utcnow

__all__ = [
    "DEFAULT_CONFIG",
    "FAILURE_COLUMNS",
    "AuthenticationError",
    "ElicitConfig",
    "ElicitError",
    "ElicitSummary",
    "InvalidAPIKeyError",
    "InvalidURLError",
    "MissingAPIKeyError",
    "ModelNotFoundError",
    "NotAnAPIError",
    "Plan",
    "ProviderError",
    "ProviderNotFoundError",
    "RateLimitError",
    "RequestRejectedError",
    "RunInterrupted",
    "StudyLockedError",
    "TransientError",
    "elicitation_summary",
    "export_tables",
    "plan_study",
    "run_elicitation",
]

#: Where batch files are written in the study directory (each deleted once the provider has it).
BATCH_WORKDIR = ".valuesurvey-batches"

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
#: Columns of :attr:`ElicitSummary.failures`: one row per model and class of failure.
FAILURE_COLUMNS = ["model", "failure", "requests", "first_message"]


@dataclass
class ElicitSummary:
    """What :func:`run_elicitation` did.

    ``planned`` counts design units (rating requests and rankings); ``already_stored`` those complete
    before the run; ``sent`` the answers stored by this run (ranking re-asks included), failed ones
    too; ``per_model`` is :func:`elicitation_summary` after the run. ``failures`` has one row per
    model and class of failure (:data:`FAILURE_COLUMNS`: ``failure`` is the error kind — ``auth``,
    ``not_found``, ``html``, ``invalid_url``, ``rejected``, ``context_overflow``, ``rate_limit``,
    ``transient``, ``error`` — ``not_sent`` for the requests of a stopped model, or ``in_batch`` for
    requests in batches still running at the provider; ``first_message`` the first such message of
    the run). ``stopped`` says why each stopped model was.
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
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    stopped: dict[str, str] = field(default_factory=dict)
    cached: int = 0  # answers reused from the response cache (not sent, not paid)
    batched: list[str] = field(default_factory=list)  # models whose requests went through batch APIs
    in_batch: int = 0  # requests still in batches running at the provider when the run ended

    @property
    def failed(self) -> int:
        """Planned requests this run left failed or did not send (0 when every one succeeded)."""
        return int(self.failures["requests"].sum()) if len(self.failures) else 0

    @property
    def not_sent(self) -> int:
        rows = self.failures[self.failures["failure"] == "not_sent"]
        return int(rows["requests"].sum()) if len(rows) else 0


def run_elicitation(
    study,
    *,
    models: Sequence[str] | None = None,
    limit: int | None = None,
    progress: bool = True,
    config: ElicitConfig | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    wait: bool = False,
    batch: bool = False,
    submit_only: bool = False,
    cache: bool | str | Path | None = None,
) -> ElicitSummary:
    """Elicit every planned request the store lacks, then export the tables from the store.

    The study's lock is held throughout: a second run on the same study is refused
    (:class:`StudyLockedError`) or, with ``wait``, waits for this one to finish. Run logs left
    ``running`` by a killed process are marked ``abandoned``.

    Parameters
    ----------
    study : valuesurvey.study.Study
        The study (``load_study(path)``).
    models : sequence of str, optional
        Only these model ids (default: every model of the study). The tables are written for every
        model of the study all the same, from the store.
    limit : int, optional
        At most this many new requests per model in this run (for a trial; rerun to continue).
    progress : bool
        Show a rich progress display per model on stderr.
    config : ElicitConfig, optional
        Transport settings (deadline, retries, backoff); model ``options`` ``timeout`` and
        ``max_retries`` override them per model.
    transport : httpx.AsyncBaseTransport, optional
        A custom transport (tests use ``httpx.MockTransport``).
    wait : bool
        Wait for another process writing the study instead of refusing to start.
    batch : bool
        Send every model whose endpoint has a batch API through it (``elicit --batch``); models with
        ``batch: true`` in study.yaml are batched anyway (:mod:`valuesurvey.elicit.batch`).
    submit_only : bool
        Submit the batches and return without waiting for them (a later run collects them).
    cache : bool or path, optional
        The response cache directory (:mod:`valuesurvey.elicit.cache`); default the study's
        ``cache:``, else ``$VALUESURVEY_CACHE``; ``False``: no cache.

    Returns
    -------
    ElicitSummary
        ``failed`` is non-zero when a request of this run ended failed or was not sent.

    Raises
    ------
    StudyLockedError
        Another process writes the study.
    RunInterrupted
        SIGTERM or SIGINT stopped the run (the run log says ``interrupted``).
    """
    with study_lock(study.paths.root, command="valuesurvey elicit", wait=wait):
        return _run_locked(
            study,
            models=models,
            limit=limit,
            progress=progress,
            config=config,
            transport=transport,
            batch=batch,
            submit_only=submit_only,
            cache=cache,
        )


def _run_locked(
    study,
    *,
    models: Sequence[str] | None,
    limit: int | None,
    progress: bool,
    config: ElicitConfig | None,
    transport: httpx.AsyncBaseTransport | None,
    batch: bool = False,
    submit_only: bool = False,
    cache: bool | str | Path | None = None,
) -> ElicitSummary:
    from valuesurvey.elicit.batch import batched_models
    from valuesurvey.elicit.cache import ResponseCache, StudyCache, cache_dir_for
    from valuesurvey.elicit.export import write_exports
    from valuesurvey.elicit.progress import NullProgress, RichProgress
    from valuesurvey.elicit.runlog import RunLog, git_revision, mark_abandoned, package_versions, write_runlog
    from valuesurvey.elicit.runner import new_run_id, run_plan

    t0 = time.perf_counter()
    plan = plan_study(study, models=models)
    everything = plan_study(study) if models else plan  # the tables hold every model of the study
    batched = batched_models(
        ((mp.model, mp.provider) for mp in plan.models), every=batch, where=str(study.paths.study_yaml)
    )
    cache_dir = cache_dir_for(study) if cache is None or cache is True else (Path(cache) if cache else None)
    run_id = new_run_id()
    root = study.paths.root
    mark_abandoned(root, found_by=run_id, found_at=utcnow())
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
                "batch": batched[mp.model.id],
            }
            for mp in plan.models
        ],
        cache=str(cache_dir) if cache_dir is not None else None,
    )
    response_cache = ResponseCache.open(cache_dir) if cache_dir is not None else None
    sink = RichProgress() if progress else NullProgress()
    with ResponseStore.open(study.paths.responses) as store, contextlib.ExitStack() as closing:
        if response_cache is not None:
            closing.callback(response_cache.close)
        store.start_run(
            run_id, {"study": study.name, "limit": limit, "models": [m["id"] for m in log.models]}
        )
        write_runlog(root, log)
        try:
            result = asyncio.run(
                run_plan(
                    plan,
                    store,
                    run_id=run_id,
                    limit=limit,
                    config=cfg,
                    sink=sink,
                    transport=transport,
                    batched=batched,
                    cache=StudyCache(response_cache, study=study.name)
                    if response_cache is not None
                    else None,
                    submit_only=submit_only,
                    workdir=root / BATCH_WORKDIR,
                )
            )
        except BaseException as exc:
            stopped = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | RunInterrupted)
            write_runlog(
                root,
                log.model_copy(
                    update={
                        "status": "interrupted" if stopped else "failed",
                        "finished_at": utcnow(),
                        "error": str(exc) or type(exc).__name__,
                    }
                ),
            )
            raise
        finally:
            sink.close()
        store.finish_run(run_id)
        outputs = write_exports(everything, store, study.paths)
        _warn_low_scale_mass(plan, store)
        per_model = _summary_frame(store, [mp.model.id for mp in plan.models])
        failures = _failure_frame(store.failed(run_id), result.not_sent, result.stopped, result.in_batch)
    runlog = write_runlog(
        root,
        log.model_copy(
            update={
                "status": "completed",
                "finished_at": utcnow(),
                "planned": result.planned,
                "already_stored": result.already_stored,
                "summary": per_model.to_dict(orient="records"),
                "failed": int(failures["requests"].sum()) if len(failures) else 0,
                "not_sent": sum(result.not_sent.values()),
                "stopped": result.stopped,
                "failures": failures.to_dict(orient="records"),
                "cached": result.cached,
                "in_batch": result.in_batch,
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
        failures=failures,
        stopped=result.stopped,
        cached=sum(result.cached.values()),
        batched=list(result.batched),
        in_batch=sum(result.in_batch.values()),
    )


def _failure_frame(
    failed: pd.DataFrame,
    not_sent: dict[str, int],
    stopped: dict[str, str],
    in_batch: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One row per model and class of failure, in the order they first occurred, then not-sent ones,
    then requests still in running batches."""
    rows: list[dict[str, Any]] = []
    failed = failed.assign(error_kind=failed["error_kind"].fillna("error"))
    for (model, kind), group in failed.groupby(["model", "error_kind"], sort=False):
        rows.append(
            {"model": model, "failure": kind, "requests": len(group), "first_message": group["error"].iloc[0]}
        )
    for model, count in not_sent.items():
        if count:
            reason = stopped.get(model, "")
            rows.append(
                {
                    "model": model,
                    "failure": "not_sent",
                    "requests": count,
                    "first_message": f"stopped: {reason}",
                }
            )
    for model, count in (in_batch or {}).items():
        if count:
            reason = stopped.get(model)
            rows.append(
                {
                    "model": model,
                    "failure": "in_batch",
                    "requests": count,
                    "first_message": "submitted in a batch that is still running at the provider; rerun to "
                    "collect it" + (f" (stopped: {reason})" if reason else ""),
                }
            )
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS).astype({"requests": "int64"})


def export_tables(study, *, wait: bool = False) -> list[Path]:
    """Rewrite ``llm_ratings.parquet`` and ``rankings.parquet`` from ``responses.sqlite`` for every
    model of the study (atomically, under the study's lock); nothing is sent. Returns the paths
    written.

    Raises
    ------
    valuesurvey.errors.DataError
        The study has no ``responses.sqlite`` yet.
    StudyLockedError
        Another process writes the study (and ``wait`` is false).
    """
    from valuesurvey.elicit.export import write_exports
    from valuesurvey.errors import DataError

    path = study.paths.responses
    with study_lock(study.paths.root, command="valuesurvey export", wait=wait):
        if not Path(path).exists():
            raise DataError("no responses stored yet: run 'valuesurvey elicit' first", path=path)
        plan = plan_study(study)
        with ResponseStore.open(path) as store:
            return write_exports(plan, store, study.paths)


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
