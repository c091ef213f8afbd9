"""Anthropic's Messages API (``POST {base_url}/v1/messages``), spoken natively.

No logprobs and no grammar: in ``logprobs`` or ``constrained`` studies Anthropic models are asked
in ``text`` mode with the study's repetitions (the answer mode is recorded per row).
"""

from __future__ import annotations

from typing import Any, ClassVar

from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse, Provider
from valuesurvey.elicit.providers._http import HTTPSession, post_json, require

__all__ = ["AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    supports_logprobs: ClassVar[bool] = False
    supports_constrained: ClassVar[bool] = False
    needs_api_key: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    batch_protocol: ClassVar[str | None] = "anthropic"

    @property
    def base_url(self) -> str:
        return (self.model.base_url or self.default_base_url).rstrip("/")

    def headers(self, request_key: str | None = None) -> dict[str, str]:
        """The API version, the key (only ever in a header) and our request key when there is one."""
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if request_key is not None:
            headers["X-Valuesurvey-Key"] = request_key
        if self._api_key:
            headers["x-api-key"] = self._api_key
        headers.update(self.model.options.get("extra_headers", {}))
        return headers

    def body(self, request: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system" and m["content"])
        body: dict[str, Any] = {
            "model": self.model.api_model,
            "max_tokens": request.max_tokens or 16,
            "messages": [m for m in request.messages if m["role"] != "system"],
        }
        if system:
            body["system"] = system
        # Recent Claude models accept temperature or top_p, not both: temperature wins.
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)
        elif request.top_p is not None:
            body["top_p"] = request.top_p
        body.update(self.model.options.get("extra_body", {}))
        return body

    async def generate(self, request: ChatRequest, *, client: HTTPSession | None = None) -> ChatResponse:
        client = client or self.client
        assert client is not None
        data = await post_json(
            client,
            f"{self.base_url}/v1/messages",
            body=self.body(request),
            headers=self.headers(request.key),
            model=self.model.id,
            secret=self._api_key,
            request_label=request.label,
        )
        return self.parse_response(data)

    def parse_response(self, data: dict[str, Any]) -> ChatResponse:
        model = self.model.id
        blocks = data.get("content")
        require(isinstance(blocks, list), "response has no content blocks", model=model)
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = data.get("usage") or {}
        return ChatResponse(
            text=text,
            finish_reason=data.get("stop_reason"),
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            model=data.get("model"),
        )
