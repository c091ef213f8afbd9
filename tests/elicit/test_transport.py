"""The lean HTTP/1.1 transport against real loopback servers (plain and TLS) and as a parser.

Each scripted server answers its n-th request with the n-th reply, byte for byte, so every framing
(Content-Length, chunked, close-delimited, 1xx), keep-alive decision and failure is exercised on a
real socket; the responses reach the test through httpx's client, as in a run.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuesurvey.elicit.providers._transport import (
    MAX_HEAD_BYTES,
    AsyncioHTTP11Transport,
    parse_head,
    read_response,
)

BODY = {"choices": [{"message": {"content": "4"}}]}
PAYLOAD = json.dumps(BODY).encode()


def reply(body: bytes = PAYLOAD, *, status: str = "200 OK", headers: str = "", length: bool = True) -> bytes:
    extra = f"Content-Length: {len(body)}\r\n" if length else ""
    return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}{headers}\r\n".encode() + body


def chunked(body: bytes, sizes: tuple[int, ...] = (5, 1, 1000)) -> bytes:
    out, rest = [], body
    for size in sizes:
        piece, rest = rest[:size], rest[size:]
        if piece:
            out.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
    if rest:
        out.append(b"%X\r\n%s\r\n" % (len(rest), rest))
    return b"".join(out) + b"0\r\nX-Trailer: t\r\n\r\n"


@dataclass
class Reply:
    data: bytes
    then: str = "keep"  # keep | close | hang (send nothing more, keep the socket open)


@dataclass
class Scripted:
    replies: list[Reply]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n"))
                        if k.lower() == b"content-length"
                    ),
                    0,
                )
                if b"transfer-encoding: chunked" in head.lower():
                    body = await reader.readuntil(b"0\r\n\r\n")
                else:
                    body = await reader.readexactly(length)
                self.requests.append(head + body)
                answer = self.replies[len(self.requests) - 1]
                writer.write(answer.data)
                await writer.drain()
                if answer.then == "hang":
                    await asyncio.sleep(3600)
                if answer.then == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def scripted(*replies: Reply | bytes, tls: ssl.SSLContext | None = None) -> AsyncIterator[Scripted]:
    script = Scripted([r if isinstance(r, Reply) else Reply(r) for r in replies])
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    script.url = (
        f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}/v1/chat/completions"
    )
    async with server:
        yield script
        server.close()


def client(timeout: float = 5.0, **transport_options: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AsyncioHTTP11Transport(**transport_options), timeout=timeout)  # type: ignore[arg-type]


# --- framings and keep-alive -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        reply(),
        reply(chunked(PAYLOAD), headers="Transfer-Encoding: chunked\r\n", length=False),
        reply(gzip.compress(PAYLOAD), headers="Content-Encoding: gzip\r\n"),
        b"HTTP/1.1 100 Continue\r\n\r\n" + reply(),
        b"HTTP/1.1 200 OK\r\nconnection: keep-alive, Upgrade\r\ncontent-length: %d\r\n\r\n%s"
        % (len(PAYLOAD), PAYLOAD),
    ],
    ids=["content-length", "chunked", "gzip", "100-continue", "lower-case-headers"],
)
def test_every_framing_gives_the_same_json(raw: bytes) -> None:
    async def main() -> None:
        async with scripted(raw, raw) as server, client() as http:
            for _ in range(2):
                response = await http.post(server.url, json={"model": "m"})
                assert response.status_code == 200 and response.json() == BODY
            assert server.connections == 1  # kept alive

    asyncio.run(main())


def test_close_delimited_body_and_http10_are_not_reused() -> None:
    close_delimited = Reply(b"HTTP/1.1 200 OK\r\n\r\n" + PAYLOAD, then="close")
    http10 = Reply(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PAYLOAD), PAYLOAD), then="close")

    async def main() -> None:
        async with scripted(close_delimited, http10, close_delimited) as server, client() as http:
            for _ in range(3):
                assert (await http.post(server.url, json={})).json() == BODY
            assert server.connections == 3

    asyncio.run(main())


def test_connection_close_from_the_server_opens_a_new_connection() -> None:
    async def main() -> None:
        closing = Reply(reply(headers="Connection: close\r\n"), then="close")
        async with scripted(closing, closing, reply()) as server, client() as http:
            for _ in range(3):
                assert (await http.post(server.url, json={})).status_code == 200
            assert server.connections == 3

    asyncio.run(main())


def test_a_keep_alive_connection_the_server_dropped_is_not_reused() -> None:
    async def main() -> None:
        # The server closes after answering without saying so; the client notices the EOF.
        async with scripted(Reply(reply(), then="close"), reply()) as server, client() as http:
            assert (await http.post(server.url, json={})).status_code == 200
            await asyncio.sleep(0.05)
            assert (await http.post(server.url, json={})).status_code == 200
            assert server.connections == 2

    asyncio.run(main())


def test_request_is_sent_as_httpx_built_it() -> None:
    async def main() -> None:
        async with scripted(reply()) as server, client() as http:
            await http.post(server.url + "?a=1", json={"x": "é"}, headers={"Authorization": "Bearer k"})
            head, _, body = server.requests[0].partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /v1/chat/completions?a=1 HTTP/1.1"
            assert b"Host: 127.0.0.1:%d" % int(server.url.split(":")[2].split("/")[0]) in lines
            assert b"Authorization: Bearer k" in lines and b"Content-Length: %d" % len(body) in lines
            assert json.loads(body) == {"x": "é"}

    asyncio.run(main())


def test_streamed_request_body_is_sent_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b" 1}"

    async def main() -> None:
        async with scripted(reply()) as server, client() as http:
            await http.post(server.url, content=parts())
            head, _, body = server.requests[0].partition(b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head.split(b"\r\n")
            assert body == b'8\r\n{"a": 1}\r\n0\r\n\r\n'

    asyncio.run(main())


# --- failures: httpx's exception types, naming the request ----------------------------------------


def _fails(
    replies: tuple[Reply | bytes, ...], error: type[Exception], match: str, timeout: float = 5.0
) -> None:
    async def main() -> None:
        async with scripted(*replies) as server, client(timeout) as http:
            with pytest.raises(error, match=match) as caught:
                await http.post(server.url, json={})
            assert "/v1/chat/completions" in str(caught.value)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("raw", "error", "match"),
    [
        (b"HTTP/1.1 2x0 OK\r\n\r\n", httpx.RemoteProtocolError, "malformed status line"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", httpx.RemoteProtocolError, "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", httpx.RemoteProtocolError, "malformed header line"),
        (b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", httpx.RemoteProtocolError, "malformed header line"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            httpx.RemoteProtocolError,
            "invalid Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            httpx.RemoteProtocolError,
            "invalid Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            httpx.RemoteProtocolError,
            "malformed chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX",
            httpx.RemoteProtocolError,
            "not followed by CRLF",
        ),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (MAX_HEAD_BYTES + 10), httpx.RemoteProtocolError, "longer than"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", httpx.RemoteProtocolError, "larger than"),
    ],
    ids=[
        "status",
        "not-http",
        "header",
        "folding",
        "two-lengths",
        "negative-length",
        "chunk-size",
        "chunk-crlf",
        "huge-head",
        "huge-body",
    ],
)
def test_malformed_responses_are_protocol_errors(raw: bytes, error: type[Exception], match: str) -> None:
    _fails((Reply(raw, then="close"),), error, match)


def test_server_closing_without_a_response() -> None:
    _fails((Reply(b"", then="close"),), httpx.RemoteProtocolError, "without sending a response")


def test_server_closing_mid_body_is_a_read_error() -> None:
    truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    _fails((Reply(truncated, then="close"),), httpx.ReadError, r"mid-response \(10 of 100 bytes\)")


def test_read_timeout() -> None:
    _fails((Reply(b"HTTP/1.1 200 OK\r\n", then="hang"),), httpx.ReadTimeout, "read timeout", timeout=0.3)


def test_connection_refused_is_a_connect_error() -> None:
    async def main() -> None:
        async with scripted() as server:
            url = server.url
        async with client() as http:
            with pytest.raises(httpx.ConnectError, match="/v1/chat/completions"):
                await http.post(url, json={})

    asyncio.run(main())


def test_pool_timeout_when_every_connection_is_busy() -> None:
    async def main() -> None:
        async with scripted(Reply(b"", then="hang")) as server, client(max_connections=1) as http:
            first = asyncio.create_task(http.post(server.url, json={}))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout, match="pool timeout"):
                await http.post(server.url, json={}, timeout=httpx.Timeout(5.0, pool=0.1))
            first.cancel()

    asyncio.run(main())


def test_a_cancelled_request_does_not_leave_its_connection_in_the_pool() -> None:
    async def main() -> None:
        async with scripted(Reply(b"HTTP/1.1 200 OK\r\n", then="hang"), reply()) as server, client() as http:
            task = asyncio.create_task(http.post(server.url, json={}))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Reusing the half-read connection would hand this request the first one's bytes.
            response = await http.post(server.url, json={})
            assert response.json() == BODY and server.connections == 2

    asyncio.run(main())


def test_unsupported_scheme() -> None:
    async def main() -> None:
        async with client() as http:
            with pytest.raises(httpx.UnsupportedProtocol, match="ftp"):
                await http.post("ftp://127.0.0.1/x", json={})

    asyncio.run(main())


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the TLS tests (scripts/setup.sh installs it)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_verified_against_the_trusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        async with scripted(reply(), reply(), tls=server_tls) as server:
            async with client(ssl_context=trusting) as http:
                for _ in range(2):
                    assert (await http.post(server.url, json={})).json() == BODY
            assert server.connections == 1
            async with client(ssl_context=httpx.create_ssl_context()) as http:  # certifi only
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await http.post(server.url, json={})

    asyncio.run(main())


# --- the same answers as httpx's own transport ----------------------------------------------------


def test_same_responses_as_httpx_default_transport(serve) -> None:  # type: ignore[no-untyped-def]
    keys = [f"k{i}" for i in range(12)] * 2  # each key fails once (a fault chosen by its hash), then answers

    async def exchange(transport: httpx.AsyncBaseTransport) -> list[tuple[int, str | None, bytes]]:
        server = serve(faults=("429", "500", "malformed", "empty"), fault_rate=1.0)
        out = []
        async with httpx.AsyncClient(transport=transport) as http:
            for key in keys:
                response = await http.post(
                    server.base_url + "/chat/completions",
                    json={"messages": []},
                    headers={"X-Valuesurvey-Key": key},
                )
                out.append((response.status_code, response.headers.get("retry-after"), response.content))
        return out

    ours = asyncio.run(exchange(AsyncioHTTP11Transport()))
    assert ours == asyncio.run(exchange(httpx.AsyncHTTPTransport()))
    assert {status for status, _, _ in ours} == {200, 429, 500}


# --- the response reader as a parser (property tests) ---------------------------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20)


async def _feed(raw: bytes, cuts: list[int], request: httpx.Request):  # type: ignore[no-untyped-def]
    reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)

    async def producer() -> None:
        last = 0
        for cut in [*sorted(c % (len(raw) + 1) for c in cuts), len(raw)]:
            if cut > last:
                reader.feed_data(raw[last:cut])
                last = cut
            await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.create_task(producer())
    try:
        return await read_response(reader, request, read_timeout=5)
    finally:
        await feeding


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(200, 599).filter(lambda s: s not in (204, 304)),
    headers=st.lists(st.tuples(_token, _value), max_size=5),
    body=st.binary(max_size=3000),
    framing=st.sampled_from(["length", "chunked", "close"]),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_any_well_framed_response_reads_back_exactly(status, headers, body, framing, sizes, cuts) -> None:  # type: ignore[no-untyped-def]
    headers = [
        (k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding", "connection")
    ]
    framed_headers = {
        "length": [("Content-Length", str(len(body)))],
        "chunked": [("Transfer-Encoding", "chunked")],
        "close": [],
    }[framing]
    head = (
        f"HTTP/1.1 {status} Reason\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers + framed_headers)
        + "\r\n"
    )
    payload = chunked(body, tuple(sizes)) if framing == "chunked" else body
    request = httpx.Request("POST", "http://127.0.0.1/x")
    got_head, got_body, reusable = asyncio.run(_feed(head.encode() + payload, cuts, request))
    assert got_head.status_code == status and got_body == body
    assert got_head.headers == [(k.encode(), v.strip().encode()) for k, v in headers + framed_headers]
    assert reusable is (framing != "close")


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(
        st.binary(max_size=400),
        st.builds(lambda tail: b"HTTP/1.1 200 OK\r\n" + tail, st.binary(max_size=300)),
    ),
    cuts=st.lists(st.integers(0, 500), max_size=4),
)
def test_garbage_never_escapes_as_anything_but_a_protocol_or_read_error(raw: bytes, cuts: list[int]) -> None:
    request = httpx.Request("POST", "http://127.0.0.1/x")
    try:
        head, body, _ = asyncio.run(_feed(raw, cuts, request))
    except (httpx.RemoteProtocolError, asyncio.IncompleteReadError):
        return  # the transport maps IncompleteReadError to httpx.ReadError
    assert raw.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) and 100 <= head.status_code <= 999
    assert len(body) <= len(raw)


def test_parse_head_keeps_header_case_and_order() -> None:
    head = parse_head(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nX-a: b\r\nx-A: c\r\n\r\n")
    assert head.status_code == 503 and head.headers == [
        (b"Retry-After", b"1"),
        (b"X-a", b"b"),
        (b"x-A", b"c"),
    ]
    assert head.tokens(b"x-a") == [b"b", b"c"]
