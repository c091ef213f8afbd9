"""The durable response store: ``responses.sqlite`` (SQLite in WAL mode).

One row per request key in ``responses``; every HTTP attempt in ``attempts``; one row per run in
``runs``. Each answer is committed on its own as soon as it is parsed, so a process killed at any
moment (SIGKILL included) loses no committed answer, and a resumed run skips every key already
answered. WAL with ``synchronous=NORMAL`` survives the death of the process (committed pages are
in the WAL file); only a power cut may lose the last transactions, which are then asked again.

A row's status is final (``ok``, ``refusal``, ``invalid``, ``nonsense``) or ``error`` (the request
failed after its retries or was rejected): errors are asked again by the next run and their row is
replaced, keeping the count of attempts.

The request JSON holds what defines the answer (messages, sampling settings with the request's
seed, answer mode and constraint, provider, API model and answer-defining options: the fields of the
request key, :data:`valuesurvey.elicit.plan.KEY_FIELDS`) and never an API key.

Batch submissions (:mod:`valuesurvey.elicit.batch`) are recorded in ``batches`` (one row per batch:
our id, the provider's id once known, its state) and ``batch_requests`` (each request's
``custom_id`` and key), written and committed *before* anything is sent to the provider: a killed run
finds every batch it submitted, or was about to submit, and polls it instead of submitting its
requests again. A request in a batch that is not finished is never sent again, in a batch or live.

Schema versions (``meta.schema_version``): a store written by an older version is migrated in place,
in one transaction, when it is opened.

- 3: ``batches`` and ``batch_requests``; per answer its ``source`` (``live``, ``batch`` or ``cache``:
  reused from the response cache, not paid again), ``batch_id`` and ``cache_key``. A store of
  schema 3 is refused by older versions, which would not see the submitted batches and would pay
  for their requests again.
- 2: request keys leave out transport settings (base URL, timeouts, retries, llama.cpp slots, …) and
  hold the constraint; per-request ``seed``; ``error_kind`` of failed rows; ``previous_key``.
  Migrating from 1 re-keys every text-mode answer that was asked without a seed (rankings
  included) to the key the current plan gives it, so that no stored answer is asked and paid for
  again; its old key is kept in ``previous_key`` and its attempts follow it. Answers asked in
  ``logprobs`` or ``constrained`` mode, or with ``generation.seed`` (the same seed for every
  repetition), keep their old key: they stay in the store, but the plan asks them again, because
  version 2 measures those modes differently and sends each repetition its own seed. The counts are
  logged and kept in ``meta.migration_v1``.
- 1: the first layout.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from valuesurvey.errors import DataError

__all__ = [
    "BATCH_OPEN_STATES",
    "BATCH_STATES",
    "FINAL_STATUSES",
    "SCHEMA_VERSION",
    "BatchRecord",
    "ResponseStore",
    "StoredResponse",
    "utcnow",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
FINAL_STATUSES = ("ok", "refusal", "invalid", "nonsense")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    run_id TEXT,
    model TEXT NOT NULL,
    provider TEXT,
    origin TEXT,
    company TEXT,
    kind TEXT NOT NULL,              -- rating | ranking
    instrument TEXT,
    language TEXT,
    persona TEXT,
    rep INTEGER,
    item TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    answer_mode TEXT,
    request_json TEXT NOT NULL,
    raw_text TEXT,
    finish_reason TEXT,
    parsed_value REAL,
    parsed_order TEXT,               -- ranking: JSON list of value ids, most important first
    probabilities TEXT,              -- logprobs mode: JSON {scale point: probability}
    status TEXT NOT NULL,            -- ok | refusal | invalid | nonsense | error
    reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd REAL,
    latency_s REAL,
    attempts INTEGER NOT NULL,
    error TEXT,
    started_at TEXT,
    completed_at TEXT,
    seed INTEGER,                    -- the seed sent with the request (none without generation.seed)
    error_kind TEXT,                 -- status error: auth | not_found | html | invalid_url | rejected |
                                     -- context_overflow | rate_limit | transient | error (unexpected)
    previous_key TEXT,               -- the key a row had before a schema migration re-keyed it
    scale_mass REAL,                 -- logprobs mode: probability that fell on scale points
    listing_order TEXT,              -- ranking: JSON list of value ids in the order the prompt listed them
    source TEXT,                     -- live | batch | cache (reused from the response cache, cost 0)
    batch_id TEXT,                   -- source batch: our id of the batch (batches.local_id)
    cache_key TEXT                   -- the response cache's key of the answer (source cache: where from)
);
CREATE INDEX IF NOT EXISTS responses_model ON responses (model);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    run_id TEXT,
    model TEXT NOT NULL,
    number INTEGER NOT NULL,
    outcome TEXT NOT NULL,           -- ok | rate_limit | transient | rejected | error
    http_status INTEGER,
    message TEXT,
    latency_s REAL,
    started_at TEXT
);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts (key);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    info TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    local_id TEXT PRIMARY KEY,       -- ours, recorded before anything is sent
    model TEXT NOT NULL,
    protocol TEXT NOT NULL,          -- openai | anthropic
    state TEXT NOT NULL,             -- prepared | uploaded | creating | submitted | ended | processed | rejected
    remote_id TEXT,                  -- the provider's batch id, once it gave one
    remote_status TEXT,              -- the provider's own status (validating, in_progress, ended, ...)
    input_file_id TEXT,              -- openai: the uploaded JSONL file
    output_file_id TEXT,
    error_file_id TEXT,
    results_url TEXT,                -- anthropic
    requests INTEGER NOT NULL,
    bytes INTEGER,                   -- size of the JSONL file / request body
    counts TEXT,                     -- JSON: the provider's request counts at the last poll
    run_id TEXT,                     -- the run that prepared it
    created_at TEXT NOT NULL,
    creating_at TEXT,                -- when the create request was sent (reconciled after a crash)
    submitted_at TEXT,
    ended_at TEXT,
    processed_at TEXT,
    polls INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS batches_model ON batches (model, state);
CREATE TABLE IF NOT EXISTS batch_requests (
    local_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    key TEXT NOT NULL,
    line INTEGER NOT NULL,           -- 1-based line of the JSONL file (openai), index + 1 (anthropic)
    outcome TEXT,                    -- null while pending; stored | requeued | failed
    PRIMARY KEY (local_id, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests (key);
"""

#: States of a batch in ``batches.state``; the first five are not finished (their requests are in flight).
BATCH_OPEN_STATES = ("prepared", "uploaded", "creating", "submitted", "ended")
BATCH_STATES = (*BATCH_OPEN_STATES, "processed", "rejected")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StoredResponse:
    """One row of ``responses``."""

    key: str
    model: str
    kind: str
    request_json: str
    status: str
    attempts: int
    run_id: str | None = None
    provider: str | None = None
    origin: str | None = None
    company: str | None = None
    instrument: str | None = None
    language: str | None = None
    persona: str | None = None
    rep: int | None = None
    item: str | None = None
    attempt: int = 0
    answer_mode: str | None = None
    raw_text: str | None = None
    finish_reason: str | None = None
    parsed_value: float | None = None
    parsed_order: str | None = None
    probabilities: str | None = None
    reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    error: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    seed: int | None = None
    error_kind: str | None = None
    previous_key: str | None = None
    scale_mass: float | None = None
    listing_order: str | None = None
    source: str | None = None
    batch_id: str | None = None
    cache_key: str | None = None


@dataclass(frozen=True)
class BatchRecord:
    """One row of ``batches``."""

    local_id: str
    model: str
    protocol: str
    state: str
    requests: int
    created_at: str
    remote_id: str | None = None
    remote_status: str | None = None
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    results_url: str | None = None
    bytes: int | None = None
    counts: str | None = None
    run_id: str | None = None
    creating_at: str | None = None
    submitted_at: str | None = None
    ended_at: str | None = None
    processed_at: str | None = None
    polls: int = 0
    error: str | None = None


_BATCH_COLUMNS = tuple(BatchRecord.__dataclass_fields__)
_COLUMNS = tuple(StoredResponse.__dataclass_fields__)
_INSERT = (
    f"INSERT OR REPLACE INTO responses ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


class ResponseStore:
    """``responses.sqlite``: open with :meth:`open` (or use as a context manager).

    >>> import tempfile, pathlib
    >>> with ResponseStore.open(pathlib.Path(tempfile.mkdtemp()) / "r.sqlite") as store:
    ...     store.save(StoredResponse(key="k1", model="m", kind="rating", request_json="{}",
    ...                               status="ok", attempts=1, parsed_value=4.0))
    ...     store.final_statuses()
    {'k1': 'ok'}
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> ResponseStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")  # one process migrates; the others then find version 2
        try:
            _upgrade(db, path)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def save(self, row: StoredResponse, attempts: Iterable[dict[str, Any]] = ()) -> None:
        """Commit one answer (replacing an earlier ``error`` row) and its attempts, atomically."""
        values = tuple(getattr(row, c) for c in _COLUMNS)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(_INSERT, values)
            self._insert_attempts(attempts)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def save_many(
        self,
        rows: Iterable[StoredResponse],
        attempts: Iterable[dict[str, Any]] = (),
        *,
        outcomes: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        """Commit many answers, their attempts and the outcomes of their batch requests
        (``(outcome, local_id, custom_id)``) in one transaction: all of them or none."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_INSERT, [tuple(getattr(r, c) for c in _COLUMNS) for r in rows])
            self._insert_attempts(attempts)
            db.executemany(
                "UPDATE batch_requests SET outcome = ? WHERE local_id = ? AND custom_id = ?", list(outcomes)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def record_attempt(self, attempt: dict[str, Any]) -> None:
        """Commit one failed attempt at once (rare; the successful one is saved with the answer)."""
        self._insert_attempts([attempt])

    # ------------------------------------------------------------------ batches

    def add_batch(self, batch: BatchRecord, requests: Iterable[tuple[str, str, int]]) -> None:
        """Commit a new batch and its requests (``(custom_id, key, line)``) before anything is sent."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                f"INSERT INTO batches ({', '.join(_BATCH_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _BATCH_COLUMNS)})",
                tuple(getattr(batch, c) for c in _BATCH_COLUMNS),
            )
            db.executemany(
                "INSERT INTO batch_requests (local_id, custom_id, key, line) VALUES (?, ?, ?, ?)",
                [(batch.local_id, custom_id, key, line) for custom_id, key, line in requests],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def update_batch(self, local_id: str, **fields: Any) -> BatchRecord:
        """Commit changed fields of a batch (its state, the provider's id, ...); returns the new row."""
        bad = set(fields) - set(_BATCH_COLUMNS)
        if bad:
            raise ValueError(f"unknown batches columns: {sorted(bad)}")
        if fields:
            assignments = ", ".join(f"{name} = ?" for name in fields)
            self._db.execute(
                f"UPDATE batches SET {assignments} WHERE local_id = ?", (*fields.values(), local_id)
            )
        batch = self.batch(local_id)
        assert batch is not None
        return batch

    def batch(self, local_id: str) -> BatchRecord | None:
        row = self._db.execute(
            f"SELECT {', '.join(_BATCH_COLUMNS)} FROM batches WHERE local_id = ?", (local_id,)
        ).fetchone()
        return None if row is None else BatchRecord(*row)

    def batches(self, model: str | None = None, *, states: Iterable[str] | None = None) -> list[BatchRecord]:
        """Batches in the order they were prepared (of ``model``, in ``states``, when given)."""
        query, args = f"SELECT {', '.join(_BATCH_COLUMNS)} FROM batches WHERE 1 = 1", []
        if model is not None:
            query += " AND model = ?"
            args.append(model)
        if states is not None:
            states = tuple(states)
            query += f" AND state IN ({', '.join('?' for _ in states)})"
            args.extend(states)
        return [BatchRecord(*row) for row in self._db.execute(query + " ORDER BY rowid", args)]

    def batch_requests(self, local_id: str) -> list[tuple[str, str, int, str | None]]:
        """``(custom_id, key, line, outcome)`` of every request of a batch, in line order."""
        return self._db.execute(
            "SELECT custom_id, key, line, outcome FROM batch_requests WHERE local_id = ? ORDER BY line",
            (local_id,),
        ).fetchall()

    def in_flight_keys(self, model: str | None = None) -> set[str]:
        """Keys of requests in a batch that is not finished and whose result is not stored yet: they
        must not be sent again."""
        marks = ", ".join("?" for _ in BATCH_OPEN_STATES)
        query = (
            "SELECT r.key FROM batch_requests r JOIN batches b ON b.local_id = r.local_id "
            f"WHERE b.state IN ({marks}) AND r.outcome IS NULL"
        )
        args: tuple[Any, ...] = BATCH_OPEN_STATES
        if model is not None:
            query += " AND b.model = ?"
            args = (*args, model)
        return {row[0] for row in self._db.execute(query, args)}

    def known_remote_ids(self, protocol: str) -> set[str]:
        """The provider batch ids this store already knows (of any model)."""
        rows = self._db.execute(
            "SELECT remote_id FROM batches WHERE protocol = ? AND remote_id IS NOT NULL", (protocol,)
        )
        return {row[0] for row in rows}

    def _insert_attempts(self, attempts: Iterable[dict[str, Any]]) -> None:
        self._db.executemany(
            "INSERT INTO attempts (key, run_id, model, number, outcome, http_status, message, latency_s, "
            "started_at) VALUES (:key, :run_id, :model, :number, :outcome, :http_status, :message, "
            ":latency_s, :started_at)",
            list(attempts),
        )

    def start_run(self, run_id: str, info: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO runs (run_id, started_at, info) VALUES (?, ?, ?)",
            (run_id, utcnow(), json.dumps(info, sort_keys=True, default=str)),
        )

    def finish_run(self, run_id: str) -> None:
        self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (utcnow(), run_id))

    # ------------------------------------------------------------------ reading

    def final_statuses(self, model: str | None = None) -> dict[str, str]:
        """Key → status of every row with a final status (these keys are never sent again)."""
        marks = ", ".join("?" for _ in FINAL_STATUSES)
        query = f"SELECT key, status FROM responses WHERE status IN ({marks})"
        args: tuple[Any, ...] = FINAL_STATUSES
        if model is not None:
            query += " AND model = ?"
            args = (*args, model)
        return dict(self._db.execute(query, args).fetchall())

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def get(self, key: str) -> StoredResponse | None:
        cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM responses WHERE key = ?", (key,))
        row = cursor.fetchone()
        return None if row is None else StoredResponse(*row)

    def iter_rows(self) -> Iterator[StoredResponse]:
        for row in self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM responses ORDER BY rowid"):
            yield StoredResponse(*row)

    def frame(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The ``responses`` table as a DataFrame (all columns unless ``columns`` is given)."""
        cols = list(columns or _COLUMNS)
        bad = set(cols) - set(_COLUMNS)
        if bad:
            raise ValueError(f"unknown responses columns: {sorted(bad)}")
        return pd.read_sql_query(f"SELECT {', '.join(cols)} FROM responses ORDER BY rowid", self._db)

    def attempts_frame(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM attempts ORDER BY id", self._db)

    def failed(self, run_id: str) -> pd.DataFrame:
        """The rows run ``run_id`` left failed (status ``error``): model, key, error_kind, error,
        attempts, completed_at, in the order they failed."""
        return pd.read_sql_query(
            "SELECT model, key, error_kind, error, attempts, completed_at FROM responses "
            "WHERE status = 'error' AND run_id = ? ORDER BY completed_at, rowid",
            self._db,
            params=(run_id,),
        )

    def schema_version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0])


# ---------------------------------------------------------------------- schema upgrades


def _sql_type(annotation: str) -> str:
    return "INTEGER" if "int" in annotation else "REAL" if "float" in annotation else "TEXT"


def _upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Bring an older store to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    if row is None:  # a new store: the CREATE statements made the current layout
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise DataError(
            f"written by a newer valuesurvey (store schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); upgrade valuesurvey",
            path=path,
        )
    # Columns added since (nullable): from the row type, so that a new field needs no migration code.
    present = {r[1] for r in db.execute("PRAGMA table_info(responses)")}
    for name, spec in StoredResponse.__dataclass_fields__.items():
        if name not in present:
            db.execute(f"ALTER TABLE responses ADD COLUMN {name} {_sql_type(str(spec.type))}")
    if version < 2:
        _rekey_v1(db, path)
    db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))


def _rekey_v1(db: sqlite3.Connection, path: Path) -> None:
    """Schema 1 → 2: re-key the answers whose request the new key describes exactly (see the module
    docstring); the others keep their old key."""
    from valuesurvey.elicit.plan import canonical_json, request_key
    from valuesurvey.elicit.providers._base import answer_identity

    counts = {"rekeyed": 0, "not_reused_mode": 0, "not_reused_seed": 0, "kept_duplicate": 0}
    winners: dict[str, tuple[tuple[int, str], str, str]] = {}  # new key -> (rank, old key, new json)
    for key, model, text, status, completed in db.execute(
        "SELECT key, model, request_json, status, completed_at FROM responses ORDER BY rowid"
    ):
        old = json.loads(text)
        if old.get("answer_mode") != "text":
            counts["not_reused_mode"] += 1
            continue
        if (old.get("settings") or {}).get("seed") is not None:
            counts["not_reused_seed"] += 1
            continue
        new = {
            **answer_identity(model, old["provider"], old["api_model"], old.get("options") or {}),
            "messages": old["messages"],
            "settings": old["settings"],
            "answer_mode": "text",
            "constraint": None,
            "rep": old["rep"],
            "attempt": old["attempt"],
        }
        new_json = canonical_json(new)
        new_key = request_key(new_json)
        # Two old rows may be one request now (asked on two ports): keep a final answer, the latest.
        rank = (int(status in FINAL_STATUSES), completed or "")
        best = winners.get(new_key)
        if best is not None:
            counts["kept_duplicate"] += 1
            if best[0] >= rank:
                continue
        winners[new_key] = (rank, key, new_json)
    for new_key, (_, old_key, new_json) in winners.items():
        if new_key == old_key:
            continue
        db.execute(
            "UPDATE responses SET key = ?, request_json = ?, previous_key = ? WHERE key = ?",
            (new_key, new_json, old_key, old_key),
        )
        db.execute("UPDATE attempts SET key = ? WHERE key = ?", (new_key, old_key))
    counts["rekeyed"] = len(winners)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('migration_v1', ?)", (json.dumps(counts),))
    if any(counts.values()):
        log.warning(
            "%s: upgraded to store schema 2: %d answers re-keyed (transport settings are no longer part "
            "of request keys; none will be asked again); %d logprobs/constrained and %d seeded answers "
            "are kept but asked again (measured differently since schema 2); %d duplicates kept under "
            "their old key",
            path,
            counts["rekeyed"],
            counts["not_reused_mode"],
            counts["not_reused_seed"],
            counts["kept_duplicate"],
        )


def row_dict(row: StoredResponse) -> dict[str, Any]:
    return asdict(row)
