"""A loopback server of both batch protocols, as documented, restartable mid-batch (tests, benchmark).

OpenAI's Batch API: ``POST /v1/files`` (multipart, ``purpose=batch``; JSONL, at most 50,000 lines and
200 MB, one model), ``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``,
``GET /v1/batches?limit=&after=``, ``POST /v1/batches/{id}/cancel``; statuses ``validating`` →
``in_progress`` → ``finalizing`` → ``completed``, or ``failed`` (``errors.data``), ``expired``,
``cancelling`` → ``cancelled``; results in an output file and an error file.

Anthropic's Message Batches: ``POST /v1/messages/batches`` (at most 100,000 requests and 256 MB,
``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$``), ``GET /v1/messages/batches/{id}``, ``GET
/v1/messages/batches?limit=&after_id=``, ``POST .../cancel``, ``GET .../results``;
``processing_status`` ``in_progress`` → (``canceling``) → ``ended``, results ``succeeded``,
``errored``, ``canceled``, ``expired``.

Every batch, file and count lives in ``state_dir`` (a JSON index rewritten atomically, one file
per upload, per batch's custom_ids, per results file), and a batch's status follows from the time
it was created: a server killed mid-batch and started again on the same directory (and port)
carries on where it was. Run in a thread (:class:`BatchServer`) or as a process::

    python tests/elicit/batch_server.py --state DIR [--port N] [--processing 0.5] [--answer 3]

which prints ``PORT <n>`` once it listens.

What the tests control (:class:`BatchConfig`, or ``POST /_control`` with a JSON of its fields):
``processing_seconds`` (creation to completion), ``hold`` (batches stay ``in_progress``),
``hold_create`` (a create request is carried out, recorded, and its answer withheld),
``fates`` (per batch, in creation order: ``complete``, ``expire``, ``cancel``, ``fail`` (a line
rejected), ``fail_capacity`` (the enqueued token limit)), ``reject_create`` (statuses answered to the
next create requests, e.g. ``[429, 429]``, then ``reject_create_always``), ``error_rate`` and
``error_status`` (requests failing inside a batch), ``unknown_lines`` and ``malformed_lines`` (added
to, or replacing lines of, each results file), ``results_error`` (statuses answered to the next
results-file downloads, then ``results_error_always``), ``api_key``. ``GET /_stats`` returns what was
received: how often each custom_id was submitted (per protocol), creates, uploads, polls, live
requests (``POST /v1/chat/completions`` and ``/v1/messages`` are served too, by request key), and
whether the key ever appeared in an uploaded file or a body.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

OPENAI_MAX_REQUESTS, OPENAI_MAX_BYTES = 50_000, 200 * 1024 * 1024
ANTHROPIC_MAX_REQUESTS, ANTHROPIC_MAX_BYTES = 100_000, 256 * 1024 * 1024
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class BatchConfig:
    processing_seconds: float = 0.3
    validating_seconds: float = 0.05
    finalizing_seconds: float = 0.05
    hold: bool = False
    hold_create: bool = False
    fates: list[str] = field(default_factory=list)
    reject_create: list[int] = field(default_factory=list)
    reject_create_always: int | None = None
    error_rate: float = 0.0
    error_status: int = 500
    unknown_lines: int = 0
    malformed_lines: int = 0
    results_error: list[int] = field(default_factory=list)
    results_error_always: int | None = None
    api_key: str | None = None
    answer: str = "3"
    values: list[str] = field(default_factory=list)


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _now() -> float:
    return time.time()


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


class _State:
    """Everything the server knows, in ``root`` (``index.json`` + one file per upload and batch)."""

    def __init__(self, root: Path, config: BatchConfig) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.gate: asyncio.Event | None = None
        path = root / "index.json"
        if path.exists():
            self.index = json.loads(path.read_text())
            saved = self.index.get("config")
            if saved:  # a restart keeps what the test set over /_control
                self.config = BatchConfig(**{**asdict(config), **saved})
        else:
            self.index = {
                "files": {},
                "batches": [],
                "creates": 0,
                "uploads": 0,
                "polls": {},
                "key_seen": False,
            }

    def save(self) -> None:
        self.index["config"] = asdict(self.config)
        tmp = self.root / "index.json.tmp"
        tmp.write_text(json.dumps(self.index))
        os.replace(tmp, self.root / "index.json")

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        return next((b for b in self.index["batches"] if b["id"] == batch_id), None)


def _answer(config: BatchConfig, custom_id: str, messages: list[dict[str, Any]]) -> str:
    prompt = " ".join(str(m.get("content", "")) for m in messages)
    values = config.values
    if values and sum(v in prompt for v in values) >= len(values) // 2:
        order = sorted(values, key=lambda v: _hash(custom_id + v))
        return "\n".join(f"{i}. {v}" for i, v in enumerate(order, start=1))
    return config.answer


def _chat_completion(config: BatchConfig, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    text = _answer(config, custom_id, body.get("messages", []))
    n_in = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
    return {
        "id": "chatcmpl-" + custom_id[:12],
        "object": "chat.completion",
        "created": int(_now()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": n_in, "completion_tokens": 2, "total_tokens": n_in + 2},
    }


def _message(config: BatchConfig, custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
    text = _answer(config, custom_id, params.get("messages", []))
    n_in = sum(len(str(m.get("content", ""))) for m in params.get("messages", [])) // 4
    return {
        "id": "msg_" + custom_id[:20],
        "type": "message",
        "role": "assistant",
        "model": params.get("model"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": n_in, "output_tokens": 2},
    }


class _Server:
    def __init__(self, state: _State) -> None:
        self.state = state

    # ------------------------------------------------------------------ HTTP plumbing

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await self._chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload, content_type = await self.route(method, target, headers, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, str]:
        url = urlsplit(target)
        path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        state = self.state
        if path == "/_control" and method == "POST":
            changes = json.loads(body or b"{}")
            if changes.pop("release", False) and state.gate is not None:
                state.gate.set()
            known = {f.name for f in fields(BatchConfig)}
            for name, value in changes.items():
                if name in known:
                    setattr(state.config, name, value)
            state.save()
            return 200, {"ok": True}, "application/json"
        if path == "/_stats":
            return 200, self.stats(), "application/json"
        if path in ("/v1/chat/completions", "/v1/messages") and method == "POST":  # the live path
            request = json.loads(body)
            self._saw(body)
            custom_id = headers.get("x-valuesurvey-key") or hashlib.sha256(body).hexdigest()
            live = state.index.setdefault("live", {})
            live[custom_id] = live.get(custom_id, 0) + 1
            state.save()
            if path == "/v1/messages":
                return 200, _message(state.config, custom_id, request), "application/json"
            return 200, _chat_completion(state.config, custom_id, request), "application/json"
        if path.startswith("/v1/messages/batches"):
            if not self._authorized(headers, "anthropic"):
                return 401, _anthropic_error("authentication_error", "invalid x-api-key"), "application/json"
            return await self.anthropic(method, path, query, body)
        if path.startswith(("/v1/files", "/v1/batches")):
            if not self._authorized(headers, "openai"):
                return (
                    401,
                    _openai_error("Incorrect API key provided", "invalid_request_error"),
                    "application/json",
                )
            return await self.openai(method, path, query, headers, body)
        return 404, _openai_error(f"no route {method} {path}", "invalid_request_error"), "application/json"

    def _authorized(self, headers: dict[str, str], protocol: str) -> bool:
        key = self.state.config.api_key
        if key is None:
            return True
        if protocol == "anthropic":
            return headers.get("x-api-key") == key
        return headers.get("authorization") == f"Bearer {key}"

    def _saw(self, data: bytes) -> None:
        key = self.state.config.api_key
        if key and key.encode() in data:
            self.state.index["key_seen"] = True

    # ------------------------------------------------------------------ OpenAI

    async def openai(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, str]:
        state = self.state
        parts = path.strip("/").split("/")
        if path == "/v1/files" and method == "POST":
            fields_ = _multipart(headers.get("content-type", ""), body)
            if fields_.get("purpose", (None, b""))[1] != b"batch":
                return (
                    400,
                    _openai_error("purpose must be batch", "invalid_request_error", "purpose"),
                    "application/json",
                )
            if "file" not in fields_:
                return 400, _openai_error("no file", "invalid_request_error", "file"), "application/json"
            filename, content = fields_["file"]
            self._saw(content)
            file_id = "file-" + uuid.uuid4().hex[:24]
            (state.root / file_id).write_bytes(content)
            state.index["files"][file_id] = {
                "bytes": len(content),
                "filename": filename,
                "purpose": "batch",
                "created_at": int(_now()),
            }
            state.index["uploads"] += 1
            state.save()
            return (
                200,
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(content),
                    "created_at": int(_now()),
                    "filename": filename,
                    "purpose": "batch",
                },
                "application/json",
            )
        if len(parts) == 4 and parts[:2] == ["v1", "files"] and parts[3] == "content" and method == "GET":
            file_path = state.root / parts[2]
            if parts[2] not in state.index["files"] or not file_path.exists():
                return (
                    404,
                    _openai_error(f"No such File object: {parts[2]}", "invalid_request_error", "id"),
                    "application/json",
                )
            failed = self._reject_results()
            if failed is not None:
                return (
                    failed,
                    _openai_error("injected failure of a file download", "server_error"),
                    "application/json",
                )
            return 200, file_path.read_bytes(), "application/jsonl"
        if path == "/v1/batches" and method == "POST":
            rejected = self._reject_create()
            if rejected is not None:
                message = "Enqueued token limit reached" if rejected == 429 else "invalid batch request"
                return rejected, _openai_error(message, "invalid_request_error"), "application/json"
            request = json.loads(body)
            self._saw(body)
            file_id = request.get("input_file_id")
            if file_id not in state.index["files"]:
                return (
                    400,
                    _openai_error(f"Cannot find file {file_id}", "invalid_request_error", "input_file_id"),
                    "application/json",
                )
            if request.get("endpoint") != "/v1/chat/completions" or request.get("completion_window") != "24h":
                return (
                    400,
                    _openai_error("unsupported endpoint or completion_window", "invalid_request_error"),
                    "application/json",
                )
            lines = (state.root / file_id).read_bytes().splitlines()
            errors, custom_ids, models = [], [], set()
            for number, line in enumerate(lines, start=1):
                try:
                    entry = json.loads(line)
                    custom_ids.append(entry["custom_id"])
                    models.add(entry["body"]["model"])
                    if entry.get("method") != "POST" or entry.get("url") != "/v1/chat/completions":
                        errors.append(
                            {
                                "code": "invalid_url",
                                "message": "url must be /v1/chat/completions",
                                "line": number,
                            }
                        )
                except (ValueError, KeyError, TypeError):
                    errors.append(
                        {"code": "invalid_json_line", "message": "not a request line", "line": number}
                    )
            if len(lines) > OPENAI_MAX_REQUESTS or state.index["files"][file_id]["bytes"] > OPENAI_MAX_BYTES:
                errors.append(
                    {"code": "too_large", "message": "at most 50,000 requests and 200 MB", "line": None}
                )
            if len(models) > 1:
                errors.append({"code": "mixed_models", "message": "one model per batch", "line": None})
            if len(set(custom_ids)) != len(custom_ids):
                errors.append(
                    {"code": "duplicate_custom_id", "message": "custom_ids must be unique", "line": None}
                )
            batch = self._new_batch(
                "openai", custom_ids, input_file_id=file_id, metadata=request.get("metadata")
            )
            batch["validation_errors"] = errors
            await self._created(batch)
            return 200, self._openai_batch(batch), "application/json"
        if path == "/v1/batches" and method == "GET":
            items = [b for b in reversed(state.index["batches"]) if b["protocol"] == "openai"]
            items = _page(items, query.get("after"), int(query.get("limit", 20)))
            return (
                200,
                {
                    "object": "list",
                    "data": [self._openai_batch(b) for b in items[0]],
                    "first_id": items[0][0]["id"] if items[0] else None,
                    "last_id": items[0][-1]["id"] if items[0] else None,
                    "has_more": items[1],
                },
                "application/json",
            )
        if len(parts) >= 3 and parts[:2] == ["v1", "batches"]:
            batch = state.batch(parts[2])
            if batch is None or batch["protocol"] != "openai":
                return (
                    404,
                    _openai_error(f"No batch with id {parts[2]}", "invalid_request_error", "batch_id"),
                    "application/json",
                )
            if len(parts) == 4 and parts[3] == "cancel" and method == "POST":
                batch.setdefault("cancelled_at", _now())
                state.save()
                return 200, self._openai_batch(batch), "application/json"
            if len(parts) == 3 and method == "GET":
                state.index["polls"][batch["id"]] = state.index["polls"].get(batch["id"], 0) + 1
                view = self._openai_batch(batch)
                state.save()
                return 200, view, "application/json"
        return 404, _openai_error(f"no route {method} {path}", "invalid_request_error"), "application/json"

    def _reject_create(self) -> int | None:
        cfg = self.state.config
        if cfg.reject_create:
            status = cfg.reject_create.pop(0)
            self.state.save()
            return int(status)
        return cfg.reject_create_always

    def _reject_results(self) -> int | None:
        cfg = self.state.config
        if cfg.results_error:
            status = cfg.results_error.pop(0)
            self.state.save()
            return int(status)
        return cfg.results_error_always

    def _new_batch(self, protocol: str, custom_ids: list[str], **extra: Any) -> dict[str, Any]:
        state = self.state
        ordinal = len(state.index["batches"])
        fates = state.config.fates
        batch = {
            "id": ("batch_" if protocol == "openai" else "msgbatch_") + uuid.uuid4().hex[:24],
            "protocol": protocol,
            "created_at": _now(),
            "fate": fates[ordinal] if ordinal < len(fates) else "complete",
            "requests": len(custom_ids),
            **extra,
        }
        (state.root / f"{batch['id']}.ids.json").write_text(json.dumps(custom_ids))
        state.index["batches"].append(batch)
        state.index["creates"] += 1
        state.save()
        return batch

    async def _created(self, batch: dict[str, Any]) -> None:
        if self.state.config.hold_create:  # carried out and recorded; the answer waits for release
            self.state.gate = self.state.gate or asyncio.Event()
            await self.state.gate.wait()

    def _phase(self, batch: dict[str, Any]) -> str:
        """``validating``, ``running``, ``finalizing`` or ``done``, from the time since creation."""
        cfg = self.state.config
        age = _now() - batch["created_at"]
        if batch.get("cancelled_at") is not None:
            return "done" if _now() - batch["cancelled_at"] >= cfg.finalizing_seconds else "cancelling"
        if age < cfg.validating_seconds:
            return "validating"
        if cfg.hold or age < cfg.validating_seconds + cfg.processing_seconds:
            return "running"
        if age < cfg.validating_seconds + cfg.processing_seconds + cfg.finalizing_seconds:
            return "finalizing"
        return "done"

    def _openai_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        phase = self._phase(batch)
        n = batch["requests"]
        fate = batch["fate"]
        view: dict[str, Any] = {
            "id": batch["id"],
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": batch["input_file_id"],
            "completion_window": "24h",
            "created_at": int(batch["created_at"]),
            "metadata": batch.get("metadata"),
            "output_file_id": None,
            "error_file_id": None,
            "errors": None,
            "request_counts": {"total": n, "completed": 0, "failed": 0},
        }
        invalid = batch.get("validation_errors") or (
            [{"code": "invalid_request", "message": "line 2 is not a valid request", "line": 2}]
            if fate == "fail"
            else []
        )
        if fate == "fail_capacity":
            invalid = [
                {"code": "token_limit_exceeded", "message": "Enqueued token limit reached", "line": None}
            ]
        if phase == "validating":
            view["status"] = "validating"
        elif invalid:
            view["status"] = "failed"
            view["errors"] = {"object": "list", "data": [{**e, "param": None} for e in invalid]}
            view["request_counts"] = {"total": 0, "completed": 0, "failed": 0}
        elif phase == "cancelling":
            view["status"] = "cancelling"
        elif phase in ("running", "finalizing"):
            view["status"] = "in_progress" if phase == "running" else "finalizing"
            done = n // 2 if phase == "running" else n
            view["request_counts"] = {"total": n, "completed": done, "failed": 0}
        else:
            outputs = self._results(batch)
            view["status"] = {"expire": "expired", "cancel": "cancelled"}.get(fate, "completed")
            if batch.get("cancelled_at") is not None:
                view["status"] = "cancelled"
            view["output_file_id"], view["error_file_id"] = outputs["output"], outputs["error"]
            view["request_counts"] = {"total": n, "completed": outputs["ok"], "failed": n - outputs["ok"]}
        return view

    def _results(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Write the batch's results once (when it is done) and return their file ids and counts."""
        if "results" in batch:
            return batch["results"]
        state, cfg = self.state, self.state.config
        fate = batch["fate"] if batch.get("cancelled_at") is None else "cancel"
        requests = self._requests(batch)
        ok_lines, error_lines = [], []
        ok = 0
        for position, (custom_id, body) in enumerate(requests):
            unfinished = fate in ("expire", "cancel") and position >= len(requests) // 2
            # A request fails once (the first batch it is in), as a server error would.
            failed_before = state.index.setdefault("failed_once", {})
            failing = bool(
                cfg.error_rate
                and not unfinished
                and custom_id not in failed_before
                and (_hash(custom_id + "err") % 10_000) / 10_000 < cfg.error_rate
            )
            if failing:
                failed_before[custom_id] = batch["id"]
            if batch["protocol"] == "openai":
                line = {
                    "id": "batch_req_" + custom_id[:16],
                    "custom_id": custom_id,
                    "response": None,
                    "error": None,
                }
                if unfinished:
                    code = "batch_expired" if fate == "expire" else "batch_cancelled"
                    line["error"] = {
                        "code": code,
                        "message": "This request could not be executed before the completion window expired."
                        if fate == "expire"
                        else "This request was cancelled.",
                    }
                    error_lines.append(line)
                elif failing:
                    line["response"] = {
                        "status_code": cfg.error_status,
                        "request_id": "req_x",
                        "body": {
                            "error": {
                                "message": f"injected {cfg.error_status}",
                                "type": "server_error"
                                if cfg.error_status >= 500
                                else "invalid_request_error",
                                "param": None,
                                "code": None,
                            }
                        },
                    }
                    error_lines.append(line)
                else:
                    line["response"] = {
                        "status_code": 200,
                        "request_id": "req_" + custom_id[:8],
                        "body": _chat_completion(cfg, custom_id, body),
                    }
                    ok_lines.append(line)
                    ok += 1
            else:
                if unfinished:
                    line = {
                        "custom_id": custom_id,
                        "result": {"type": "expired" if fate == "expire" else "canceled"},
                    }
                elif failing:
                    kind = "api_error" if cfg.error_status >= 500 else "invalid_request_error"
                    line = {
                        "custom_id": custom_id,
                        "result": {
                            "type": "errored",
                            "error": {
                                "type": "error",
                                "error": {"type": kind, "message": f"injected {cfg.error_status}"},
                            },
                        },
                    }
                else:
                    line = {
                        "custom_id": custom_id,
                        "result": {"type": "succeeded", "message": _message(cfg, custom_id, body)},
                    }
                    ok += 1
                ok_lines.append(line)
        encoded = [json.dumps(line, ensure_ascii=False) for line in ok_lines]
        # The first results file only: the requests on its broken lines are asked again, then answered.
        first = not state.index.get("corrupted")
        state.index["corrupted"] = True
        for i in range(min(cfg.malformed_lines if first else 0, len(encoded))):
            encoded[i] = '{"custom_id": "broken' + "x" * i  # cut: not JSON
        for i in range(cfg.unknown_lines if first else 0):
            fake = ok_lines[0] if ok_lines else {"custom_id": ""}
            encoded.append(json.dumps({**fake, "custom_id": f"unknown-{i:04d}-{uuid.uuid4().hex[:8]}"}))
        files: dict[str, Any] = {"ok": ok, "output": None, "error": None}
        for name, lines in (("output", encoded), ("error", [json.dumps(line) for line in error_lines])):
            if not lines:
                continue
            file_id = "file-" + uuid.uuid4().hex[:24]
            (state.root / file_id).write_text("\n".join(lines) + "\n", encoding="utf-8")
            state.index["files"][file_id] = {
                "bytes": 0,
                "filename": f"{batch['id']}_{name}.jsonl",
                "purpose": "batch_output",
            }
            files[name] = file_id
        batch["results"] = files
        state.save()
        return files

    def _requests(self, batch: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if batch["protocol"] == "openai":
            lines = (self.state.root / batch["input_file_id"]).read_bytes().splitlines()
            out = []
            for line in lines:
                entry = json.loads(line)
                out.append((entry["custom_id"], entry["body"]))
            return out
        data = json.loads((self.state.root / f"{batch['id']}.requests.json").read_bytes())
        return [(r["custom_id"], r["params"]) for r in data["requests"]]

    # ------------------------------------------------------------------ Anthropic

    async def anthropic(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, Any, str]:
        state = self.state
        parts = path.strip("/").split("/")
        if path == "/v1/messages/batches" and method == "POST":
            rejected = self._reject_create()
            if rejected is not None:
                kind = "rate_limit_error" if rejected == 429 else "invalid_request_error"
                return (
                    rejected,
                    _anthropic_error(kind, f"injected {rejected} at creation"),
                    "application/json",
                )
            self._saw(body)
            if len(body) > ANTHROPIC_MAX_BYTES:
                return 413, _anthropic_error("request_too_large", "at most 256 MB"), "application/json"
            try:
                request = json.loads(body)
                requests = request["requests"]
                custom_ids = [r["custom_id"] for r in requests]
                for r in requests:
                    r["params"]["model"]
            except (ValueError, KeyError, TypeError):
                return (
                    400,
                    _anthropic_error("invalid_request_error", "requests: each needs custom_id and params"),
                    "application/json",
                )
            if not 1 <= len(requests) <= ANTHROPIC_MAX_REQUESTS:
                return (
                    400,
                    _anthropic_error("invalid_request_error", "requests: 1 to 100,000 elements"),
                    "application/json",
                )
            bad = next((c for c in custom_ids if not isinstance(c, str) or not _CUSTOM_ID.match(c)), None)
            if bad is not None or len(set(custom_ids)) != len(custom_ids):
                return (
                    400,
                    _anthropic_error("invalid_request_error", f"custom_id {bad!r} invalid or repeated"),
                    "application/json",
                )
            batch_id = "msgbatch_" + uuid.uuid4().hex[:24]
            (state.root / f"{batch_id}.requests.json").write_bytes(body)
            batch = self._new_batch("anthropic", custom_ids)
            os.replace(state.root / f"{batch_id}.requests.json", state.root / f"{batch['id']}.requests.json")
            await self._created(batch)
            return 200, self._anthropic_batch(batch), "application/json"
        if path == "/v1/messages/batches" and method == "GET":
            items = [b for b in reversed(state.index["batches"]) if b["protocol"] == "anthropic"]
            page, more = _page(items, query.get("after_id"), int(query.get("limit", 20)))
            return (
                200,
                {
                    "data": [self._anthropic_batch(b) for b in page],
                    "has_more": more,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                },
                "application/json",
            )
        if len(parts) >= 4 and parts[:3] == ["v1", "messages", "batches"]:
            batch = state.batch(parts[3])
            if batch is None or batch["protocol"] != "anthropic":
                return 404, _anthropic_error("not_found_error", f"no batch {parts[3]}"), "application/json"
            if len(parts) == 5 and parts[4] == "cancel" and method == "POST":
                batch.setdefault("cancelled_at", _now())
                state.save()
                return 200, self._anthropic_batch(batch), "application/json"
            if len(parts) == 5 and parts[4] == "results" and method == "GET":
                if self._phase(batch) != "done":
                    return (
                        400,
                        _anthropic_error("invalid_request_error", "batch has not ended"),
                        "application/json",
                    )
                failed = self._reject_results()
                if failed is not None:
                    return (
                        failed,
                        _anthropic_error("api_error", "injected failure of a results download"),
                        "application/json",
                    )
                files = self._results(batch)
                return 200, (state.root / files["output"]).read_bytes(), "application/binary"
            if len(parts) == 4 and method == "GET":
                state.index["polls"][batch["id"]] = state.index["polls"].get(batch["id"], 0) + 1
                view = self._anthropic_batch(batch)
                state.save()
                return 200, view, "application/json"
        return 404, _anthropic_error("not_found_error", f"no route {method} {path}"), "application/json"

    def _anthropic_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        phase = self._phase(batch)
        n = batch["requests"]
        counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        view = {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": counts,
            "ended_at": None,
            "created_at": _iso(batch["created_at"]),
            "expires_at": _iso(batch["created_at"] + 86400),
            "cancel_initiated_at": _iso(batch.get("cancelled_at")),
            "results_url": None,
            "archived_at": None,
        }
        if phase == "cancelling":
            view["processing_status"] = "canceling"
        elif phase == "done":
            files = self._results(batch)
            fate = "cancel" if batch.get("cancelled_at") is not None else batch["fate"]
            unfinished = n - n // 2 if fate in ("expire", "cancel") else 0
            failing = n - files["ok"] - unfinished
            counts.update(processing=0, succeeded=files["ok"], errored=failing)
            counts["expired" if fate == "expire" else "canceled"] += unfinished
            view["processing_status"] = "ended"
            view["ended_at"] = _iso(_now())
            view["results_url"] = f"{self.base_url}/v1/messages/batches/{batch['id']}/results"
        return view

    base_url = ""

    def stats(self) -> dict[str, Any]:
        submitted: dict[str, dict[str, int]] = {"openai": {}, "anthropic": {}}
        for batch in self.state.index["batches"]:
            for custom_id in json.loads((self.state.root / f"{batch['id']}.ids.json").read_text()):
                counts = submitted[batch["protocol"]]
                counts[custom_id] = counts.get(custom_id, 0) + 1
        return {
            "submitted": submitted,
            "batches": [
                {k: b.get(k) for k in ("id", "protocol", "requests", "fate")}
                for b in self.state.index["batches"]
            ],
            "creates": self.state.index["creates"],
            "uploads": self.state.index["uploads"],
            "polls": self.state.index["polls"],
            "live": self.state.index.get("live", {}),
            "key_seen": self.state.index["key_seen"],
        }


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    if after:
        ids = [b["id"] for b in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return items[:limit], len(items) > limit


def _openai_error(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart body: name → (filename, bytes)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    boundary = b"--" + match.group(1).encode()
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.partition(b"\r\n\r\n")
        disposition = head.decode("latin-1")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            out[name.group(1)] = (
                filename.group(1) if filename else None,
                content[:-2] if content.endswith(b"\r\n") else content,
            )
    return out


class BatchServer:
    """The server in a background thread: ``with BatchServer(root, BatchConfig(...)) as server: ...``."""

    def __init__(self, root: Path, config: BatchConfig | None = None, *, port: int = 0) -> None:
        self.state = _State(Path(root), config or BatchConfig())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = port
        self._handler = _Server(self.state)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    def stats(self) -> dict[str, Any]:
        return asyncio.run_coroutine_threadsafe(_call(self._handler.stats), self._loop).result(30)

    def control(self, **changes: Any) -> None:
        async def apply() -> None:
            await self._handler.route("POST", "/_control", {}, json.dumps(changes).encode())

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(10)

    def __enter__(self) -> BatchServer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self._handler.base_url = self.base_url
        return self

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handler.serve, "127.0.0.1", self.port, backlog=256)
        return self._server.sockets[0].getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            if self.state.gate is not None:
                self.state.gate.set()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _call(fn: Any) -> Any:
    return fn()


async def _main_async(root: Path, config: BatchConfig, port: int) -> None:
    state = _State(root, config)
    handler = _Server(state)
    server = await asyncio.start_server(handler.serve, "127.0.0.1", port, backlog=256)
    handler.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state", required=True, help="directory of the server's state (kept across restarts)"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--processing", type=float, default=0.3, help="seconds from creation to completion")
    parser.add_argument("--answer", default="3")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    config = BatchConfig(processing_seconds=args.processing, answer=args.answer, api_key=args.api_key)
    try:
        asyncio.run(_main_async(Path(args.state), config, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
