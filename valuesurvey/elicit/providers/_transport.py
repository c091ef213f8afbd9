"""A lean HTTP/1.1 transport for httpx on asyncio streams.

httpx's default transport (httpcore over anyio) spends about 1 ms of CPU per request on locks,
cancel scopes and tracing. At a few hundred API calls per second on two cores that is half a core,
and the event loop's queueing delay then costs more throughput than the server's latency does.
An API call needs none of it: one POST and a JSON body read whole, over a keep-alive connection.

:class:`AsyncioHTTP11Transport` is an :class:`httpx.AsyncBaseTransport`, so everything above the
transport (request building, response decoding incl. gzip, status handling, exception types) is
still httpx's. It speaks HTTP/1.1 over :mod:`asyncio` streams, with TLS from an
:class:`ssl.SSLContext`; keeps idle connections per origin; reads ``Content-Length``, chunked and
close-delimited bodies; applies the request's ``connect``/``write``/``read``/``pool`` timeouts; and
raises httpx's exceptions (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``, ...) carrying
the request. Left out because API calls do not use them: proxies, HTTP/2, handing out a response
before its body has arrived, ``Expect: 100-continue``. The runner falls back to httpx's default
transport when a proxy is configured, or when a model sets ``options.http_transport: httpx``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx

__all__ = ["AsyncioHTTP11Transport", "ResponseHead", "parse_head", "read_response"]

#: Largest response head (status line and headers) accepted, and largest chunk-size line.
MAX_HEAD_BYTES = 64 * 1024
#: Largest response body accepted: an API answer is kilobytes; a server sending more is broken.
MAX_BODY_BYTES = 64 * 1024 * 1024

_T = TypeVar("_T")
_Origin = tuple[bytes, bytes, int]


@dataclass(frozen=True)
class ResponseHead:
    """A response's status line and headers, as sent (header names keep their case)."""

    http_version: bytes
    status_code: int
    reason_phrase: bytes
    headers: list[tuple[bytes, bytes]]

    def tokens(self, name: bytes) -> list[bytes]:
        """Every comma-separated value of header ``name`` (case-insensitive), lower-cased."""
        return [
            part.strip().lower()
            for key, value in self.headers
            if key.lower() == name
            for part in value.split(b",")
            if part.strip()
        ]


def parse_head(head: bytes) -> ResponseHead:
    """Parse ``HTTP/1.x NNN reason CRLF (name: value CRLF)* CRLF``.

    Raises :class:`ValueError` naming the offending line when ``head`` is not a well-formed
    HTTP/1 response head.

    >>> h = parse_head(b"HTTP/1.1 429 Too Many Requests\\r\\nRetry-After: 2\\r\\n\\r\\n")
    >>> h.status_code, h.reason_phrase, h.headers
    (429, b'Too Many Requests', [(b'Retry-After', b'2')])
    >>> parse_head(b"HTTP/1.1 OK\\r\\n\\r\\n")
    Traceback (most recent call last):
    ValueError: malformed status line b'HTTP/1.1 OK'
    """
    lines = head.split(b"\r\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ValueError("empty response head")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"malformed status line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        # A leading space is obsolete line folding; a space before the colon is forbidden.
        if not colon or not name or name != name.strip() or not name.isascii():
            raise ValueError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip(b" \t")))
    return ResponseHead(version, int(code), reason, headers)


def _content_length(head: ResponseHead) -> int | None:
    values = set(head.tokens(b"content-length"))
    if not values:
        return None
    value = values.pop()
    if values or not value.isdigit():
        raise ValueError(f"invalid Content-Length in a {head.status_code} response")
    return int(value)


class _Framing:
    """How one exchange reads: its timeouts, and the request named in every error."""

    def __init__(self, request: httpx.Request, read_timeout: float | None) -> None:
        self.request = request
        self.read_timeout = read_timeout

    async def timed(self, awaitable: Awaitable[_T]) -> _T:
        async with asyncio.timeout(self.read_timeout):
            return await awaitable

    def protocol_error(self, what: str) -> httpx.RemoteProtocolError:
        request = self.request
        return httpx.RemoteProtocolError(
            f"{what} in the response to {request.method} {request.url}", request=request
        )

    async def line(self, reader: asyncio.StreamReader, end: bytes) -> bytes:
        try:
            return await self.timed(reader.readuntil(end))
        except asyncio.LimitOverrunError:
            raise self.protocol_error(f"a line longer than {MAX_HEAD_BYTES} bytes") from None

    def limit_body(self, size: int) -> None:
        if size > MAX_BODY_BYTES:
            raise self.protocol_error(f"a body larger than {MAX_BODY_BYTES} bytes")

    async def exactly(self, reader: asyncio.StreamReader, size: int) -> bytes:
        return await self.timed(reader.readexactly(size))


async def read_response(
    reader: asyncio.StreamReader, request: httpx.Request, *, read_timeout: float | None = None
) -> tuple[ResponseHead, bytes, bool]:
    """Read one response to ``request`` from ``reader``: its head, its whole body (still
    content-encoded), and whether the connection can carry another request.

    Informational (1xx) responses are skipped. Raises :class:`httpx.RemoteProtocolError` on a
    malformed response (incl. a server that closes before sending one),
    :class:`asyncio.IncompleteReadError` when the connection ends mid-body, :class:`TimeoutError`
    when ``read_timeout`` seconds pass without the next piece.
    """
    framing = _Framing(request, read_timeout)
    while True:
        try:
            raw = await framing.line(reader, b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise
            raise framing.protocol_error("server disconnected without sending a response") from None
        try:
            head = parse_head(raw)
            length = _content_length(head)
        except ValueError as exc:
            raise framing.protocol_error(str(exc)) from None
        if not 100 <= head.status_code < 200 or head.status_code == 101:
            break
    connection = head.tokens(b"connection")
    closes = b"close" in connection or _request_closes(request)
    reusable = not closes and (head.http_version == b"HTTP/1.1" or b"keep-alive" in connection)
    codings = head.tokens(b"transfer-encoding")
    if request.method == "HEAD" or head.status_code in (204, 304):
        return head, b"", reusable
    if codings and codings[-1] == b"chunked":
        return head, await _read_chunked(reader, framing), reusable
    if length is not None and not codings:
        framing.limit_body(length)
        return head, await framing.exactly(reader, length), reusable
    return head, await _read_to_close(reader, framing), False


def _request_closes(request: httpx.Request) -> bool:
    return any(
        token.strip().lower() == "close"
        for value in request.headers.get_list("connection")
        for token in value.split(",")
    )


async def _read_chunked(reader: asyncio.StreamReader, framing: _Framing) -> bytes:
    parts, total = [], 0
    while True:
        line = await framing.line(reader, b"\r\n")
        size_text = line[:-2].split(b";", 1)[0].strip()
        if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
            raise framing.protocol_error(f"malformed chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        framing.limit_body(total)
        parts.append(await framing.exactly(reader, size))
        if await framing.exactly(reader, 2) != b"\r\n":
            raise framing.protocol_error("a chunk not followed by CRLF")
    while await framing.line(reader, b"\r\n") != b"\r\n":
        pass  # trailer fields: nothing an API call needs
    return b"".join(parts)


async def _read_to_close(reader: asyncio.StreamReader, framing: _Framing) -> bytes:
    parts, total = [], 0
    while chunk := await framing.timed(reader.read(MAX_HEAD_BYTES)):
        parts.append(chunk)
        total += len(chunk)
        framing.limit_body(total)
    return b"".join(parts)


_PHASE_ERRORS: dict[str, tuple[type[httpx.TimeoutException], type[httpx.TransportError]]] = {
    "pool": (httpx.PoolTimeout, httpx.ConnectError),
    "connect": (httpx.ConnectTimeout, httpx.ConnectError),
    "write": (httpx.WriteTimeout, httpx.WriteError),
    "read": (httpx.ReadTimeout, httpx.ReadError),
}


@contextmanager
def _as_httpx(request: httpx.Request, phase: str) -> Iterator[None]:
    """asyncio and OS failures of one phase (pool, connect, write, read) as httpx's exception for it."""
    timeout_error, error = _PHASE_ERRORS[phase]
    where = f"{request.method} {request.url}"
    try:
        yield
    except TimeoutError as exc:
        raise timeout_error(f"{phase} timeout on {where}", request=request) from exc
    except asyncio.IncompleteReadError as exc:
        got = f"{len(exc.partial)} of {exc.expected} bytes" if exc.expected else f"{len(exc.partial)} bytes"
        raise error(f"server closed the connection mid-response ({got}) on {where}", request=request) from exc
    except OSError as exc:  # ssl.SSLError and socket.gaierror included
        raise error(f"{exc or type(exc).__name__} on {where}", request=request) from exc


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        """False once the server has closed it (noticed when the loop saw the EOF)."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class AsyncioHTTP11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams with keep-alive per origin; see the module docstring.

    Parameters
    ----------
    ssl_context : ssl.SSLContext, optional
        For ``https`` URLs; default ``httpx.create_ssl_context()`` (certifi, verified). Its ALPN
        protocols are set to ``http/1.1``.
    max_connections : int
        Connections open at once; a further request waits for one (the ``pool`` timeout).
    max_idle_per_origin : int
        Idle keep-alive connections kept per scheme, host and port.

    Examples
    --------
    Any httpx client can use it::

        async with httpx.AsyncClient(transport=AsyncioHTTP11Transport(), timeout=60) as client:
            response = await client.post(url, json=body)
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        max_idle_per_origin: int = 20,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle_per_origin
        self._max_connections = max_connections
        self._slots: asyncio.Semaphore | None = None  # made in the running loop
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport has been closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        timeouts = request.extensions.get("timeout", {})
        with _as_httpx(request, "pool"):
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        try:
            head, body = await self._exchange(request, timeouts)
        finally:
            self._slots.release()
        return httpx.Response(
            head.status_code,
            headers=head.headers,
            stream=httpx.ByteStream(body),
            extensions={"http_version": head.http_version, "reason_phrase": head.reason_phrase},
            request=request,
        )

    async def _exchange(
        self, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> tuple[ResponseHead, bytes]:
        origin = _origin(request)
        connection = self._reuse(origin) or await self._connect(request, origin, timeouts.get("connect"))
        try:
            message = await _serialize(request)
            with _as_httpx(request, "write"):
                connection.writer.write(message)
                async with asyncio.timeout(timeouts.get("write")):
                    await connection.writer.drain()
            with _as_httpx(request, "read"):
                head, body, reusable = await read_response(
                    connection.reader, request, read_timeout=timeouts.get("read")
                )
        except BaseException:
            connection.close()  # failed or cancelled mid-message: its state is unknown
            raise
        idle = self._idle.setdefault(origin, [])
        if reusable and not self._closed and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()
        return head, body

    def _reuse(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    async def _connect(self, request: httpx.Request, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        tls = self._tls() if scheme == b"https" else None
        hostname = host.decode("ascii")
        with _as_httpx(request, "connect"):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    hostname, port, ssl=tls, server_hostname=hostname if tls else None, limit=MAX_HEAD_BYTES
                )
        return _Connection(reader, writer)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        self._ssl_context.set_alpn_protocols(["http/1.1"])  # we speak nothing else
        return self._ssl_context

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _origin(request: httpx.Request) -> _Origin:
    url = request.url
    if url.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r} in {url}", request=request)
    return url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80)


async def _serialize(request: httpx.Request) -> bytes:
    """The request line, headers and body; a streamed body (``Transfer-Encoding: chunked``) is sent
    as one chunk."""
    body = await request.aread()
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    head.extend(b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw)
    head.append(b"\r\n")
    return b"".join(head) + body
