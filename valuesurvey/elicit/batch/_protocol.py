"""What a batch protocol does, and the types that cross between it and the engine.

A protocol turns requests into the provider's batch input (:meth:`BatchProtocol.entry`), writes it to
a file within the documented limits (:class:`BatchFile`), submits it (``upload`` then ``create``),
reads the batch's state (``retrieve``), lists recent batches (``find_created``, after a crash between
sending a create request and recording its answer) and streams the results (``results``) as
:class:`ResultLine` or :class:`MalformedLine`, one per line of the provider's results file.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from valuesurvey.elicit._exceptions import ProviderError
from valuesurvey.elicit.providers import Provider
from valuesurvey.elicit.providers._http import check_status, decode_object, map_transport_errors

__all__ = [
    "BatchFile",
    "BatchLimits",
    "BatchProtocol",
    "MalformedLine",
    "RemoteBatch",
    "ResultLine",
    "encode",
]


def encode(obj: Any) -> bytes:
    """Compact UTF-8 JSON (what batch files hold, one entry per request).

    >>> encode({"custom_id": "k", "body": {"messages": ["é"]}})
    b'{"custom_id":"k","body":{"messages":["\\xc3\\xa9"]}}'
    """
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class BatchLimits:
    """What one batch may hold, as the provider documents it."""

    max_requests: int
    max_bytes: int

    def clipped(self, max_requests: int | None, max_bytes: int | None) -> BatchLimits:
        return BatchLimits(
            min(self.max_requests, max_requests or self.max_requests),
            min(self.max_bytes, max_bytes or self.max_bytes),
        )


@dataclass
class RemoteBatch:
    """A batch as the provider describes it at one poll.

    ``state`` is ours: ``running`` (the provider is still working on it), ``ended`` (its results, if
    any, can be read) or ``failed`` (rejected as a whole after creation, e.g. OpenAI's validation;
    ``errors`` then says why, with the input ``line`` where the provider names one).
    """

    id: str
    status: str
    state: Literal["running", "ended", "failed"]
    counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    results_url: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    created_at: float | None = None
    total: int | None = None


@dataclass(frozen=True)
class ResultLine:
    """The provider's result for one request of a batch.

    ``outcome``: ``ok`` (``body`` is the API's response body), ``error`` (``error`` says why; final,
    as a live request rejected alike would be) or ``retry`` (not answered: expired, cancelled, a
    server-side error; ``error`` says why; asked again within the run's budget).
    """

    custom_id: str
    outcome: Literal["ok", "error", "retry"]
    body: dict[str, Any] | None = None
    error: ProviderError | None = None
    reason: str = ""  # the provider's word for a retry: batch_expired, canceled, overloaded_error, ...
    status: int | None = None


@dataclass(frozen=True)
class MalformedLine:
    """A line of a results file that is not a result: its number, why, and how it starts."""

    number: int
    why: str
    start: str


class BatchFile:
    """Batch input written to disk as requests are added, within ``limits`` (count and bytes).

    :meth:`fits` says whether one more entry of ``size`` bytes would stay within them; the file's
    ``bytes`` are exactly what is uploaded (or posted, for Anthropic's inline body).
    """

    def __init__(self, path: Path, protocol: BatchProtocol, limits: BatchLimits) -> None:
        self.path = path
        self.protocol = protocol
        self.limits = limits
        self.count = 0
        self.bytes = len(protocol.prefix) + len(protocol.suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._handle.write(protocol.prefix)

    def fits(self, size: int) -> bool:
        extra = size + (len(self.protocol.separator) if self.count else 0)
        return self.count < self.limits.max_requests and self.bytes + extra <= self.limits.max_bytes

    def add(self, entry: bytes) -> int:
        """Append one entry; returns its 1-based position (the line number in a JSONL file)."""
        if self.count:
            self._handle.write(self.protocol.separator)
            self.bytes += len(self.protocol.separator)
        self._handle.write(entry)
        self.bytes += len(entry)
        self.count += 1
        return self.count

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.write(self.protocol.suffix)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()


class BatchProtocol:
    """Base class of the batch protocols (one subclass per API, :mod:`.openai`, :mod:`.anthropic`).

    Parameters
    ----------
    provider : Provider
        The model's provider: it builds each request's body and parses each result's body, exactly
        as for a live request, and knows the base URL and the key (sent in headers only).
    client : httpx.AsyncClient
        Sends the protocol's own requests (upload, create, poll, download).
    """

    name: ClassVar[str] = "base"
    #: The provider's documented limits per batch (requests, bytes of the file or request body).
    limits: ClassVar[BatchLimits]
    #: How entries are framed in the file: JSONL for OpenAI, one JSON object for Anthropic.
    prefix: ClassVar[bytes] = b""
    separator: ClassVar[bytes] = b"\n"
    suffix: ClassVar[bytes] = b"\n"

    def __init__(self, provider: Provider, client: httpx.AsyncClient, *, secret: str | None) -> None:
        self.provider = provider
        self.client = client
        self.secret = secret
        self.model_id = provider.model.id

    # ------------------------------------------------------------------ what subclasses provide

    def entry(self, custom_id: str, body: dict[str, Any]) -> bytes:
        """One request as the batch input holds it."""
        raise NotImplementedError

    async def upload(self, path: Path) -> str | None:
        """Upload the input file; its id (``None``: this protocol sends the requests inline)."""
        return None

    async def create(self, path: Path, *, input_file_id: str | None, local_id: str) -> RemoteBatch:
        """Create the batch; it begins processing at once."""
        raise NotImplementedError

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        raise NotImplementedError

    async def find_created(
        self, *, input_file_id: str | None, local_id: str, since: float, requests: int
    ) -> list[RemoteBatch]:
        """Batches the provider has that may be the one a create request sent at ``since`` (unix
        time) made, before the run that sent it died."""
        raise NotImplementedError

    def results(self, remote: RemoteBatch) -> AsyncIterator[ResultLine | MalformedLine]:
        """Every line of the batch's results (OpenAI: the output file, then the error file)."""
        raise NotImplementedError

    async def cancel(self, remote_id: str) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ HTTP, mapped onto our errors

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        headers = {**self.provider_headers(), **kwargs.pop("headers", {})}
        with map_transport_errors(method, url, model=self.model_id, secret=self.secret):
            response = await self.client.request(method, url, headers=headers, **kwargs)
        check_status(response, method, url, model=self.model_id, secret=self.secret)
        return decode_object(response, method, url, model=self.model_id)

    async def _lines(self, url: str) -> AsyncIterator[tuple[int, str]]:
        """The lines of a results file, streamed (a file of 50,000 results is never held whole)."""
        headers = self.provider_headers()
        with map_transport_errors("GET", url, model=self.model_id, secret=self.secret):
            async with self.client.stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    check_status(response, "GET", url, model=self.model_id, secret=self.secret)
                # Split on "\n" only: httpx's aiter_lines also splits on U+2028 and other separators,
                # which JSON strings may hold unescaped (an answer's text).
                number, pending = 0, b""
                async for chunk in response.aiter_bytes():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        number += 1
                        if line.strip():
                            yield number, line.decode("utf-8", errors="replace")
                if pending.strip():
                    yield number + 1, pending.decode("utf-8", errors="replace")

    def provider_headers(self) -> dict[str, str]:
        """The provider's headers for API calls that are not one request (no request key)."""
        headers = self.provider.headers()  # type: ignore[attr-defined]
        return dict(headers)


async def file_chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, to stream it as a request body."""
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk
