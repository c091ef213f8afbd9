"""Run a plan: skip what the store holds, send the rest, store each answer as it arrives.

Per model, ``max_concurrency`` workers take requests from a queue; a semaphore per provider ×
API model × base URL (:meth:`Provider.connection_key`) caps requests in flight, and token buckets
enforce the model's requests- and tokens-per-minute limits. Every attempt has a deadline
(:meth:`Provider.deadline`: connecting, sending and the whole response). Failures are retried by
:func:`valuesurvey.elicit._retry.decide`; a request waiting for its backoff is put back on the queue
when the delay has passed and holds no worker meanwhile, so the others keep sending. Every attempt is
recorded. An invalid ranking is asked again (a new attempt, a new key) up to
``ranking.max_invalid_retries`` times.

A model's first request is sent alone. The model is stopped — its remaining requests are not sent,
and the run reports them as not sent — when an answer says that no request of it can succeed
(``stops_model``: 401/403, 404, an HTML page, an unusable URL), when its first request fails after
all its retries for a server-side reason (nothing answers there), or when
``max_consecutive_failures`` of its requests in a row do. While a model's last attempts all failed
for server-side reasons (as many as it has workers, at least 3), its new requests wait for the
pending retries,
so that a server that went down is probed by the retries instead of receiving every request once.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import random
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.elicit._exceptions import (
    ContextOverflowError,
    InvalidAPIKeyError,
    MissingAPIKeyError,
    ProviderError,
    RateLimitError,
    RunInterrupted,
    TransientError,
    redact,
)
from valuesurvey.elicit._ratelimit import RateLimiter
from valuesurvey.elicit._retry import decide
from valuesurvey.elicit._rows import answer_row, attempt_row, error_row
from valuesurvey.elicit.cache import StudyCache
from valuesurvey.elicit.plan import ModelPlan, Plan, PlannedRequest
from valuesurvey.elicit.progress import NullProgress, ProgressSink
from valuesurvey.elicit.providers import ChatResponse, Provider
from valuesurvey.elicit.providers._http import (
    HTTPSession,
    TransportSession,
    environment_proxies,
    header_problem,
)
from valuesurvey.elicit.providers._transport import AsyncioHTTP11Transport
from valuesurvey.elicit.store import BATCH_OPEN_STATES, ResponseStore, StoredResponse, utcnow
from valuesurvey.errors import ConfigError

__all__ = ["RunResult", "new_run_id", "pending_units", "run_plan"]

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass
class RunResult:
    """What one run did, per model: requests completed by status, the retries they needed, the
    requests not sent because the model was stopped (and why it was)."""

    run_id: str
    planned: int = 0
    already_stored: int = 0
    completed: dict[str, dict[str, int]] = field(default_factory=dict)
    not_sent: dict[str, int] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process while sending and storing
    cached: dict[str, int] = field(default_factory=dict)  # answers reused from the response cache
    batched: list[str] = field(default_factory=list)  # models whose requests went through batches
    in_batch: dict[str, int] = field(default_factory=dict)  # requests still in running batches

    @property
    def sent(self) -> int:
        return sum(sum(c.values()) for c in self.completed.values())


def pending_units(
    mp: ModelPlan, done: dict[str, str], max_invalid_retries: int
) -> tuple[list[PlannedRequest], int]:
    """Requests still to send (ratings, and the next attempt of each unfinished ranking) and how many
    planned units are complete."""
    todo = [r for r in mp.ratings if r.key not in done]
    for first in mp.rankings:
        request = first
        while True:
            status = done.get(request.key)
            if status is None:
                todo.append(request)
                break
            if status != "invalid" or request.attempt >= max_invalid_retries:
                break
            request = first.with_attempt(request.attempt + 1)
    complete = len(mp.ratings) + len(mp.rankings) - len(todo)
    return todo, complete


def _api_key(mp: ModelPlan) -> str | None:
    env = mp.model.api_key_env
    if not mp.provider.needs_api_key or not env:
        return None
    key = os.environ.get(env)
    if not key:
        raise MissingAPIKeyError(mp.model.id, env)
    if problem := header_problem(key):
        raise InvalidAPIKeyError(mp.model.id, env, problem)
    return key


#: What :meth:`_ModelRunner._from_cache` returns when the cache does not hold the request.
_MISS = object()

# Failures that say the server, not the request, is at fault: they count towards stopping a model.
_SERVER_FAILURES = (TransientError, RateLimitError)
# Server-side failed attempts in a row (at least; or one per worker) after which new requests wait.
_PAUSE_AFTER = 3


@dataclass
class _Job:
    """One unit of work on the queue: a request and what its attempts so far have left."""

    request: PlannedRequest
    attempts: int = 0
    first_started: str = ""
    last_error: ProviderError | None = None
    last_message: str = ""


class _ModelRunner:
    """Sends one model's requests and stores the answers."""

    def __init__(
        self,
        mp: ModelPlan,
        provider: Provider,
        *,
        store: ResponseStore,
        run_id: str,
        semaphore: asyncio.Semaphore,
        config: ElicitConfig,
        sink: ProgressSink,
        max_invalid_retries: int,
        api_key: str | None,
        cache: StudyCache | None = None,
    ) -> None:
        self.mp = mp
        self.cache = cache
        self.model = mp.model
        self.provider = provider
        self.store = store
        self.run_id = run_id
        self.semaphore = semaphore
        self.config = config.resolved()
        self.sink = sink
        self.max_invalid_retries = max_invalid_retries
        self.limiter = RateLimiter(mp.model.requests_per_minute, mp.model.tokens_per_minute)
        self.rng = random.Random(run_id + mp.model.id)
        self.counts: dict[str, int] = {}
        self.reused = 0  # answers taken from the response cache
        self.not_sent = 0
        self.stopped: str | None = None  # why no further request of this model is sent
        self._failures_in_a_row = 0  # units that failed after all retries, server-side
        self._failed_attempts_in_a_row = 0  # attempts that failed, server-side
        self._server_failure = False  # the last unit failed for a server-side reason
        self._last_failure = ""
        self._secret = api_key
        self._warned_context = False

    # ------------------------------------------------------------------ scheduling

    async def run(self, units: list[PlannedRequest], workers: int, client_factory: Any) -> None:
        """Send ``units``: the first alone, then the rest with ``workers`` workers (unless stopped)."""
        if not units:
            return
        await self._drain(units[:1], 1, client_factory)
        if self.stopped is None and self._server_failure:
            self._stop(f"its first request failed after all retries ({self._last_failure})")
        if self.stopped is not None:
            self.not_sent += len(units) - 1
            return
        await self._drain(units[1:], workers, client_factory)

    async def _drain(self, units: list[PlannedRequest], workers: int, client_factory: Any) -> None:
        """Work through ``units`` with ``workers`` workers. A retry waits off the queue (a timer puts
        it back when its delay has passed, ahead of new requests), so the workers keep sending other
        requests meanwhile."""
        if not units:
            return
        loop = asyncio.get_running_loop()
        # (priority, order, job): due retries first, then new requests in plan order, then the ends.
        queue: asyncio.PriorityQueue[tuple[int, int, _Job | None]] = asyncio.PriorityQueue()
        order = itertools.count()

        def put(job: _Job | None) -> None:
            priority = 2 if job is None else 0 if job.attempts else 1
            queue.put_nowait((priority, next(order), job))

        for unit in units:
            put(_Job(unit))
        outstanding = len(units)
        n_workers = max(1, min(workers, len(units)))
        waiting: dict[int, tuple[asyncio.TimerHandle, _Job]] = {}

        def finished() -> None:
            nonlocal outstanding
            outstanding -= 1
            if outstanding == 0:
                for _ in range(n_workers):
                    put(None)

        def requeue(job: _Job) -> None:
            waiting.pop(id(job), None)
            put(job)

        def abandon_waiting() -> None:  # the model stopped: no retry is worth waiting for
            for handle, job in list(waiting.values()):
                handle.cancel()
                self._abandon(job)
                finished()
            waiting.clear()

        def held_back(job: _Job) -> bool:
            """While the last attempts all failed for server-side reasons (as many as there are
            workers, at least :data:`_PAUSE_AFTER`) and retries are pending, a new request waits for
            the earliest retry: a server that is down gets the retries, not every request once."""
            if job.attempts or self._failed_attempts_in_a_row < max(_PAUSE_AFTER, n_workers):
                return False
            due = [handle.when() for handle, pending in waiting.values() if pending.attempts]
            if not due:
                return False
            waiting[id(job)] = (loop.call_at(min(due) + 0.001, requeue, job), job)
            return True

        async def worker() -> None:
            # One keep-alive connection per worker: httpcore's shared pool scans every connection for
            # every queued request (quadratic), which costs more CPU than the rest of a request.
            async with client_factory() as client:
                while (job := (await queue.get())[2]) is not None:
                    if self.stopped is not None:
                        self._abandon(job)
                        finished()
                        continue
                    if held_back(job):
                        continue
                    outcome = await self._step(job, client)
                    if isinstance(outcome, _Job):  # the next attempt of an invalid ranking
                        put(outcome)
                    elif outcome is not None:  # a retry after ``outcome`` seconds
                        waiting[id(job)] = (loop.call_later(outcome, requeue, job), job)
                    else:
                        finished()
                    if self.stopped is not None and waiting:
                        abandon_waiting()

        try:
            await asyncio.gather(*(worker() for _ in range(n_workers)))
        finally:
            for handle, _ in waiting.values():
                handle.cancel()

    def _stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            log.warning("%s: stopped, no further request is sent: %s", self.model.id, reason)

    def _abandon(self, job: _Job) -> None:
        """A job left undone because the model stopped: not sent, or failed with its last error."""
        if job.attempts == 0:
            self.not_sent += 1
            return
        message = f"{job.last_message} (not retried: the model was stopped)"
        self._done(self._save_error(job.request, job.attempts, job.first_started, message, job.last_error))

    # ------------------------------------------------------------------ one attempt

    async def _step(self, job: _Job, client: HTTPSession | None) -> float | _Job | None:
        """One attempt at ``job``: ``None`` when its unit is done (stored), a delay when it is to be
        tried again after it, or the next job (an invalid ranking asked again)."""
        request = job.request
        if job.attempts == 0:
            job.first_started = utcnow()
            if self.cache is not None and (reused := self._from_cache(request)) is not _MISS:
                return reused  # type: ignore[return-value]
        job.attempts += 1
        number = job.attempts
        await self.limiter.acquire(request.est_input_tokens + request.est_output_tokens)
        started, t0 = utcnow(), time.perf_counter()
        try:
            async with self.semaphore:
                response = await self._generate(request, client)
        except ProviderError as exc:
            server_side = isinstance(exc, _SERVER_FAILURES)
            self._failed_attempts_in_a_row = self._failed_attempts_in_a_row + 1 if server_side else 0
            message = redact(str(exc), self._secret)
            self.store.record_attempt(
                self._attempt(
                    request, number, exc.kind, started, time.perf_counter() - t0, exc.status, message
                )
            )
            job.last_error, job.last_message = exc, message
            if isinstance(exc, ContextOverflowError) and not self._warned_context:
                self._warned_context = True  # once per model: every longer prompt fails alike
                log.warning("%s", message)
            if exc.stops_model:
                self._stop(message)
                self._done(self._save_error(request, number, job.first_started, message, exc))
                return None
            decision = decide(exc, number, self.config, self.rng)
            if not decision.retry:
                self._done(self._save_error(request, number, job.first_started, message, exc))
                return None
            log.info(
                "%s: retry %d in %.2fs (%s): %s",
                self.model.id,
                number,
                decision.delay,
                decision.reason,
                message,
            )
            self.sink.retry(self.model.id)
            return decision.delay
        except Exception as exc:  # a bug in a provider: record it in one line, keep the run going
            message = redact(f"{type(exc).__name__}: {exc}", self._secret).replace("\n", " ")
            log.error(
                "%s: %s: unexpected error (run with -v for the traceback): %s",
                self.model.id,
                request.request.label,
                message,
            )
            log.info("traceback of the unexpected error", exc_info=True)
            self.store.record_attempt(
                self._attempt(request, number, "error", started, time.perf_counter() - t0, message=message)
            )
            self._done(self._save_error(request, number, job.first_started, message))
            return None
        latency = time.perf_counter() - t0
        self._failed_attempts_in_a_row = 0
        row = self._parsed_row(request, response, number, job.first_started, latency)
        self.store.save(row, [self._attempt(request, number, "ok", started, latency)])
        if self.cache is not None:
            self.cache.put_responses(self.mp, [(request, response)], run_id=self.run_id, source="live")
        return self._answered(request, row)

    def _from_cache(self, request: PlannedRequest) -> _Job | object | None:
        """``request``'s answer from the response cache, stored as this run's: ``None`` (done) or
        the next attempt of an invalid ranking; :data:`_MISS` when the cache has none."""
        assert self.cache is not None
        found = self.cache.lookup(self.mp, [request]).get(request.key)
        if found is None:
            return _MISS
        ckey, entry = found
        row = answer_row(
            self.model,
            request,
            entry.response,
            run_id=self.run_id,
            attempts=0,
            started=utcnow(),
            latency=None,
            source="cache",
            cache_key=ckey,
        )
        self.store.save(row)
        self.cache.cache.record_hits([ckey])
        self.reused += 1
        return self._answered(request, row)

    def _answered(self, request: PlannedRequest, row: StoredResponse) -> _Job | None:
        """Count a stored answer; the next attempt of an invalid ranking, else ``None`` (done)."""
        again = (
            request.kind == "ranking"
            and row.status == "invalid"
            and request.attempt < self.max_invalid_retries
        )
        self._count(row)
        if again:
            self.sink.retry(self.model.id)  # an invalid ranking asked again: the unit is not done yet
            return _Job(request.with_attempt(request.attempt + 1))
        self._advance(row)
        return None

    async def _generate(self, request: PlannedRequest, client: HTTPSession | None) -> ChatResponse:
        """``provider.generate`` within the attempt's deadline."""
        deadline = self.provider.deadline(request.request)
        try:
            async with asyncio.timeout(deadline):
                return await self.provider.generate(request.request, client=client)
        except TimeoutError as exc:
            raise TransientError(
                f"{request.request.label}: no complete response within the deadline of {deadline:g} s "
                "(options.timeout)",
                model=self.model.id,
            ) from exc

    def _count(self, row: StoredResponse) -> None:
        self.counts[row.status] = self.counts.get(row.status, 0) + 1

    def _done(self, row: StoredResponse) -> None:
        """A unit ended failed: count it, and stop the model after too many server failures in a row."""
        self._count(row)
        self._advance(row)

    def _advance(self, row: StoredResponse) -> None:
        if row.status == "error":
            self._server_failure = row.error_kind in {cls.kind for cls in _SERVER_FAILURES}
            self._last_failure = row.error or ""
            if self._server_failure:
                self._failures_in_a_row += 1
                limit = self.config.max_consecutive_failures
                if limit and self._failures_in_a_row >= limit:
                    self._stop(
                        f"{self._failures_in_a_row} requests in a row failed after all retries ({row.error})"
                    )
        else:
            self._server_failure = False
            self._failures_in_a_row = 0  # units that failed after all retries, server-side
        self._failed_attempts_in_a_row = 0  # attempts that failed, server-side
        self.sink.advance(
            self.model.id,
            status=row.status,
            input_tokens=row.input_tokens or 0,
            output_tokens=row.output_tokens or 0,
            cost=row.cost_usd or 0.0,
        )

    def _attempt(
        self,
        request: PlannedRequest,
        number: int,
        outcome: str,
        started: str,
        latency: float,
        status: int | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        return attempt_row(
            self.model,
            request,
            run_id=self.run_id,
            number=number,
            outcome=outcome,
            started=started,
            latency=latency,
            status=status,
            message=message,
        )

    def _save_error(
        self,
        request: PlannedRequest,
        attempts: int,
        started: str,
        message: str,
        error: ProviderError | None = None,
    ) -> StoredResponse:
        row = error_row(
            self.model, request, message, run_id=self.run_id, attempts=attempts, started=started, error=error
        )
        self.store.save(row)
        return row

    def _parsed_row(
        self, request: PlannedRequest, response: ChatResponse, attempts: int, started: str, latency: float
    ) -> StoredResponse:
        return answer_row(
            self.model,
            request,
            response,
            run_id=self.run_id,
            attempts=attempts,
            started=started,
            latency=latency,
        )


@dataclass
class _Model:
    """One model's part of a run: its live runner and, when batched (or with open batches), its
    batch runner; ``units`` go to the batches when the model is batched, else live."""

    live: _ModelRunner
    batch: Any  # BatchModelRunner | None
    units: list[PlannedRequest]
    workers: int

    async def run(self, client_factory: Any) -> None:
        if self.batch is None:
            await self.live.run(self.units, self.workers, client_factory)
            return
        if self.batch.submit:
            await self.batch.run(self.units)
        else:  # only finishing batches an earlier run left open: the new requests go live meanwhile
            await asyncio.gather(self.batch.run([]), self.live.run(self.units, self.workers, client_factory))
        if self.batch.live_units and self.batch.stopped is None:  # asked again live (batch_requeue: live)
            await self.live.run(self.batch.live_units, self.workers, client_factory)
        elif self.batch.live_units:
            self.batch.not_sent += len(self.batch.live_units)

    def collect(self, result: RunResult) -> None:
        model = self.live.model.id
        counts = Counter(self.live.counts)
        not_sent, stopped = self.live.not_sent, self.live.stopped
        if self.batch is not None:
            counts.update(self.batch.counts)
            not_sent += self.batch.not_sent
            stopped = self.batch.stopped or stopped
            result.in_batch[model] = self.batch.in_batch
        result.completed[model] = dict(counts)
        result.not_sent[model] = not_sent
        if stopped is not None:
            result.stopped[model] = stopped


def _request_map(mp: ModelPlan, max_invalid_retries: int) -> dict[str, PlannedRequest]:
    """Every request of the model's plan by key, rankings' re-asks included (what a batch's results
    are routed back to)."""
    requests = {r.key: r for r in mp.ratings}
    for first in mp.rankings:
        for attempt in range(max_invalid_retries + 1):
            request = first if attempt == 0 else first.with_attempt(attempt)
            requests[request.key] = request
    return requests


def _reuse_cached(
    mp: ModelPlan,
    units: list[PlannedRequest],
    cache: StudyCache,
    store: ResponseStore,
    run_id: str,
    max_invalid_retries: int,
) -> tuple[list[PlannedRequest], dict[str, int]]:
    """Answer from the response cache every unit it holds (stored with ``source = cache``, cost 0);
    the units left to send (an invalid cached ranking leaves its next attempt) and the statuses of
    the reused answers."""
    counts: Counter[str] = Counter()
    while units:
        hits = cache.lookup(mp, units)
        if not hits:
            break
        rows, left = [], []
        for unit in units:
            found = hits.get(unit.key)
            if found is None:
                left.append(unit)
                continue
            ckey, entry = found
            row = answer_row(
                mp.model,
                unit,
                entry.response,
                run_id=run_id,
                attempts=0,
                started=utcnow(),
                latency=None,
                source="cache",
                cache_key=ckey,
            )
            rows.append(row)
            counts[row.status] += 1
            if unit.kind == "ranking" and row.status == "invalid" and unit.attempt < max_invalid_retries:
                left.append(unit.with_attempt(unit.attempt + 1))
        store.save_many(rows)
        cache.cache.record_hits([ckey for ckey, _ in hits.values()])
        units = left
    return units, dict(counts)


async def run_plan(
    plan: Plan,
    store: ResponseStore,
    *,
    run_id: str,
    limit: int | None = None,
    config: ElicitConfig | None = None,
    sink: ProgressSink | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    batched: Mapping[str, bool] | None = None,
    cache: StudyCache | None = None,
    submit_only: bool = False,
    workdir: Path | None = None,
) -> RunResult:
    """Send every request of ``plan`` the store does not hold yet (at most ``limit`` per model).

    ``batched`` names the models whose requests go through their provider's batch API
    (:mod:`valuesurvey.elicit.batch`); their batches are polled until processed, unless
    ``submit_only``. Batches a killed run left open are finished first, whatever ``batched`` says. With
    a response ``cache``, a request it holds is answered from it (and stored as such) instead of sent.
    Batch files are written in ``workdir`` (deleted once the provider has them).

    SIGTERM and SIGINT (in the main thread) cancel the run cleanly: requests in flight are dropped
    (they are asked again by the next run), local servers are stopped, and :class:`RunInterrupted`
    is raised; a second signal acts as it would without us. Submitted batches stay recorded.
    """
    with _SignalsCancel(asyncio.current_task()) as received:
        try:
            return await _run_plan(
                plan,
                store,
                run_id=run_id,
                limit=limit,
                config=config,
                sink=sink,
                transport=transport,
                batched=batched or {},
                cache=cache,
                submit_only=submit_only,
                workdir=workdir,
            )
        except asyncio.CancelledError:
            if received:
                raise RunInterrupted(received[0].name, received[0].value) from None
            raise


class _SignalsCancel:
    """While active, SIGTERM and SIGINT cancel ``task`` (recorded in the list it yields)."""

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.received: list[signal.Signals] = []
        self.installed: list[signal.Signals] = []

    def _on_signal(self, signum: signal.Signals) -> None:
        self.received.append(signum)
        if self.task is not None:
            self.task.cancel()
        asyncio.get_running_loop().remove_signal_handler(signum)  # a second one acts as usual

    def __enter__(self) -> list[signal.Signals]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, not Unix
                continue
            self.installed.append(signum)
        return self.received

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.installed:
            loop.remove_signal_handler(signum)


async def _run_plan(
    plan: Plan,
    store: ResponseStore,
    *,
    run_id: str,
    limit: int | None,
    config: ElicitConfig | None,
    sink: ProgressSink | None,
    transport: httpx.AsyncBaseTransport | None,
    batched: Mapping[str, bool],
    cache: StudyCache | None,
    submit_only: bool,
    workdir: Path | None,
) -> RunResult:
    from valuesurvey.elicit.batch import PROTOCOLS, BatchModelRunner, BatchSettings

    cfg = (config or ElicitConfig()).resolved()
    sink = sink or NullProgress()
    result = RunResult(run_id=run_id)
    done = store.final_statuses()
    keys = {mp.model.id: _api_key(mp) for mp in plan.models}  # fail before anything is sent
    t0, cpu0 = time.perf_counter(), time.process_time()
    # One TLS context for every client: loading the CA bundle costs ~50 ms of CPU each time.
    tls = httpx.create_ssl_context()
    async with httpx.AsyncClient(
        timeout=cfg.httpx_timeout(), limits=cfg.httpx_limits(), transport=transport, verify=tls
    ) as client:
        semaphores: dict[str, asyncio.Semaphore] = {}
        runners: list[_Model] = []
        providers: list[Provider] = []
        try:
            for mp in plan.models:
                model_cfg = cfg.merge(
                    ElicitConfig(
                        timeout=mp.model.options.get("timeout"),
                        connect_timeout=mp.model.options.get("connect_timeout"),
                        max_retries=mp.model.options.get("max_retries"),
                        http_transport=mp.model.options.get("http_transport"),
                    )
                )
                provider = mp.provider(mp.model, client=client, config=model_cfg, api_key=keys[mp.model.id])
                units, complete = pending_units(mp, done, plan.max_invalid_retries)
                result.planned += len(mp.ratings) + len(mp.rankings)
                result.already_stored += complete
                in_flight = store.in_flight_keys(mp.model.id)  # submitted in a batch: never sent again
                if in_flight:
                    units = [u for u in units if u.key not in in_flight]
                reused: dict[str, int] = {}
                if cache is not None and units:
                    units, reused = _reuse_cached(mp, units, cache, store, run_id, plan.max_invalid_retries)
                    result.cached[mp.model.id] = sum(reused.values())
                if limit is not None:
                    units = units[:limit]
                concurrency = mp.model.max_concurrency or cfg.default_concurrency or 1
                semaphore = semaphores.setdefault(provider.connection_key(), asyncio.Semaphore(concurrency))
                live = _ModelRunner(
                    mp,
                    provider,
                    store=store,
                    run_id=run_id,
                    semaphore=semaphore,
                    config=model_cfg,
                    sink=sink,
                    max_invalid_retries=plan.max_invalid_retries,
                    api_key=keys[mp.model.id],
                    cache=cache,
                )
                live.counts.update(reused)
                batch_runner = None
                open_batches = store.batches(mp.model.id, states=BATCH_OPEN_STATES)
                if batched.get(mp.model.id) or open_batches:
                    protocol_name = provider.batch_protocol or (
                        open_batches[0].protocol if open_batches else None
                    )
                    if provider.batch_protocol is None or protocol_name != provider.batch_protocol:
                        raise ConfigError(
                            f"model {mp.model.id!r}: {len(open_batches)} of its batches are still open at the "
                            f"provider ({protocol_name} batch API), but its provider is now {provider.name}: "
                            "restore the model's provider in study.yaml to collect them"
                        )
                    where = f"{plan.study.paths.study_yaml}: model {mp.model.id!r}"
                    batch_runner = BatchModelRunner(
                        mp,
                        provider,
                        PROTOCOLS[protocol_name](provider, client, secret=keys[mp.model.id]),
                        store=store,
                        run_id=run_id,
                        config=model_cfg,
                        sink=sink,
                        settings=BatchSettings.from_options(mp.model.options, where=where),
                        requests=_request_map(mp, plan.max_invalid_retries),
                        max_invalid_retries=plan.max_invalid_retries,
                        workdir=workdir or Path(tempfile.gettempdir()) / "valuesurvey-batches",
                        secret=keys[mp.model.id],
                        submit=bool(batched.get(mp.model.id)),
                        submit_only=submit_only,
                        cache=cache,
                    )
                    result.batched.append(mp.model.id)
                runners.append(_Model(live, batch_runner, units, concurrency))
                sink.add_model(
                    mp.model.id,
                    total=len(mp.ratings) + len(mp.rankings),
                    done=complete + sum(reused.values()),
                )
                if units or batch_runner is not None:
                    provider.size_for([u.request for u in units])
                    await provider.start()
                    providers.append(provider)

            direct = transport is None and not environment_proxies()

            def worker_client(model_cfg: ElicitConfig) -> HTTPSession:
                timeout = model_cfg.httpx_timeout()
                one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
                if not direct:  # proxies need the full client
                    return httpx.AsyncClient(timeout=timeout, limits=one, transport=transport, verify=tls)
                if model_cfg.http_transport == "httpx":
                    return TransportSession(httpx.AsyncHTTPTransport(verify=tls, limits=one), timeout=timeout)
                lean = AsyncioHTTP11Transport(ssl_context=tls, max_connections=1, max_idle_per_origin=1)
                return TransportSession(lean, timeout=timeout)

            await asyncio.gather(
                *(model.run(functools.partial(worker_client, model.live.config)) for model in runners)
            )
        finally:
            for provider in providers:
                await provider.close()
            for model in runners:
                model.collect(result)
            result.seconds = time.perf_counter() - t0
            result.cpu_seconds = time.process_time() - cpu0
    return result
