"""Anthropic's Message Batches API.

As documented (docs.anthropic.com, "Batch processing" and the Message Batches API reference):

- ``POST /v1/messages/batches`` with ``{"requests": [{"custom_id", "params"}, ...]}`` inline, at most
  **100,000 requests** or **256 MB**, whichever comes first; ``custom_id`` matches
  ``^[a-zA-Z0-9_-]{1,64}$`` (our request keys: 64 hex digits);
- ``GET /v1/messages/batches/{id}``; ``GET /v1/messages/batches?limit=&after_id=`` (newest first);
  ``POST /v1/messages/batches/{id}/cancel``;
- ``processing_status``: ``in_progress`` → (``canceling``) → ``ended``; ``request_counts``
  ``{processing, succeeded, errored, canceled, expired}``; a batch ends within 24 hours, its
  unprocessed requests then ``expired``;
- results: ``GET`` the batch's ``results_url`` (JSONL, in no particular order):
  ``{"custom_id", "result": {"type": "succeeded", "message"} | {"type": "errored", "error":
  {"type": "error", "error": {"type", "message"}}} | {"type": "canceled"} | {"type": "expired"}}``.

The batch object carries no metadata: after a crash between sending the create request and
recording its answer, :meth:`AnthropicBatchProtocol.find_created` lists the batches created since
then with as many requests as ours and not already known; the engine adopts a single one and
refuses to guess among several (the results' custom_ids confirm the adoption: ours are our keys).
The API key is sent only to the API's own host: a ``results_url`` elsewhere is refused.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from valuesurvey.elicit._exceptions import (
    AuthenticationError,
    ContextOverflowError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    RequestRejectedError,
    TransientError,
)
from valuesurvey.elicit.batch._protocol import (
    BatchLimits,
    BatchProtocol,
    MalformedLine,
    RemoteBatch,
    ResultLine,
    encode,
    file_chunks,
)

__all__ = ["AnthropicBatchProtocol"]

#: Error types of an errored request that are the server's (asked again) and that stop the model.
_RETRY_TYPES = frozenset({"api_error", "overloaded_error", "rate_limit_error", "timeout_error"})
_AUTH_TYPES = frozenset({"authentication_error", "permission_error", "billing_error"})


def _unix(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class AnthropicBatchProtocol(BatchProtocol):
    name: ClassVar[str] = "anthropic"
    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    prefix: ClassVar[bytes] = b'{"requests":['
    separator: ClassVar[bytes] = b","
    suffix: ClassVar[bytes] = b"]}"

    @property
    def base_url(self) -> str:
        return self.provider.base_url  # type: ignore[attr-defined, no-any-return]

    def entry(self, custom_id: str, body: dict[str, Any]) -> bytes:
        return encode({"custom_id": custom_id, "params": body})

    async def create(self, path: Path, *, input_file_id: str | None, local_id: str) -> RemoteBatch:
        url = f"{self.base_url}/v1/messages/batches"
        size = path.stat().st_size
        data = await self._json(
            "POST",
            url,
            content=file_chunks(path),
            headers={"Content-Type": "application/json", "Content-Length": str(size)},
        )
        return self._remote(data, f"POST {url}")

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        url = f"{self.base_url}/v1/messages/batches/{remote_id}"
        return self._remote(await self._json("GET", url), f"GET {url}")

    async def cancel(self, remote_id: str) -> None:
        await self._json("POST", f"{self.base_url}/v1/messages/batches/{remote_id}/cancel")

    async def find_created(
        self, *, input_file_id: str | None, local_id: str, since: float, requests: int
    ) -> list[RemoteBatch]:
        found: list[RemoteBatch] = []
        after: str | None = None
        url = f"{self.base_url}/v1/messages/batches"
        while True:  # newest first: stop at the first batch created before ours was sent
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after_id"] = after
            data = await self._json("GET", url, params=params)
            items = data.get("data")
            if not isinstance(items, list):
                raise TransientError(f"GET {url}: the answer has no list of batches", model=self.model_id)
            older = False
            for item in items:
                if not isinstance(item, dict):
                    continue
                remote = self._remote(item, f"GET {url}")
                created = remote.created_at
                if created is not None and created < since - 300:
                    older = True  # 5 minutes of clock skew between us and the provider allowed
                    continue
                if remote.total == requests:
                    found.append(remote)
            if older or not data.get("has_more") or not items:
                return found
            after = data.get("last_id") or items[-1].get("id")

    def _remote(self, data: dict[str, Any], where: str) -> RemoteBatch:
        batch_id, status = data.get("id"), data.get("processing_status")
        if not isinstance(batch_id, str) or not isinstance(status, str):
            raise TransientError(
                f"{where}: the answer is not a message batch (no id or processing_status)",
                model=self.model_id,
            )
        if status not in ("in_progress", "canceling", "ended"):
            raise TransientError(f"{where}: unknown processing_status {status!r}", model=self.model_id)
        counts = {k: int(v) for k, v in (data.get("request_counts") or {}).items() if isinstance(v, int)}
        return RemoteBatch(
            id=batch_id,
            status=status,
            state="ended" if status == "ended" else "running",
            counts=counts,
            results_url=data.get("results_url"),
            created_at=_unix(data.get("created_at")),
            total=sum(counts.values()) if counts else None,
        )

    async def results(self, remote: RemoteBatch) -> AsyncIterator[ResultLine | MalformedLine]:  # type: ignore[override]
        url = remote.results_url or f"{self.base_url}/v1/messages/batches/{remote.id}/results"
        if httpx.URL(url).netloc != httpx.URL(self.base_url).netloc:
            raise RequestRejectedError(
                f"batch {remote.id}: results_url {url} is not on the API's host ({self.base_url}); "
                "not sending the API key there",
                model=self.model_id,
            )
        async for number, line in self._lines(url):
            yield self._result(number, line)

    def _result(self, number: int, line: str) -> ResultLine | MalformedLine:
        start = line[:80]
        try:
            data = json.loads(line)
        except ValueError:
            return MalformedLine(number, "not JSON", start)
        if not isinstance(data, dict):
            return MalformedLine(number, "not a JSON object", start)
        custom_id, result = data.get("custom_id"), data.get("result")
        if not isinstance(custom_id, str) or not custom_id:
            return MalformedLine(number, "no custom_id", start)
        if not isinstance(result, dict):
            return MalformedLine(number, "no result object", start)
        kind = result.get("type")
        if kind == "succeeded":
            message = result.get("message")
            if not isinstance(message, dict):
                return MalformedLine(number, "a succeeded result without a message", start)
            return ResultLine(custom_id, "ok", body=message)
        if kind in ("canceled", "expired"):
            error = TransientError(f"the request was {kind} before it was processed", model=self.model_id)
            return ResultLine(custom_id, "retry", reason=kind, error=error)
        if kind == "errored":
            error = self._error(result.get("error"))
            outcome = "retry" if isinstance(error, RateLimitError | TransientError) else "error"
            return ResultLine(custom_id, outcome, error=error, reason=getattr(error, "detail", "")[:60])
        return MalformedLine(number, f"unknown result type {kind!r}", start)

    def _error(self, error: Any) -> ProviderError:
        """An errored request's error (``{"type": "error", "error": {"type", "message"}}``, or the
        inner object alone), classed as a live request's would be."""
        inner = error.get("error", error) if isinstance(error, dict) else {}
        inner = inner if isinstance(inner, dict) else {}
        kind = str(inner.get("type") or "api_error")
        message = f"{kind}: {inner.get('message') or ''}".strip()
        model = self.model_id
        if kind == "rate_limit_error":
            return RateLimitError(message, model=model)
        if kind in _RETRY_TYPES:
            return TransientError(message, model=model)
        if kind in _AUTH_TYPES:
            return AuthenticationError(message, model=model)
        if kind == "not_found_error":
            return ModelNotFoundError(message, model=model)
        if "prompt is too long" in message.lower():
            return ContextOverflowError(message, model=model)
        return RequestRejectedError(message, model=model)
