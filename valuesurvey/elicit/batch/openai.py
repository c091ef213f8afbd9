"""OpenAI's Batch API (also spoken by OpenAI-compatible endpoints that implement it).

As documented (platform.openai.com/docs/guides/batch and the API reference, Files and Batch):

- input: a JSONL file, one request per line, ``{"custom_id", "method": "POST", "url":
  "/v1/chat/completions", "body"}``, every line for the same model, at most **50,000 requests** and
  **200 MB**; uploaded with ``POST /v1/files`` (multipart, ``purpose=batch``);
- ``POST /v1/batches`` ``{"input_file_id", "endpoint", "completion_window": "24h", "metadata"}``;
  ``GET /v1/batches/{id}``; ``GET /v1/batches?limit=&after=`` (newest first); ``POST
  /v1/batches/{id}/cancel``;
- status: ``validating`` → ``in_progress`` → ``finalizing`` → ``completed``; or ``failed`` (the input
  did not validate: ``errors.data`` = ``[{code, message, param, line}]``), ``expired`` (not done within
  the window: what completed is in the output file, the rest in the error file as ``batch_expired``),
  ``cancelling`` → ``cancelled`` (likewise, ``batch_cancelled``);
- results: ``GET /v1/files/{output_file_id}/content`` and ``.../{error_file_id}/content``, JSONL in
  no particular order, ``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null,
  "error": {"code", "message"} | null}``.

The metadata of each batch carries our id for it (``valuesurvey_batch``), and its input file is
unique to it: after a crash between sending the create request and recording its answer,
:meth:`OpenAIBatchProtocol.find_created` finds the batch by either, so that it is polled, not
created again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

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
)
from valuesurvey.elicit.providers._http import is_context_overflow

__all__ = ["ENDPOINT", "OpenAIBatchProtocol"]

ENDPOINT = "/v1/chat/completions"
_RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
_ENDED = frozenset({"completed", "expired", "cancelled"})
#: Request-level error codes that mean "not executed": asked again.
_NOT_EXECUTED = frozenset({"batch_expired", "batch_cancelled", "request_timeout"})
#: Batch-level error codes of a failed batch that are about capacity, not the input: asked again.
_CAPACITY = frozenset({"token_limit_exceeded", "rate_limit_exceeded", "request_limit_exceeded"})


class OpenAIBatchProtocol(BatchProtocol):
    name: ClassVar[str] = "openai"
    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)

    @property
    def base_url(self) -> str:
        return self.provider.base_url  # type: ignore[attr-defined, no-any-return]

    def entry(self, custom_id: str, body: dict[str, Any]) -> bytes:
        return encode({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})

    async def upload(self, path: Path) -> str | None:
        url = f"{self.base_url}/files"
        with open(path, "rb") as handle:
            data = await self._json(
                "POST",
                url,
                data={"purpose": "batch"},
                files={"file": (path.name, handle, "application/jsonl")},
            )
        file_id = data.get("id")
        if not isinstance(file_id, str) or not file_id:
            raise TransientError(f"POST {url}: the answer names no file id", model=self.model_id)
        return file_id

    async def create(self, path: Path, *, input_file_id: str | None, local_id: str) -> RemoteBatch:
        assert input_file_id is not None
        data = await self._json(
            "POST",
            f"{self.base_url}/batches",
            json={
                "input_file_id": input_file_id,
                "endpoint": ENDPOINT,
                "completion_window": "24h",
                "metadata": {"valuesurvey_batch": local_id},
            },
        )
        return self._remote(data, f"POST {self.base_url}/batches")

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        url = f"{self.base_url}/batches/{remote_id}"
        return self._remote(await self._json("GET", url), f"GET {url}")

    async def cancel(self, remote_id: str) -> None:
        await self._json("POST", f"{self.base_url}/batches/{remote_id}/cancel")

    async def find_created(
        self, *, input_file_id: str | None, local_id: str, since: float, requests: int
    ) -> list[RemoteBatch]:
        found: list[RemoteBatch] = []
        after: str | None = None
        while True:  # newest first: stop at the first batch created before ours was sent
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            url = f"{self.base_url}/batches"
            data = await self._json("GET", url, params=params)
            items = data.get("data")
            if not isinstance(items, list):
                raise TransientError(f"GET {url}: the answer has no list of batches", model=self.model_id)
            older = False
            for item in items:
                if not isinstance(item, dict):
                    continue
                metadata = item.get("metadata") or {}
                if (
                    item.get("input_file_id") == input_file_id
                    or metadata.get("valuesurvey_batch") == local_id
                ):
                    found.append(self._remote(item, f"GET {url}"))
                created = item.get("created_at")
                older = older or (isinstance(created, int | float) and created < since - 300)
            if older or not data.get("has_more") or not items:
                return found
            after = items[-1].get("id")

    def _remote(self, data: dict[str, Any], where: str) -> RemoteBatch:
        batch_id, status = data.get("id"), data.get("status")
        if not isinstance(batch_id, str) or not isinstance(status, str):
            raise TransientError(f"{where}: the answer is not a batch (no id or status)", model=self.model_id)
        if status in _ENDED:
            state = "ended"
        elif status == "failed":
            state = "failed"
        elif status in _RUNNING:
            state = "running"
        else:
            raise TransientError(f"{where}: unknown batch status {status!r}", model=self.model_id)
        counts = data.get("request_counts") or {}
        errors = (data.get("errors") or {}).get("data") or []
        return RemoteBatch(
            id=batch_id,
            status=status,
            state=state,
            counts={k: int(v) for k, v in counts.items() if isinstance(v, int)},
            output_file_id=data.get("output_file_id"),
            error_file_id=data.get("error_file_id"),
            errors=[e for e in errors if isinstance(e, dict)],
            created_at=data.get("created_at"),
            total=counts.get("total") if isinstance(counts.get("total"), int) else None,
        )

    def failure(self, remote: RemoteBatch) -> tuple[str, bool, dict[int, str]]:
        """A failed batch: one line saying why, whether it is about capacity (ask again later), and
        the input lines the provider blamed (line → message)."""
        messages = [f"{e.get('code') or 'error'}: {e.get('message') or ''}".strip() for e in remote.errors]
        capacity = any(e.get("code") in _CAPACITY for e in remote.errors) or not remote.errors
        lines = {
            int(e["line"]): f"{e.get('code') or 'error'}: {e.get('message') or ''}"
            for e in remote.errors
            if isinstance(e.get("line"), int)
        }
        summary = "; ".join(messages[:3]) or "no reason given"
        if len(messages) > 3:
            summary += f" (and {len(messages) - 3} more)"
        return summary, capacity, lines

    async def results(self, remote: RemoteBatch) -> AsyncIterator[ResultLine | MalformedLine]:  # type: ignore[override]
        for file_id in (remote.output_file_id, remote.error_file_id):
            if not file_id:
                continue
            async for number, line in self._lines(f"{self.base_url}/files/{file_id}/content"):
                yield self._result(number, line)

    def _result(self, number: int, line: str) -> ResultLine | MalformedLine:
        start = line[:80]
        try:
            data = json.loads(line)
        except ValueError:
            return MalformedLine(number, "not JSON", start)
        if not isinstance(data, dict):
            return MalformedLine(number, "not a JSON object", start)
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            return MalformedLine(number, "no custom_id", start)
        error, response = data.get("error"), data.get("response")
        if isinstance(error, dict):
            code = str(error.get("code") or "error")
            message = f"{code}: {error.get('message') or ''}".strip()
            if code in _NOT_EXECUTED:
                return ResultLine(
                    custom_id, "retry", reason=code, error=TransientError(message, model=self.model_id)
                )
            return ResultLine(
                custom_id, "error", reason=code, error=RequestRejectedError(message, model=self.model_id)
            )
        if not isinstance(response, dict):
            return MalformedLine(number, "neither a response nor an error", start)
        status, body = response.get("status_code"), response.get("body")
        if not isinstance(status, int) or not isinstance(body, dict):
            return MalformedLine(number, "a response without status_code or body", start)
        if status < 400:
            return ResultLine(custom_id, "ok", body=body, status=status)
        failure = self._http_error(status, body)
        outcome = "retry" if isinstance(failure, RateLimitError | TransientError) else "error"
        return ResultLine(custom_id, outcome, error=failure, reason=f"HTTP {status}", status=status)

    def _http_error(self, status: int, body: dict[str, Any]) -> ProviderError:
        """The error a request of the batch met, classed as a live request's would be."""
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        text = str(message or json.dumps(body)[:300])
        model = self.model_id
        if status == 429:
            return RateLimitError(text, model=model)
        if status >= 500 or status in (408, 409, 425):
            return TransientError(text, model=model, status=status)
        if is_context_overflow(status, json.dumps(body)):
            return ContextOverflowError(text, model=model, status=status)
        if status in (401, 403):
            return AuthenticationError(text, model=model, status=status)
        if status == 404:
            return ModelNotFoundError(text, model=model, status=status)
        return RequestRejectedError(text, model=model, status=status)
