"""Run a plan: skip what the store holds, send the rest, store each answer as it arrives.

Per model, ``max_concurrency`` workers take requests from a queue; a semaphore per provider ×
API model × base URL (:meth:`Provider.connection_key`) caps requests in flight, and token buckets
enforce the model's requests- and tokens-per-minute limits. Failures are retried by
:func:`valuesurvey.elicit._retry.decide`; every attempt is recorded. An invalid ranking is asked
again (a new attempt, a new key) up to ``ranking.max_invalid_retries`` times.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.elicit._exceptions import (
    ContextOverflowError,
    MissingAPIKeyError,
    ProviderError,
    redact,
)
from valuesurvey.elicit._ratelimit import RateLimiter
from valuesurvey.elicit._retry import decide
from valuesurvey.elicit.answers import interpret
from valuesurvey.elicit.plan import ModelPlan, Plan, PlannedRequest
from valuesurvey.elicit.progress import NullProgress, ProgressSink
from valuesurvey.elicit.providers import ChatResponse, Provider
from valuesurvey.elicit.providers._http import HTTPSession, TransportSession, environment_proxies
from valuesurvey.elicit.providers._transport import AsyncioHTTP11Transport
from valuesurvey.elicit.store import ResponseStore, StoredResponse, utcnow

__all__ = ["RunResult", "new_run_id", "pending_units", "run_plan"]

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass
class RunResult:
    """What one run did, per model: requests completed by status, and the retries it needed."""

    run_id: str
    planned: int = 0
    already_stored: int = 0
    completed: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process while sending and storing

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
    return key


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
    ) -> None:
        self.mp = mp
        self.model = mp.model
        self.provider = provider
        self.store = store
        self.run_id = run_id
        self.semaphore = semaphore
        self.config = config
        self.sink = sink
        self.max_invalid_retries = max_invalid_retries
        self.limiter = RateLimiter(mp.model.requests_per_minute, mp.model.tokens_per_minute)
        self.rng = random.Random(run_id + mp.model.id)
        self.counts: dict[str, int] = {}
        self._secret = api_key
        self._warned_context = False

    async def run(self, units: list[PlannedRequest], workers: int, client_factory: Any) -> None:
        queue = deque(units)

        async def worker() -> None:
            # One keep-alive connection per worker: httpcore's shared pool scans every connection for
            # every queued request (quadratic), which costs more CPU than the rest of a request.
            async with client_factory() as client:
                while queue:
                    await self.execute(queue.popleft(), client)

        await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(units))))))

    async def execute(self, request: PlannedRequest, client: HTTPSession | None = None) -> None:
        while True:
            row = await self.ask(request, client)
            self.counts[row.status] = self.counts.get(row.status, 0) + 1
            again = (
                request.kind == "ranking"
                and row.status == "invalid"
                and request.attempt < self.max_invalid_retries
            )
            if not again:
                self.sink.advance(
                    self.model.id,
                    status=row.status,
                    input_tokens=row.input_tokens or 0,
                    output_tokens=row.output_tokens or 0,
                    cost=row.cost_usd or 0.0,
                )
                return
            self.sink.retry(self.model.id)  # an invalid ranking asked again: the unit is not done yet
            request = request.with_attempt(request.attempt + 1)

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
        return {
            "key": request.key,
            "run_id": self.run_id,
            "model": self.model.id,
            "number": number,
            "outcome": outcome,
            "http_status": status,
            "message": message,
            "latency_s": latency,
            "started_at": started,
        }

    async def ask(self, request: PlannedRequest, client: HTTPSession | None = None) -> StoredResponse:
        """Send ``request`` with retries; store and return its row (status ``error`` if it failed)."""
        first_started = utcnow()
        number = 0
        while True:
            number += 1
            await self.limiter.acquire(request.est_input_tokens + request.est_output_tokens)
            started, t0 = utcnow(), time.perf_counter()
            try:
                async with self.semaphore:
                    response = await self.provider.generate(request.request, client=client)
            except ProviderError as exc:
                message = redact(str(exc), self._secret)
                self.store.record_attempt(
                    self._attempt(
                        request, number, exc.kind, started, time.perf_counter() - t0, exc.status, message
                    )
                )
                decision = decide(exc, number, self.config, self.rng)
                if isinstance(exc, ContextOverflowError) and not self._warned_context:
                    self._warned_context = True  # once per model: every longer prompt fails alike
                    log.warning("%s", message)
                if not decision.retry:
                    return self._save_error(request, number, first_started, message)
                log.info(
                    "%s: retry %d in %.2fs (%s): %s",
                    self.model.id,
                    number,
                    decision.delay,
                    decision.reason,
                    message,
                )
                self.sink.retry(self.model.id)
                await asyncio.sleep(decision.delay)
                continue
            except Exception as exc:  # a bug in a provider: record it, keep the run going
                message = redact(f"{type(exc).__name__}: {exc}", self._secret)
                log.exception("%s: unexpected error", self.model.id)
                self.store.record_attempt(
                    self._attempt(
                        request, number, "error", started, time.perf_counter() - t0, message=message
                    )
                )
                return self._save_error(request, number, first_started, message)
            latency = time.perf_counter() - t0
            row = self._parsed_row(request, response, number, first_started, latency)
            self.store.save(row, [self._attempt(request, number, "ok", started, latency)])
            return row

    def _common(self, request: PlannedRequest, attempts: int, started: str) -> dict[str, Any]:
        return {
            "key": request.key,
            "run_id": self.run_id,
            "model": self.model.id,
            "provider": self.model.provider,
            "origin": self.model.origin,
            "company": self.model.company,
            "kind": request.kind,
            "instrument": request.instrument,
            "language": request.language,
            "persona": request.persona,
            "rep": request.rep,
            "item": request.item,
            "attempt": request.attempt,
            "answer_mode": request.request.answer_mode,
            "request_json": request.request_json,
            "attempts": attempts,
            "started_at": started,
            "completed_at": utcnow(),
        }

    def _save_error(
        self, request: PlannedRequest, attempts: int, started: str, message: str
    ) -> StoredResponse:
        row = StoredResponse(**self._common(request, attempts, started), status="error", error=message)
        self.store.save(row)
        return row

    def _parsed_row(
        self, request: PlannedRequest, response: ChatResponse, attempts: int, started: str, latency: float
    ) -> StoredResponse:
        fields = interpret(request, response)
        return StoredResponse(
            **self._common(request, attempts, started),
            **fields,
            raw_text=response.text,
            finish_reason=response.finish_reason,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cost_usd=self.model.cost_usd(response.input_tokens, response.output_tokens),
            latency_s=latency,
        )


async def run_plan(
    plan: Plan,
    store: ResponseStore,
    *,
    run_id: str,
    limit: int | None = None,
    config: ElicitConfig | None = None,
    sink: ProgressSink | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RunResult:
    """Send every request of ``plan`` the store does not hold yet (at most ``limit`` per model)."""
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
        runners: list[tuple[_ModelRunner, list[PlannedRequest], int]] = []
        providers: list[Provider] = []
        try:
            for mp in plan.models:
                model_cfg = cfg.merge(
                    ElicitConfig(
                        timeout=mp.model.options.get("timeout"),
                        max_retries=mp.model.options.get("max_retries"),
                        http_transport=mp.model.options.get("http_transport"),
                    )
                )
                provider = mp.provider(mp.model, client=client, config=model_cfg, api_key=keys[mp.model.id])
                units, complete = pending_units(mp, done, plan.max_invalid_retries)
                result.planned += len(mp.ratings) + len(mp.rankings)
                result.already_stored += complete
                if limit is not None:
                    units = units[:limit]
                concurrency = mp.model.max_concurrency or cfg.default_concurrency or 1
                semaphore = semaphores.setdefault(provider.connection_key(), asyncio.Semaphore(concurrency))
                runners.append(
                    (
                        _ModelRunner(
                            mp,
                            provider,
                            store=store,
                            run_id=run_id,
                            semaphore=semaphore,
                            config=model_cfg,
                            sink=sink,
                            max_invalid_retries=plan.max_invalid_retries,
                            api_key=keys[mp.model.id],
                        ),
                        units,
                        concurrency,
                    )
                )
                sink.add_model(mp.model.id, total=len(mp.ratings) + len(mp.rankings), done=complete)
                if units:
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
                *(
                    runner.run(units, n, functools.partial(worker_client, runner.config))
                    for runner, units, n in runners
                )
            )
        finally:
            for provider in providers:
                await provider.close()
            for runner, _, _ in runners:
                result.completed[runner.model.id] = dict(runner.counts)
            result.seconds = time.perf_counter() - t0
            result.cpu_seconds = time.process_time() - cpu0
    return result
