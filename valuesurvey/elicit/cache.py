"""A response cache shared across studies: ``<cache dir>/responses-cache.sqlite``.

A study with ``cache: DIR`` in study.yaml (or ``VALUESURVEY_CACHE=DIR`` in the environment) looks
every request up before sending it; a cached response is interpreted as if it had just arrived,
stored in the study's ``responses.sqlite`` with ``source = cache`` and its ``cache_key``, and costs
nothing. Every response received (live or from a batch) is added.

What the key holds (:func:`cache_key`): exactly what defines an answer, the fields of the request key
(:data:`valuesurvey.elicit.plan.KEY_FIELDS`) without the study's own name for the model: the provider,
the API model and its answer-defining options, the messages, the sampling settings with the
request's seed, the answer mode and its constraint, the repetition and the attempt. Two studies
asking the same model the same prompts share their answers, whatever they call the model; a
different prompt, temperature, seed or repetition is a different entry. (Simulated respondents draw
from a generator seeded by their id, so for them the id is part of the key.) The cache trusts an API
model name to mean one model: give local servers distinct names (vLLM ``--served-model-name``) and
prune entries of an alias the provider moved (``deepseek-chat``) with ``valuesurvey cache prune``.

What an entry holds: the provider's response as received (text, finish reason, tokens,
``top_logprobs`` and continuations), not its interpretation, so that a study re-reads it with the
parser it runs; the request's canonical JSON; where it came from (study, run, live or batch) and
when; how often and when it was last reused. No API key is ever in it (keys live in headers only).

Durability is the store's: SQLite in WAL mode with ``synchronous=NORMAL``, every addition committed
at once (a batch's results in chunks, each one transaction), so a killed process loses no committed
entry; several studies may read and add at the same time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from valuesurvey.elicit.plan import PlannedRequest, canonical_json
from valuesurvey.elicit.providers import ChatResponse, Provider
from valuesurvey.elicit.store import utcnow
from valuesurvey.errors import ConfigError, DataError

__all__ = [
    "CACHE_ENV",
    "CACHE_FILE",
    "CacheEntry",
    "ResponseCache",
    "cache_dir_for",
    "cache_key",
]

#: Environment variable naming the cache directory (study.yaml ``cache:`` wins over it).
CACHE_ENV = "VALUESURVEY_CACHE"
CACHE_FILE = "responses-cache.sqlite"
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,            -- sha256 of request_json
    provider TEXT NOT NULL,
    api_model TEXT NOT NULL,
    answer_mode TEXT,
    request_json TEXT NOT NULL,      -- what defines the answer (no study model id, no key)
    response_json TEXT NOT NULL,     -- the provider's response: text, finish_reason, tokens, logprobs
    source TEXT,                     -- live | batch
    study TEXT,                      -- the study that paid for it
    run_id TEXT,
    created_at TEXT NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0, -- times a study reused it
    last_hit_at TEXT
);
CREATE INDEX IF NOT EXISTS entries_model ON entries (provider, api_model);
"""


def cache_key(request: PlannedRequest, provider: type[Provider]) -> tuple[str, str]:
    """The cache's key of ``request`` and the canonical JSON it hashes (see the module docstring).

    >>> from valuesurvey.elicit.providers import provider_class
    >>> class R:  # the fields of a planned request that matter here
    ...     base = {"model": "my-name-for-it", "provider": "openai_compatible", "api_model": "gpt-4o",
    ...             "options": {}, "messages": [], "settings": {"seed": None}, "answer_mode": "text",
    ...             "constraint": None, "rep": 0, "attempt": 0}
    >>> key, text = cache_key(R, provider_class("openai_compatible"))
    >>> "my-name-for-it" in text, len(key)
    (False, 64)
    """
    base = request.base
    fields = base if provider.answer_depends_on_model_id else {k: v for k, v in base.items() if k != "model"}
    text = canonical_json({"cache": _SCHEMA_VERSION, **fields})
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), text


def cache_dir_for(study: Any, *, environ: Mapping[str, str] | None = None) -> Path | None:
    """The study's cache directory: ``cache:`` in study.yaml (relative to the study), else
    ``$VALUESURVEY_CACHE``, else none."""
    if getattr(study, "cache", None) is not None:
        return Path(study.resolve(Path(study.cache))).expanduser()
    value = (environ if environ is not None else os.environ).get(CACHE_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _response_json(response: ChatResponse) -> str:
    return json.dumps(asdict(response), ensure_ascii=False, separators=(",", ":"))


def _response(text: str) -> ChatResponse:
    data = json.loads(text)
    return ChatResponse(**{k: data.get(k) for k in ChatResponse.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class CacheEntry:
    """A cached response and where it came from."""

    key: str
    response: ChatResponse
    study: str | None
    run_id: str | None
    source: str | None
    created_at: str


class ResponseCache:
    """The cache directory's SQLite file; open with :meth:`open` (a context manager).

    >>> import tempfile
    >>> with ResponseCache.open(tempfile.mkdtemp()) as cache:
    ...     cache.put_many([("k" * 64, "openai_compatible", "m", "text", "{}", ChatResponse(text="4"))],
    ...                    study="s", run_id="r", source="live")
    ...     cache.get_many(["k" * 64])["k" * 64].response.text
    '4'
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> ResponseCache:
        root = Path(directory)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"response cache directory {root}: cannot create it ({exc.strerror})") from None
        path = root / CACHE_FILE
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=10000")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a valuesurvey response cache ({exc})", path=path) from None
        if row is None:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(_SCHEMA_VERSION),))
        elif int(row[0]) > _SCHEMA_VERSION:
            db.close()
            raise DataError(
                f"written by a newer valuesurvey (cache schema {row[0]}, this one reads up to "
                f"{_SCHEMA_VERSION}); upgrade valuesurvey",
                path=path,
            )
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ lookups and additions

    def get_many(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The entries of those ``keys`` the cache holds."""
        found: dict[str, CacheEntry] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite allows 32,766 parameters; stay far below
            chunk = unique[start : start + 500]
            rows = self._db.execute(
                "SELECT key, response_json, study, run_id, source, created_at FROM entries "
                f"WHERE key IN ({', '.join('?' for _ in chunk)})",
                chunk,
            )
            for key, response, study, run_id, source, created in rows:
                found[key] = CacheEntry(key, _response(response), study, run_id, source, created)
        return found

    def record_hits(self, keys: Iterable[str]) -> None:
        """Count one reuse of each of ``keys`` (one transaction)."""
        now = utcnow()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "UPDATE entries SET hits = hits + 1, last_hit_at = ? WHERE key = ?", [(now, k) for k in keys]
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def put_many(
        self,
        entries: Iterable[tuple[str, str, str, str | None, str, ChatResponse]],
        *,
        study: str | None,
        run_id: str | None,
        source: str,
    ) -> None:
        """Add ``(key, provider, api_model, answer_mode, request_json, response)`` entries in one
        transaction; a key already cached keeps its first response."""
        now = utcnow()
        rows = [
            (key, provider, api_model, mode, text, _response_json(response), source, study, run_id, now)
            for key, provider, api_model, mode, text, response in entries
        ]
        if not rows:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO entries (key, provider, api_model, answer_mode, request_json, "
                "response_json, source, study, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ stats and pruning

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def stats(self) -> pd.DataFrame:
        """Per provider and API model: entries, hits (reuses), studies that added entries, the oldest
        and newest entry, and the bytes of their requests and responses."""
        return pd.read_sql_query(
            "SELECT provider, api_model, COUNT(*) AS entries, SUM(hits) AS hits, "
            "COUNT(DISTINCT study) AS studies, MIN(created_at) AS oldest, MAX(created_at) AS newest, "
            "SUM(LENGTH(request_json) + LENGTH(response_json)) AS bytes "
            "FROM entries GROUP BY provider, api_model ORDER BY provider, api_model",
            self._db,
        )

    def file_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(CACHE_FILE + "*") if p.is_file())

    def prune(
        self,
        *,
        older_than: timedelta | None = None,
        unused_for: timedelta | None = None,
        provider: str | None = None,
        api_model: str | None = None,
        dry_run: bool = False,
    ) -> int:
        """Delete the entries that match every condition given (all of them when none is); returns how
        many. ``older_than``: added longer ago; ``unused_for``: not reused for that long (or never,
        and added longer ago). The file shrinks (VACUUM) unless ``dry_run``."""
        where, args = ["1 = 1"], []
        now = datetime.now(UTC)
        if older_than is not None:
            where.append("created_at < ?")
            args.append((now - older_than).isoformat(timespec="milliseconds"))
        if unused_for is not None:
            where.append("COALESCE(last_hit_at, created_at) < ?")
            args.append((now - unused_for).isoformat(timespec="milliseconds"))
        if provider is not None:
            where.append("provider = ?")
            args.append(provider)
        if api_model is not None:
            where.append("api_model = ?")
            args.append(api_model)
        condition = " AND ".join(where)
        count = int(self._db.execute(f"SELECT COUNT(*) FROM entries WHERE {condition}", args).fetchone()[0])
        if dry_run or count == 0:
            return count
        self._db.execute(f"DELETE FROM entries WHERE {condition}", args)
        self._db.execute("VACUUM")
        return count


class StudyCache:
    """The cache as one study's run uses it: looks requests up, adds responses, counts reuses."""

    def __init__(self, cache: ResponseCache, *, study: str) -> None:
        self.cache = cache
        self.study = study

    def lookup(self, mp: Any, requests: Sequence[PlannedRequest]) -> dict[str, tuple[str, CacheEntry]]:
        """Request key → (cache key, entry) for the requests of model plan ``mp`` the cache holds."""
        keyed = {request.key: cache_key(request, mp.provider)[0] for request in requests}
        found = self.cache.get_many(list(keyed.values()))
        return {key: (ckey, found[ckey]) for key, ckey in keyed.items() if ckey in found}

    def put_responses(
        self,
        mp: Any,
        pairs: Iterable[tuple[PlannedRequest, ChatResponse]],
        *,
        run_id: str,
        source: str,
    ) -> None:
        entries = []
        for request, response in pairs:
            key, text = cache_key(request, mp.provider)
            entries.append(
                (key, mp.model.provider, mp.model.api_model, request.request.answer_mode, text, response)
            )
        self.cache.put_many(entries, study=self.study, run_id=run_id, source=source)
