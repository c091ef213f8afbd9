"""OpenAI-compatible chat completions (``POST {base_url}/chat/completions``).

Covers OpenAI, DeepSeek, Qwen (DashScope compatible mode), Moonshot/Kimi, Zhipu GLM, Baichuan,
01.AI Yi, Baidu Qianfan, Gemini's OpenAI endpoint, OpenRouter/Together, and local vLLM, Ollama
and llama.cpp servers.

Model options (``options:`` in the registry or study.yaml):

``logprobs`` (bool)
    whether the endpoint returns ``top_logprobs`` (default true).
``constrained`` (bool), ``constrained_via`` (``json_schema`` | ``grammar``)
    how constrained mode restricts the answer: an OpenAI ``response_format`` JSON schema
    ``{"rating": int}`` (default) or a GBNF grammar (llama.cpp, vLLM).
``extra_body`` (mapping)
    merged into every request body (e.g. ``{"enable_thinking": false}`` for Qwen 3).
``extra_headers`` (mapping)
    added to every request.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse, Provider
from valuesurvey.elicit.providers._http import HTTPSession, post_json, require

__all__ = ["OpenAICompatibleProvider", "rating_grammar", "rating_json_schema"]


def rating_grammar(scale_min: int, scale_max: int) -> str:
    """A GBNF grammar accepting exactly one scale point, as the alternation of its labels.

    When one label starts another ("1" of "10"), the label must be followed by its end: the end of
    the answer or one character that is not a digit (a newline, ``.``, a space). Without that end the
    model, after "1", could only choose between "0" and its end-of-turn token, which a chat model
    rarely emits straight after a digit: grammar-constrained sampling then turned SmolLM2's "1."
    into "10" in every row. With it, "1" stops where the model would stop writing the number.

    >>> rating_grammar(1, 5)
    'root ::= "1" | "2" | "3" | "4" | "5"'
    >>> rating_grammar(1, 10)
    'root ::= ("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10") [^0-9]?'
    """
    from valuesurvey.elicit.parse import scale_needs_continuation

    labels = " | ".join(f'"{k}"' for k in range(scale_min, scale_max + 1))
    if scale_needs_continuation(scale_min, scale_max):
        return f"root ::= ({labels}) [^0-9]?"
    return f"root ::= {labels}"


def rating_json_schema(scale_min: int, scale_max: int) -> dict[str, Any]:
    """An OpenAI ``response_format`` asking for ``{"rating": <one of the scale's points>}``.

    The points are an ``enum``, not ``minimum``/``maximum``: a range compiles to a digit grammar in
    llama.cpp and vLLM, which lets "1" run on into "10".

    >>> rating_json_schema(1, 3)["json_schema"]["schema"]["properties"]["rating"]
    {'type': 'integer', 'enum': [1, 2, 3]}
    """
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "rating",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"rating": {"type": "integer", "enum": list(range(scale_min, scale_max + 1))}},
                "required": ["rating"],
                "additionalProperties": False,
            },
        },
    }


class OpenAICompatibleProvider(Provider):
    name: ClassVar[str] = "openai_compatible"
    supports_logprobs: ClassVar[bool] = True
    supports_constrained: ClassVar[bool] = True
    needs_api_key: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    batch_protocol: ClassVar[str | None] = "openai"

    @property
    def base_url(self) -> str:
        return (self.model.base_url or self.default_base_url).rstrip("/")

    def headers(self, request: ChatRequest | None = None) -> dict[str, str]:
        """The key (only ever in a header), the extra headers and, for a request, its key (lets
        servers and tests de-duplicate)."""
        headers = {} if request is None else {"X-Valuesurvey-Key": request.key}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        headers.update(self.model.options.get("extra_headers", {}))
        return headers

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model.api_model, "messages": list(request.messages)}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.answer_mode == "logprobs":
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        if request.answer_mode in ("constrained", "logprobs") and request.scale_min is not None:
            body.update(self.constraint(request))
        body.update(self.model.options.get("extra_body", {}))
        return body

    def request_timeout(self, request: ChatRequest) -> httpx.Timeout | None:
        """The timeout of ``request`` (``None``: the client's, from ``timeout``); local servers
        scale it with their measured speed."""
        return None

    def received(self, data: dict[str, Any]) -> None:
        """Called with every decoded response body (a local server reads its timings from it)."""

    def constraint(self, request: ChatRequest) -> dict[str, Any]:
        """Body fields restricting the answer to the scale (constrained mode only by default)."""
        if request.answer_mode != "constrained":
            return {}
        assert request.scale_min is not None and request.scale_max is not None
        if self.model.options.get("constrained_via", "json_schema") == "grammar":
            return {"grammar": rating_grammar(request.scale_min, request.scale_max)}
        return {"response_format": rating_json_schema(request.scale_min, request.scale_max)}

    async def generate(self, request: ChatRequest, *, client: HTTPSession | None = None) -> ChatResponse:
        client = client or self.client
        assert client is not None
        model = self.model.id
        data = await post_json(
            client,
            f"{self.base_url}/chat/completions",
            body=self.body(request),
            headers=self.headers(request),
            model=model,
            secret=self._api_key,
            request_label=request.label,
            timeout=self.request_timeout(request),
        )
        self.received(data)
        return self.parse_response(data)

    def parse_response(self, data: dict[str, Any]) -> ChatResponse:
        model = self.model.id
        choices = data.get("choices")
        require(isinstance(choices, list) and len(choices) > 0, "response has no choices", model=model)
        choice = choices[0]
        require(isinstance(choice, dict), "response choice is not an object", model=model)
        message = choice.get("message") or {}
        text = message.get("content") or ""
        require(isinstance(text, str), "response content is not text", model=model)
        usage = data.get("usage") or {}
        return ChatResponse(
            text=text,
            finish_reason=choice.get("finish_reason"),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            top_logprobs=_first_token_top_logprobs(choice),
            model=data.get("model"),
        )


def _first_token_top_logprobs(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    content = logprobs.get("content")
    if not isinstance(content, list):
        return None
    # The first token that is not whitespace carries the answer.
    for token in content:
        if isinstance(token, dict) and str(token.get("token", "")).strip():
            top = token.get("top_logprobs")
            return top if isinstance(top, list) else None
    return None
