"""A loopback server speaking vLLM's OpenAI-compatible chat API with vLLM's extras (tests).

It serves a tiny deterministic language model whose tokens are characters, so "10" is two tokens
("1" then "0"), and implements what the ``vllm`` provider relies on, as vLLM documents it:

- ``GET /version`` → ``{"version": ...}``;
- ``structured_outputs: {"choice": [...]}`` / ``{"regex": ...}`` (vLLM ≥ 0.10.2) and the older
  ``guided_choice`` / ``guided_regex`` (removed in 0.12): the answer is the most probable string the
  constraint allows, decoded greedily token by token; a field this version does not know is ignored
  silently, as vLLM does (the answer is then unconstrained);
- ``logprobs`` / ``top_logprobs`` (at most 20, vLLM's default ``--max-logprobs``);
- ``continue_final_message`` with ``add_generation_prompt: false``: the last (assistant) message is
  continued instead of a new turn being opened (both true is a 400, as in vLLM).

The model: the first token is "I" (0.39: "I think it depends.") or a digit (1: 0.30, 3: 0.10, ...);
after "1" comes "." (0.5), "0" (0.3) or the end of the turn (0.2); after any other complete answer,
the end of the turn. Unconstrained greedy decoding answers "I think it depends."; under a choice of
the labels "1"…"10" it answers "10" (after "1", only "0" or the end are allowed, and "0" is likelier),
under the regex of the labels each ended by a non-digit, "1.".
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

EOS = "<|im_end|>"
FIRST = {
    "I": 0.39,
    "1": 0.30,
    "3": 0.10,
    "2": 0.05,
    "4": 0.05,
    "5": 0.05,
    "6": 0.02,
    "7": 0.02,
    "8": 0.01,
    "9": 0.01,
}
AFTER_1 = {".": 0.5, "0": 0.3, EOS: 0.2}
PROSE = "I think it depends."


def _next(prefix: str) -> dict[str, float]:
    """The model's next-token distribution after the answer ``prefix``."""
    if prefix == "":
        return FIRST
    if prefix == "1":
        return AFTER_1
    if PROSE.startswith(prefix) and prefix != PROSE:
        return {PROSE[len(prefix)]: 1.0}
    return {EOS: 1.0}


def _allowed(prefix: str, token: str, constraint: tuple[str, Any] | None) -> bool:
    """Whether ``prefix + token`` can still become (or, for EOS, is) an answer the constraint allows."""
    if constraint is None:
        return True
    kind, value = constraint
    text = prefix if token == EOS else prefix + token
    if kind == "choice":
        return text in value if token == EOS else any(c.startswith(text) for c in value)
    if token == EOS:
        return re.fullmatch(value, text) is not None
    # A prefix of the regex's language: for the labels-then-one-non-digit regex, a label prefix, or a
    # label followed by one non-digit.
    labels = re.match(r"\((.*)\)\[\^0-9\]\?$", value)
    assert labels, value
    options = labels.group(1).split("|")
    return any(o.startswith(text) for o in options) or (
        len(text) >= 2 and text[:-1] in options and not text[-1].isdigit()
    )


def _decode(
    constraint: tuple[str, Any] | None, max_tokens: int, prefix: str = ""
) -> list[tuple[str, dict[str, float]]]:
    """Greedy decoding: (token, the model's distribution it came from) per step."""
    steps = []
    text = prefix
    for _ in range(max_tokens):
        dist = _next(text)
        allowed = {t: p for t, p in dist.items() if _allowed(text, t, constraint)}
        token = max(allowed, key=allowed.__getitem__)
        steps.append((token, dist))
        if token == EOS:
            break
        text += token
    return steps


@dataclass
class VLLMConfig:
    version: str = "0.11.0"
    api_key: str | None = None


@dataclass
class _State:
    config: VLLMConfig
    requests: list[dict[str, Any]] = field(default_factory=list)


def _constraint(state: _State, body: dict[str, Any]) -> tuple[str, Any] | None:
    """The constraint this server's version honours (an unknown field is ignored, as vLLM does)."""
    version = tuple(int(x) for x in re.findall(r"\d+", state.config.version)[:3])
    structured = body.get("structured_outputs") if version >= (0, 10, 2) else None
    if isinstance(structured, dict):
        for kind in ("choice", "regex"):
            if kind in structured:
                return kind, structured[kind]
    if version < (0, 12, 0):
        for kind in ("choice", "regex"):
            if f"guided_{kind}" in body:
                return kind, body[f"guided_{kind}"]
    return None


def _completion(state: _State, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    top_n = int(body.get("top_logprobs") or 0)
    if top_n > 20:
        return 400, {
            "object": "error",
            "message": "top_logprobs must be at most 20 (--max-logprobs)",
            "code": 400,
        }
    messages = body.get("messages") or []
    prefix = ""
    if body.get("continue_final_message"):
        if body.get("add_generation_prompt", True):
            return 400, {
                "object": "error",
                "message": "continue_final_message and add_generation_prompt cannot both be true",
                "code": 400,
            }
        if not messages or messages[-1].get("role") != "assistant":
            return 400, {
                "object": "error",
                "message": "continue_final_message needs a final assistant message",
                "code": 400,
            }
        prefix = str(messages[-1].get("content", ""))
    steps = _decode(_constraint(state, body), int(body.get("max_tokens") or 16), prefix)
    text = "".join(t for t, _ in steps if t != EOS)
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop" if steps and steps[-1][0] == EOS else "length",
    }
    if body.get("logprobs"):
        content = []
        for token, dist in steps:
            top = sorted(dist.items(), key=lambda kv: -kv[1])[: max(top_n, 1)]
            content.append(
                {
                    "token": token,
                    "logprob": math.log(dist[token]),
                    "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top],
                }
            )
        choice["logprobs"] = {"content": content}
    n_in = sum(len(str(m.get("content", ""))) for m in messages) // 4
    return 200, {
        "id": "chatcmpl-vllm",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [choice],
        "usage": {"prompt_tokens": n_in, "completion_tokens": len(steps), "total_tokens": n_in + len(steps)},
    }


async def _serve(state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
            }
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            key = state.config.api_key
            if key is not None and headers.get("authorization") != f"Bearer {key}":
                status, payload = 401, {"object": "error", "message": "Unauthorized", "code": 401}
            elif method == "GET" and path == "/version":
                status, payload = 200, {"version": state.config.version}
            elif method == "POST" and path == "/v1/chat/completions":
                body = json.loads(raw)
                state.requests.append(body)
                status, payload = _completion(state, body)
            else:
                status, payload = 404, {"object": "error", "message": f"no route {path}", "code": 404}
            data = json.dumps(payload).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if not writer.transport.is_closing():
            writer.close()


class VLLMServer:
    """``with VLLMServer(VLLMConfig(version="0.11.0")) as server: server.base_url``."""

    def __init__(self, config: VLLMConfig | None = None) -> None:
        self.state = _State(config or VLLMConfig())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self.state.requests)

    def __enter__(self) -> VLLMServer:
        self._thread.start()

        async def start() -> int:
            self._server = await asyncio.start_server(lambda r, w: _serve(self.state, r, w), "127.0.0.1", 0)
            return self._server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            current = asyncio.current_task()
            for task in [t for t in asyncio.all_tasks() if t is not current]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
