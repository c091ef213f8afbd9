"""The batch engine: one :class:`BatchModelRunner` per batched model.

A batch's life, and what is committed to ``responses.sqlite`` at each step (before the step's
request is sent, so that a run killed at any moment resumes from the store):

1. ``prepared``: the batch file is written (within the documented limits, count and bytes) and the
   batch with every request's ``custom_id`` (the request key) and line is recorded;
2. ``uploaded`` (OpenAI): the input file's id is recorded;
3. ``creating``: the time the create request is sent; if the run dies before its answer is
   recorded, the next run lists the provider's batches and adopts the one that request made
   (:meth:`BatchProtocol.find_created`), or creates it if there is none, never a second one;
4. ``submitted``: the provider's batch id; from here on the batch is only polled;
5. ``ended``: the provider finished it; its results are read (streamed) and stored in chunks, each
   chunk one transaction with the outcome of its requests, so that reading resumes where it stopped;
6. ``processed`` (or ``rejected``: refused at creation, its requests stored as failed).

A request in a batch that is not processed is never sent again. Requests the provider did not
answer (expired, cancelled, a server-side error, missing from the results, or on a malformed line)
are asked again, in a new batch or live (``options.batch_requeue``), at most ``max_retries`` times
in a run; a request the provider rejected is stored as failed, as a live one would be. A 401/403
or 404 stops the model, as live.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.elicit._exceptions import (
    ProviderError,
    RateLimitError,
    RequestRejectedError,
    TransientError,
    redact,
)
from valuesurvey.elicit._retry import backoff_delay
from valuesurvey.elicit._rows import answer_row, attempt_row, error_row
from valuesurvey.elicit.batch._protocol import (
    BatchFile,
    BatchProtocol,
    MalformedLine,
    RemoteBatch,
    ResultLine,
)
from valuesurvey.elicit.plan import ModelPlan, PlannedRequest
from valuesurvey.elicit.progress import ProgressSink
from valuesurvey.elicit.providers import ChatResponse, Provider
from valuesurvey.elicit.store import BATCH_OPEN_STATES, BatchRecord, ResponseStore, StoredResponse, utcnow
from valuesurvey.errors import ConfigError

__all__ = ["REQUEUE_MODES", "BatchModelRunner", "BatchSettings"]

log = logging.getLogger("valuesurvey.elicit.batch")

REQUEUE_MODES = ("batch", "live")
#: Rows stored per transaction while a batch's results are read (20 models ending together hold 20 chunks).
_CHUNK = 200
#: Failed polls of a batch, or failed readings of its results, in a row (each waiting longer, up to the
#: backoff cap) before the run stops (with the default backoff ~4 minutes without an answer); the batch
#: stays recorded and the next run polls or reads it again.
_POLL_RETRIES = 10


@dataclass(frozen=True)
class BatchSettings:
    """A batched model's settings (model ``options``; none of them is part of a request key).

    ``batch_poll_seconds`` [30]: seconds between polls; ``batch_requeue`` [``batch``]: where
    unanswered requests go (``batch``: a new batch; ``live``: the live path); ``batch_max_requests``,
    ``batch_max_bytes``: smaller batches than the provider allows.
    """

    poll_seconds: float = 30.0
    requeue: str = "batch"
    max_requests: int | None = None
    max_bytes: int | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any], *, where: str) -> BatchSettings:
        def number(name: str, kind: type, minimum: float) -> Any:
            value = options.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
                raise ConfigError(f"{where}.options.{name}: expected a number >= {minimum:g}, got {value!r}")
            if kind is int and value != int(value):
                raise ConfigError(f"{where}.options.{name}: expected an integer, got {value!r}")
            return kind(value)

        requeue = str(options.get("batch_requeue", "batch"))
        if requeue not in REQUEUE_MODES:
            raise ConfigError(
                f"{where}.options.batch_requeue: expected one of {', '.join(REQUEUE_MODES)}, got {requeue!r}"
            )
        poll = number("batch_poll_seconds", float, 0.01)
        return cls(
            poll_seconds=30.0 if poll is None else poll,
            requeue=requeue,
            max_requests=number("batch_max_requests", int, 1),
            max_bytes=number("batch_max_bytes", int, 1024),
        )


def _unix(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else time.time()


class BatchModelRunner:
    """Sends one model's requests through its provider's batch API, polls, stores the results.

    ``counts``, ``not_sent``, ``stopped`` mean what they mean for the live runner; ``live_units``
    are requests to send live after the batches (``batch_requeue: live``, or a model no longer
    batched whose earlier batches this run only finishes); ``in_batch`` counts requests left in
    batches still running when the run ends (``submit_only``, or polling that kept failing).
    """

    def __init__(
        self,
        mp: ModelPlan,
        provider: Provider,
        protocol: BatchProtocol,
        *,
        store: ResponseStore,
        run_id: str,
        config: ElicitConfig,
        sink: ProgressSink,
        settings: BatchSettings,
        requests: dict[str, PlannedRequest],
        max_invalid_retries: int,
        workdir: Path,
        secret: str | None,
        submit: bool = True,
        submit_only: bool = False,
        cache: Any = None,
        study_name: str | None = None,
    ) -> None:
        self.mp = mp
        self.model = mp.model
        self.provider = provider
        self.protocol = protocol
        self.store = store
        self.run_id = run_id
        self.config = config.resolved()
        self.sink = sink
        self.settings = settings
        self.requests = requests
        self.max_invalid_retries = max_invalid_retries
        self.workdir = workdir
        self.submit = submit
        self.submit_only = submit_only
        self.cache = cache
        self.study_name = study_name
        self.limits = protocol.limits.clipped(settings.max_requests, settings.max_bytes)
        self.counts: dict[str, int] = {}
        self.not_sent = 0
        self.in_batch = 0
        self.stopped: str | None = None
        self.live_units: list[PlannedRequest] = []
        self._pool: list[PlannedRequest] = []  # to submit (again) in a new batch
        self._tries: Counter[str] = Counter()  # submissions of each key in this run
        self._last_error: dict[str, ProviderError] = {}
        self._rng = random.Random(run_id + self.model.id)
        self._secret = secret
        self._hold_until = 0.0  # no new batch before this time (monotonic): the provider was full

    # ------------------------------------------------------------------ the run

    async def run(self, units: list[PlannedRequest]) -> None:
        """Finish the model's open batches, submit ``units`` (or hand them to the live path), poll
        until every batch is processed (unless ``submit_only``)."""
        for record in self.store.batches(self.model.id, states=BATCH_OPEN_STATES):
            for _, key, _, outcome in self.store.batch_requests(record.local_id):
                if outcome is None:
                    self._tries[key] += 1
            if self.stopped is None:
                await self._resume(record)
        if not self.submit:
            self.live_units.extend(units)
        elif self.stopped is None:
            await self._submit(units)
        else:
            self.not_sent += len(units)
        if not self.submit_only:
            await self._poll_until_done()
        self.in_batch = sum(
            1
            for record in self.store.batches(self.model.id, states=BATCH_OPEN_STATES)
            for *_, outcome in self.store.batch_requests(record.local_id)
            if outcome is None
        )
        if self._pool:  # the model stopped, or polling gave up, before they could be submitted again
            self.not_sent += len(self._pool)
            self._pool = []

    def _stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            log.warning("%s: stopped, no further batch is submitted: %s", self.model.id, reason)

    # ------------------------------------------------------------------ preparing and submitting

    def _write(self, units: Iterable[PlannedRequest]) -> Iterator[tuple[BatchFile, list[PlannedRequest]]]:
        """Batch files of ``units`` within the limits, each with its requests."""
        current: BatchFile | None = None
        members: list[PlannedRequest] = []
        for request in units:
            entry = self.protocol.entry(request.key, self.provider.body(request.request))
            if current is not None and not current.fits(len(entry)):
                current.close()
                yield current, members
                current, members = None, []
            if current is None:
                local_id = "vsb_" + uuid.uuid4().hex[:20]
                suffix = ".jsonl" if self.protocol.separator == b"\n" else ".json"
                current = BatchFile(self.workdir / f"{local_id}{suffix}", self.protocol, self.limits)
                if not current.fits(len(entry)):
                    current.close()
                    current.path.unlink(missing_ok=True)
                    current = None
                    self._fail(
                        request,
                        RequestRejectedError(
                            f"{request.request.label} is {len(entry):,} bytes, more than a batch may hold "
                            f"({self.limits.max_bytes:,} bytes)",
                            model=self.model.id,
                        ),
                        attempts=0,
                    )
                    continue
            current.add(entry)
            members.append(request)
        if current is not None:
            current.close()
            yield current, members

    async def _submit(self, units: list[PlannedRequest]) -> None:
        for handle, members in self._write(units):
            local_id = handle.path.stem
            record = BatchRecord(
                local_id=local_id,
                model=self.model.id,
                protocol=self.protocol.name,
                state="prepared",
                requests=len(members),
                bytes=handle.bytes,
                run_id=self.run_id,
                created_at=utcnow(),
            )
            self.store.add_batch(record, [(r.key, r.key, line) for line, r in enumerate(members, start=1)])
            for request in members:
                self._tries[request.key] += 1
            if self.stopped is not None:
                self._unsent(record, members, handle.path)
                continue
            await self._send(record, handle.path)
        self._report()

    def _unsent(self, record: BatchRecord, members: list[PlannedRequest], path: Path) -> None:
        """A recorded batch left unsent because the model stopped: its requests are free again."""
        path.unlink(missing_ok=True)
        self.store.update_batch(record.local_id, state="rejected", error=f"not sent: {self.stopped}")
        self.store.save_many([], outcomes=[("requeued", record.local_id, r.key) for r in members])
        self.not_sent += len(members)

    async def _send(self, record: BatchRecord, path: Path | None) -> None:
        """Upload (OpenAI) and create a recorded batch, retrying what may be retried."""
        needs_file = path is None and (
            self.protocol.name == "anthropic"
            or (record.input_file_id is None and self.protocol.name == "openai")
        )
        if needs_file:
            path = self._rebuild(record)
            if path is None:
                return
        try:
            if record.input_file_id is None and self.protocol.name == "openai":
                assert path is not None
                file_id = await self._with_retries(record, "upload", lambda: self.protocol.upload(path))
                record = self.store.update_batch(record.local_id, state="uploaded", input_file_id=file_id)
            remote = await self._create(record, path)
        except ProviderError as exc:
            self._reject(record, exc)
            return
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
        if remote is not None:
            self._submitted(record, remote)

    async def _create(self, record: BatchRecord, path: Path | None) -> RemoteBatch | None:
        """Create the batch; after an answer that leaves unknown whether it was created (a timeout, a
        dropped connection, a 5xx), look before creating it again."""
        for number in range(1, self.config.max_retries + 2):
            record = self.store.update_batch(record.local_id, state="creating", creating_at=utcnow())
            try:
                return await self.protocol.create(
                    path, input_file_id=record.input_file_id, local_id=record.local_id
                )  # type: ignore[arg-type]
            except RateLimitError as exc:  # a 429 is an answer: not created
                if number > self.config.max_retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self._delay(number)
                self._warn_retry(record, "creation", exc, delay)
                await asyncio.sleep(min(delay, self.config.backoff_cap))
            except TransientError as exc:
                if number > self.config.max_retries:
                    raise
                delay = self._delay(number)
                self._warn_retry(record, "creation", exc, delay)
                await asyncio.sleep(delay)
                adopted = await self._reconcile(record)
                if adopted is not None:
                    return adopted
        raise AssertionError("unreachable")

    async def _reconcile(self, record: BatchRecord) -> RemoteBatch | None:
        """The batch a create request of ``record`` made, if the provider has one (``None``: it has
        none, create it). Several candidates: the model stops rather than guess."""
        known = self.store.known_remote_ids(self.protocol.name)
        candidates = [
            remote
            for remote in await self.protocol.find_created(
                input_file_id=record.input_file_id,
                local_id=record.local_id,
                since=_unix(record.creating_at),
                requests=record.requests,
            )
            if remote.id not in known
        ]
        if len(candidates) == 1:
            log.warning(
                "%s: batch %s: the run that created it ended before recording it; found it at the provider "
                "as %s and adopted it (polled, not submitted again)",
                self.model.id,
                record.local_id,
                candidates[0].id,
            )
            return candidates[0]
        if len(candidates) > 1:
            ids = ", ".join(c.id for c in candidates[:5])
            raise RequestRejectedError(
                f"batch {record.local_id} ({record.requests:,} requests): a run ended between creating it and "
                f"recording it, and the provider has {len(candidates)} batches that may be it ({ids}); not "
                "creating another: cancel the ones that are not yours, then rerun",
                model=self.model.id,
            )
        return None

    async def _resume(self, record: BatchRecord) -> None:
        if record.state in ("prepared", "uploaded"):  # nothing was created yet: send it now
            await self._send(record, None)
        elif record.state == "creating":
            try:
                remote = await self._reconcile(record)
            except ProviderError as exc:
                self._stop(str(exc))
                return
            if remote is None:
                await self._send(record, None)
            else:
                self._submitted(record, remote)

    def _rebuild(self, record: BatchRecord) -> Path | None:
        """Write a recorded batch's file again, line for line, from the plan."""
        rows = self.store.batch_requests(record.local_id)
        missing = [key for _, key, _, _ in rows if key not in self.requests]
        if missing:
            self.store.update_batch(
                record.local_id,
                state="rejected",
                error=f"not sent: {len(missing)} of its requests are no longer in the study's plan",
            )
            self.store.save_many([], outcomes=[("requeued", record.local_id, cid) for cid, *_ in rows])
            log.warning(
                "%s: batch %s was prepared but not sent, and the study changed since: dropped (its requests "
                "that are still planned are asked anew)",
                self.model.id,
                record.local_id,
            )
            return None
        suffix = ".jsonl" if self.protocol.separator == b"\n" else ".json"
        handle = BatchFile(self.workdir / f"{record.local_id}{suffix}", self.protocol, self.protocol.limits)
        for custom_id, key, _, _ in rows:
            handle.add(self.protocol.entry(custom_id, self.provider.body(self.requests[key].request)))
        handle.close()
        return handle.path

    def _submitted(self, record: BatchRecord, remote: RemoteBatch) -> None:
        self.store.update_batch(
            record.local_id,
            state="submitted",
            remote_id=remote.id,
            remote_status=remote.status,
            submitted_at=utcnow(),
            counts=json.dumps(remote.counts, sort_keys=True),
        )
        log.info(
            "%s: batch %s submitted as %s (%d requests)",
            self.model.id,
            record.local_id,
            remote.id,
            record.requests,
        )

    def _reject(self, record: BatchRecord, exc: ProviderError) -> None:
        """The provider refused the batch (or its upload): its requests are stored as failed (asked
        again by the next run), and the model stops: the next batch would be refused alike."""
        message = redact(str(exc), self._secret)
        where = f"batch {record.local_id} ({record.requests:,} requests) rejected at creation: {message}"
        self.store.update_batch(record.local_id, state="rejected", error=message)
        rows, outcomes = [], []
        for custom_id, key, _, _ in self.store.batch_requests(record.local_id):
            request = self.requests.get(key)
            outcomes.append(("failed", record.local_id, custom_id))
            if request is not None:
                rows.append(self._error_row(request, where, exc, record, attempts=self._tries[key]))
        self.store.save_many(rows, outcomes=outcomes)
        for row in rows:
            self._count(row)
        self._stop(where)

    async def _with_retries(self, record: BatchRecord, what: str, call: Any) -> Any:
        for number in range(1, self.config.max_retries + 2):
            try:
                return await call()
            except (RateLimitError, TransientError) as exc:
                if number > self.config.max_retries:
                    raise
                retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
                delay = retry_after if retry_after is not None else self._delay(number)
                self._warn_retry(record, what, exc, delay)
                await asyncio.sleep(min(delay, self.config.backoff_cap))
        raise AssertionError("unreachable")

    def _delay(self, number: int) -> float:
        return backoff_delay(number, self.config, self._rng)

    def _warn_retry(self, record: BatchRecord, what: str, exc: ProviderError, delay: float) -> None:
        log.warning(
            "%s: batch %s (%d requests): %s failed (%s); trying again in %.1f s",
            self.model.id,
            record.local_id,
            record.requests,
            what,
            redact(str(exc), self._secret),
            delay,
        )

    # ------------------------------------------------------------------ polling

    async def _poll_until_done(self) -> None:
        failures: Counter[str] = Counter()
        unread: Counter[str] = Counter()  # failed readings of an ended batch's results, in a row
        while True:
            if self._pool and self.stopped is None:
                if self.settings.requeue == "live" or not self.submit:
                    self.live_units.extend(self._pool)
                    self._pool = []
                elif (wait := self._hold_until - time.monotonic()) > 0:
                    await asyncio.sleep(min(wait, self.settings.poll_seconds))
                    continue
                else:
                    pool, self._pool = self._pool, []
                    await self._submit(pool)
            running = self.store.batches(self.model.id, states=("submitted", "ended"))
            if self.stopped is not None or not running:
                if self.stopped is None and self._pool:
                    continue
                return
            progressed, backoff = False, 0.0  # backoff: after failed polls, wait longer (the server is down)
            for record in running:
                try:
                    remote = await self.protocol.retrieve(record.remote_id or "")
                except ProviderError as exc:
                    if exc.stops_model:
                        self._stop(f"polling batch {record.remote_id}: {redact(str(exc), self._secret)}")
                        return
                    failures[record.local_id] += 1
                    if failures[record.local_id] > max(self.config.max_retries, _POLL_RETRIES):
                        self._stop(
                            f"batch {record.remote_id} could not be polled {failures[record.local_id]} times "
                            f"in a row ({redact(str(exc), self._secret)}); it is still recorded: rerun to poll it"
                        )
                        return
                    backoff = max(backoff, self._delay(failures[record.local_id]))
                    log.info("%s: polling batch %s failed: %s", self.model.id, record.remote_id, exc)
                    continue
                failures[record.local_id] = 0
                record = self.store.update_batch(
                    record.local_id,
                    remote_status=remote.status,
                    counts=json.dumps(remote.counts, sort_keys=True),
                    polls=record.polls + 1,
                )
                if remote.state == "running":
                    continue
                progressed = True
                if record.state != "ended":
                    record = self.store.update_batch(
                        record.local_id,
                        state="ended",
                        ended_at=utcnow(),
                        output_file_id=remote.output_file_id,
                        error_file_id=remote.error_file_id,
                        results_url=remote.results_url,
                    )
                try:
                    if remote.state == "failed":
                        self._failed(record, remote)
                    else:
                        await self._process(record, remote)
                except ProviderError as exc:  # the results could not be read: try again at the next poll
                    message = redact(str(exc), self._secret)
                    if exc.stops_model:
                        self._stop(f"reading batch {record.remote_id}: {message}")
                        return
                    unread[record.local_id] += 1
                    if unread[record.local_id] > max(self.config.max_retries, _POLL_RETRIES):
                        self._stop(
                            f"the results of batch {record.remote_id} could not be read "
                            f"{unread[record.local_id]} times in a row ({message}); the batch is still "
                            "recorded: rerun to read them"
                        )
                        return
                    backoff = max(backoff, self._delay(unread[record.local_id]))
                    log.warning(
                        "%s: reading the results of batch %s failed (%s); trying again",
                        self.model.id,
                        record.remote_id,
                        message,
                    )
                    progressed = False
                else:
                    unread[record.local_id] = 0
            self._report()
            if not progressed and not self._pool:
                await asyncio.sleep(max(self.settings.poll_seconds, backoff))

    def _report(self) -> None:
        """Batches by state for the progress display: ours before submission and after processing,
        the provider's (``validating``, ``in_progress``, ``finalizing``, ``ended``, ...) between."""
        states: Counter[str] = Counter()
        for record in self.store.batches(self.model.id):
            remote = record.state in ("submitted", "ended") and record.remote_status
            states[remote or record.state] += 1
        self.sink.batches(self.model.id, dict(states))

    # ------------------------------------------------------------------ results

    def _failed(self, record: BatchRecord, remote: RemoteBatch) -> None:
        """The provider rejected the batch as a whole after creating it (OpenAI's validation)."""
        summary, capacity, lines = self.protocol.failure(remote)  # type: ignore[attr-defined]
        rows, attempts, outcomes = [], [], []
        blamed = 0
        for custom_id, key, line, outcome in self.store.batch_requests(record.local_id):
            if outcome is not None:
                continue
            request = self.requests.get(key)
            if request is None:
                outcomes.append(("failed", record.local_id, custom_id))
                continue
            if line in lines:
                blamed += 1
                error = RequestRejectedError(
                    f"batch {remote.id} line {line}: {lines[line]}", model=self.model.id
                )
                rows.append(self._error_row(request, str(error), error, record, attempts=self._tries[key]))
                outcomes.append(("failed", record.local_id, custom_id))
            else:
                error = TransientError(f"batch {remote.id} failed: {summary}", model=self.model.id)
                if (row := self._requeue(request, error)) is not None:
                    rows.append(row)
                outcomes.append(("requeued", record.local_id, custom_id))
            attempts.append(self._attempt(request, record, "batch_failed", message=summary))
        self.store.save_many(rows, attempts, outcomes=outcomes)
        for row in rows:
            self._count(row)
        self.store.update_batch(record.local_id, state="processed", processed_at=utcnow(), error=summary)
        log.warning(
            "%s: batch %s (%d requests) failed at the provider: %s; %s",
            self.model.id,
            remote.id,
            record.requests,
            summary,
            f"{blamed} requests on the lines it names are stored as failed, the others are asked again"
            if blamed
            else "its requests are asked again",
        )
        if capacity:  # the provider's queue is full: give it time before submitting them again
            self._hold_until = time.monotonic() + self._delay(max(1, self._tries.most_common(1)[0][1]))

    async def _process(self, record: BatchRecord, remote: RemoteBatch) -> None:
        members = {cid: (key, outcome) for cid, key, _, outcome in self.store.batch_requests(record.local_id)}
        seen: set[str] = set()
        unknown: list[str] = []
        malformed: list[MalformedLine] = []
        duplicates = 0
        reasons: Counter[str] = Counter()
        buffer = _Buffer()
        async for item in self.protocol.results(remote):
            if isinstance(item, MalformedLine):
                malformed.append(item)
                continue
            member = members.get(item.custom_id)
            if member is None:
                unknown.append(item.custom_id)
                continue
            if item.custom_id in seen:
                duplicates += 1
                continue
            seen.add(item.custom_id)
            key, outcome = member
            if outcome is not None:
                continue  # stored by an earlier reading of these results
            request = self.requests.get(key)
            if request is None:
                buffer.outcomes.append(("failed", record.local_id, item.custom_id))
                continue
            self._take(record, remote, request, item, buffer, reasons)
            if len(buffer) >= _CHUNK:
                self._flush(buffer)
        for custom_id, (key, outcome) in members.items():
            if outcome is None and custom_id not in seen and (request := self.requests.get(key)) is not None:
                reasons["missing from the results"] += 1
                error = TransientError(f"batch {remote.id}: no result for this request", model=self.model.id)
                row = self._requeue(request, error)
                if row is not None:
                    buffer.rows.append(row)
                buffer.attempts.append(self._attempt(request, record, "missing", message=str(error)))
                buffer.outcomes.append(("requeued", record.local_id, custom_id))
        self._flush(buffer)
        self.store.update_batch(record.local_id, state="processed", processed_at=utcnow())
        if unknown:
            log.warning(
                "%s: batch %s: its results name %d custom_ids it did not submit (first: %s); ignored",
                self.model.id,
                remote.id,
                len(unknown),
                unknown[0][:64],
            )
        if malformed:
            first = malformed[0]
            log.warning(
                "%s: batch %s: %d malformed lines in its results (line %d: %s, starting %r); their requests "
                "are asked again",
                self.model.id,
                remote.id,
                len(malformed),
                first.number,
                first.why,
                first.start[:40],
            )
        if duplicates:
            log.warning(
                "%s: batch %s: %d results repeat a custom_id; the first was kept",
                self.model.id,
                remote.id,
                duplicates,
            )
        again = {reason: n for reason, n in reasons.items() if n}
        if again:
            log.info("%s: batch %s: asked again: %s", self.model.id, remote.id, again)

    def _take(
        self,
        record: BatchRecord,
        remote: RemoteBatch,
        request: PlannedRequest,
        item: ResultLine,
        buffer: _Buffer,
        reasons: Counter[str],
    ) -> None:
        cid = item.custom_id
        if item.outcome == "ok":
            assert item.body is not None
            try:
                response = self.provider.parse_response(item.body)
            except ProviderError as exc:  # a malformed body: as a malformed live answer, asked again
                item = ResultLine(cid, "retry", error=exc, reason="malformed body")
            else:
                row = answer_row(
                    self.model,
                    request,
                    response,
                    run_id=self.run_id,
                    attempts=self._tries[request.key],
                    started=record.submitted_at or record.created_at,
                    latency=None,
                    source="batch",
                    batch_id=record.local_id,
                )
                buffer.rows.append(row)
                buffer.responses.append((request, response))
                buffer.attempts.append(self._attempt(request, record, "ok", status=item.status))
                buffer.outcomes.append(("stored", record.local_id, cid))
                again = (
                    request.kind == "ranking"
                    and row.status == "invalid"
                    and request.attempt < self.max_invalid_retries
                )
                if again:
                    nxt = request.with_attempt(request.attempt + 1)
                    self.requests[nxt.key] = nxt
                    self._pool.append(nxt)
                return
        error = item.error or TransientError(item.reason or "no answer", model=self.model.id)
        message = redact(str(error), self._secret)
        buffer.attempts.append(
            self._attempt(request, record, error.kind, status=item.status, message=message)
        )
        if item.outcome == "retry":
            reasons[item.reason or error.kind] += 1
            row = self._requeue(request, error)
            if row is not None:
                buffer.rows.append(row)
            buffer.outcomes.append(("requeued", record.local_id, cid))
            return
        buffer.rows.append(
            self._error_row(request, message, error, record, attempts=self._tries[request.key])
        )
        buffer.outcomes.append(("failed", record.local_id, cid))
        if error.stops_model:
            self._stop(f"batch {remote.id}: {message}")

    def _requeue(self, request: PlannedRequest, error: ProviderError) -> StoredResponse | None:
        """Ask ``request`` again (``None``), or its failed row when its retries are spent."""
        self._last_error[request.key] = error
        if self._tries[request.key] > self.config.max_retries:
            message = (
                f"{redact(str(error), self._secret)} (after {self._tries[request.key]} batch submissions)"
            )
            return self._error_row(request, message, error, None, attempts=self._tries[request.key])
        self._pool.append(request)
        return None

    def _fail(self, request: PlannedRequest, error: ProviderError, *, attempts: int) -> None:
        row = self._error_row(request, str(error), error, None, attempts=attempts)
        self.store.save(row)
        self._count(row)

    def _error_row(
        self,
        request: PlannedRequest,
        message: str,
        error: ProviderError,
        record: BatchRecord | None,
        *,
        attempts: int,
    ) -> StoredResponse:
        started = (record.submitted_at or record.created_at) if record is not None else utcnow()
        return error_row(
            self.model,
            request,
            message,
            run_id=self.run_id,
            attempts=attempts,
            started=started,
            error=error,
            source="batch",
            batch_id=record.local_id if record is not None else None,
        )

    def _attempt(
        self,
        request: PlannedRequest,
        record: BatchRecord,
        outcome: str,
        *,
        status: int | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        return attempt_row(
            self.model,
            request,
            run_id=self.run_id,
            number=self._tries[request.key],
            outcome=outcome,
            started=record.submitted_at or record.created_at,
            latency=None,
            status=status,
            message=message,
        )

    def _flush(self, buffer: _Buffer) -> None:
        if not (buffer.rows or buffer.outcomes or buffer.attempts):
            return
        self.store.save_many(buffer.rows, buffer.attempts, outcomes=buffer.outcomes)
        if self.cache is not None and buffer.responses:
            self.cache.put_responses(self.mp, buffer.responses, run_id=self.run_id, source="batch")
        for row in buffer.rows:
            self._count(row)
            self.sink.advance(
                self.model.id,
                status=row.status,
                input_tokens=row.input_tokens or 0,
                output_tokens=row.output_tokens or 0,
                cost=row.cost_usd or 0.0,
            )
        buffer.clear()

    def _count(self, row: StoredResponse) -> None:
        self.counts[row.status] = self.counts.get(row.status, 0) + 1


class _Buffer:
    """Rows, attempts and request outcomes waiting for their transaction."""

    def __init__(self) -> None:
        self.rows: list[StoredResponse] = []
        self.attempts: list[dict[str, Any]] = []
        self.outcomes: list[tuple[str, str, str]] = []
        self.responses: list[tuple[PlannedRequest, ChatResponse]] = []

    def __len__(self) -> int:
        return len(self.outcomes)

    def clear(self) -> None:
        self.rows, self.attempts, self.outcomes, self.responses = [], [], [], []
