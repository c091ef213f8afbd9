"""A fault-injecting OpenAI-compatible chat-completions server on loopback (tests and benchmark).

Runs in a background thread (:class:`FaultServer`) or as its own process::

    python tests/elicit/fault_server.py --latency 0.1 [--faults 429,500,...] [--fault-rate 0.3]

which prints ``PORT <n>`` on stdout once it listens. Faults are chosen per request key (the
``X-Valuesurvey-Key`` header): a key selected by ``fault_rate`` (by the key's hash) fails
``fault_times`` times with one fault of ``faults``, then succeeds, so a client that retries always
finishes. The faults are dealt to the failing keys in turn, in the order the keys first arrive, so
every kind occurs as soon as as many keys fail as there are kinds (request keys name the server's
port, so a hash would leave a kind out of some runs). The keys in ``fail_keys`` fail too, with the
first of ``faults``. Faults: ``429`` (with ``Retry-After``), ``500``, ``503``, ``slow`` (answers
after ``slow_seconds``, beyond the client's timeout), ``drip`` (sends the head at once, then the body
one byte every ``drip_seconds``: never a read timeout, only a deadline cuts it), ``reset`` (closes
the connection without answering), ``malformed`` (200 with broken JSON), ``garbage`` (200, text that
is not JSON), ``html`` (200 with an HTML page, as a website or a captive portal answers), ``empty``
(200 with no choices); and, never succeeding, ``400`` (rejected), ``401``, ``404``. With ``api_key``
set, a request without ``Authorization: Bearer <api_key>`` gets a 401 that echoes the key it
received, as some real providers do. Each request is logged with its key, its number for that key,
its fault, the time, the ``seed`` of its body and any header whose name starts with ``x-injected``.

Answers: a ranking of ``values`` (ids, one per line, order from the key's hash) when the request
lists them, else the digit ``answer`` (with ``top_logprobs`` for 1–5 when ``logprobs`` is asked).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("429", "500", "503", "slow", "reset", "malformed", "empty")
_NEVER_SUCCEED = ("400", "401", "404")


@dataclass
class FaultConfig:
    latency: float = 0.0
    faults: tuple[str, ...] = ()
    fault_rate: float = 0.0
    fault_times: int = 1
    retry_after: float = 0.05
    slow_seconds: float = 3.0
    drip_seconds: float = 0.2
    fail_keys: tuple[str, ...] = ()
    api_key: str | None = None
    values: tuple[str, ...] = ()
    answer: str = "3"


def _hash(text: str, salt: str = "") -> int:
    return int.from_bytes(hashlib.sha256((salt + text).encode()).digest()[:8], "big")


@dataclass
class _State:
    config: FaultConfig
    seen: dict[str, int] = field(default_factory=dict)
    dealt: dict[str, str] = field(default_factory=dict)  # failing key -> its fault
    log: list[dict[str, Any]] = field(default_factory=list)
    log_file: Any = None
    gate: asyncio.Event | None = None  # while set and not open, answers wait (FaultServer.hold)

    def fault_for(self, key: str) -> str | None:
        cfg = self.config
        if not cfg.faults:
            return None
        if key in cfg.fail_keys:
            fault = cfg.faults[0]
        elif (_hash(key, "rate") % 10_000) / 10_000 >= cfg.fault_rate:
            return None
        else:
            fault = self.dealt.setdefault(key, cfg.faults[len(self.dealt) % len(cfg.faults)])
        if fault in _NEVER_SUCCEED:
            return fault
        return fault if self.seen[key] <= cfg.fault_times else None

    def record(self, entry: dict[str, Any]) -> None:
        self.log.append(entry)
        if self.log_file is not None:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()


def _response(status: int, body: bytes, extra: dict[str, str] | None = None) -> bytes:
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Error")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(extra or {})}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + body


def _completion(state: _State, key: str, body: dict[str, Any]) -> dict[str, Any]:
    cfg = state.config
    prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    if cfg.values and sum(v in prompt for v in cfg.values) >= len(cfg.values) // 2:
        order = sorted(cfg.values, key=lambda v: _hash(key + v))
        text = "\n".join(f"{i}. {v}" for i, v in enumerate(order, start=1))
    else:
        text = cfg.answer
    choice["message"] = {"role": "assistant", "content": text}
    if body.get("logprobs"):
        probs = {"1": 0.05, "2": 0.15, "3": 0.4, "4": 0.3, "5": 0.1}
        top = [{"token": t, "logprob": __import__("math").log(p)} for t, p in probs.items()]
        choice["logprobs"] = {"content": [{"token": text[:1], "logprob": -0.9, "top_logprobs": top}]}
    n_in = len(prompt) // 4
    return {
        "id": "cmpl-" + key[:12],
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [choice],
        "usage": {"prompt_tokens": n_in, "completion_tokens": 2, "total_tokens": n_in + 2},
    }


async def _handle_one(state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Serve one request; False when the connection should close."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    cfg = state.config
    if method != "POST" or not path.endswith("/chat/completions"):
        writer.write(_response(404, b'{"error": {"message": "not found"}}'))
        return True
    key = headers.get("x-valuesurvey-key") or hashlib.sha256(raw).hexdigest()
    state.seen[key] = state.seen.get(key, 0) + 1
    try:
        seed = json.loads(raw).get("seed")
    except (ValueError, AttributeError):
        seed = None
    entry: dict[str, Any] = {"key": key, "n": state.seen[key], "t": time.time(), "seed": seed}
    injected = {k: v for k, v in headers.items() if k.startswith("x-injected")}
    if injected:
        entry["injected"] = injected
    auth = headers.get("authorization", "")
    if cfg.api_key is not None and auth != f"Bearer {cfg.api_key}":
        got = auth.removeprefix("Bearer ")
        state.record({**entry, "fault": "401"})
        msg = json.dumps({"error": {"message": f"Incorrect API key provided: {got}"}}).encode()
        writer.write(_response(401, msg))
        return True
    fault = state.fault_for(key)
    state.record({**entry, "fault": fault})
    if state.gate is not None:
        await state.gate.wait()
    if cfg.latency:
        await asyncio.sleep(cfg.latency)
    if fault == "reset":
        sock = writer.get_extra_info("socket")
        if sock is not None:  # SO_LINGER 0: the close sends a TCP RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False
    if fault == "slow":
        await asyncio.sleep(cfg.slow_seconds)
    if fault in ("429", "500", "503", *_NEVER_SUCCEED):
        extra = {"Retry-After": f"{cfg.retry_after:g}"} if fault == "429" else None
        message = json.dumps({"error": {"message": f"injected fault {fault}"}}).encode()
        writer.write(_response(int(fault), message, extra))
        return True
    if fault == "malformed":
        writer.write(_response(200, b'{"choices": [{"message": '))
        return True
    if fault == "empty":
        writer.write(_response(200, json.dumps({"choices": [], "usage": {}}).encode()))
        return True
    if fault == "garbage":
        writer.write(_response(200, b"OK\n", {"Content-Type": "text/plain"}))
        return True
    if fault == "html":
        page = b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>hi</body></html>"
        writer.write(_response(200, page, {"Content-Type": "text/html; charset=utf-8"}))
        return True
    if fault == "drip":
        body = json.dumps(_completion(state, key, json.loads(raw))).encode()
        head = _response(200, body)[: -len(body)]
        writer.write(head)
        for byte in body:
            await writer.drain()
            await asyncio.sleep(cfg.drip_seconds)
            writer.write(bytes([byte]))
        return True
    body = json.loads(raw)
    writer.write(_response(200, json.dumps(_completion(state, key, body)).encode()))
    return True


async def _serve_connection(
    state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while await _handle_one(state, reader, writer):
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        pass  # client went away, or the server stops (cancelled): nothing to answer
    finally:
        if not writer.transport.is_closing():
            writer.close()


class FaultServer:
    """The server in a background thread: ``with FaultServer(FaultConfig(...)) as server: server.base_url``."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.state = _State(config or FaultConfig())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log(self) -> list[dict[str, Any]]:
        return list(self.state.log)

    def hold(self) -> None:
        """Answer nothing until :meth:`release` (requests are received and logged, then wait)."""

        async def close_gate() -> None:
            self.state.gate = asyncio.Event()

        asyncio.run_coroutine_threadsafe(close_gate(), self._loop).result(10)

    def release(self) -> None:
        gate = self.state.gate
        if gate is not None:
            self._loop.call_soon_threadsafe(gate.set)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(10)
        return self

    async def _start(self) -> int:
        self._server = await asyncio.start_server(
            lambda r, w: _serve_connection(self.state, r, w), "127.0.0.1", 0, backlog=512
        )
        return self._server.sockets[0].getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:  # open keep-alive connections and slow answers
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _main_async(config: FaultConfig, log_path: str | None) -> None:
    state = _State(config, log_file=open(log_path, "a", encoding="utf-8") if log_path else None)  # noqa: SIM115
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(state, r, w), "127.0.0.1", 0, backlog=1024
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--faults", default="")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-times", type=int, default=1)
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--drip-seconds", type=float, default=0.2)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--values", default="")
    parser.add_argument("--log", default=None, help="append one JSON line per request here")
    args = parser.parse_args(argv)
    config = FaultConfig(
        latency=args.latency,
        faults=tuple(f for f in args.faults.split(",") if f),
        fault_rate=args.fault_rate,
        fault_times=args.fault_times,
        retry_after=args.retry_after,
        slow_seconds=args.slow_seconds,
        drip_seconds=args.drip_seconds,
        api_key=args.api_key,
        values=tuple(v for v in args.values.split(",") if v),
    )
    try:
        asyncio.run(_main_async(config, args.log))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
