"""A vLLM server (``vllm serve``), spoken to over its OpenAI-compatible API, with vLLM's own extras.

Start one, e.g. for DeepSeek-V2-Lite-Chat (the registry's ``deepseek-v2-lite-chat``)::

    vllm serve deepseek-ai/DeepSeek-V2-Lite-Chat --trust-remote-code --port 8000 \\
        --served-model-name deepseek-ai/DeepSeek-V2-Lite-Chat --max-logprobs 20 --api-key "$VLLM_API_KEY"

and point a model at it (``provider: vllm``, ``base_url: http://HOST:8000/v1``, ``api_model`` = the
served model name, ``api_key_env`` naming the variable that holds ``--api-key``, if any).

``constrained`` mode uses vLLM's structured outputs (guided decoding) with exactly the scale's
labels: ``{"structured_outputs": {"choice": ["1", ..., "5"]}}``. Where one label starts another (the
1–10 scale: "1" of "10") the choice would leave the model, after "1", only "0" or the end of its
turn, which a chat model rarely emits straight after a digit; that turned SmolLM2's "1." into "10"
in every row under llama.cpp's equivalent grammar. There the constraint is the regular expression of
the same labels, each ended by the end of the answer or one non-digit
(``{"structured_outputs": {"regex": "(1|2|...|10)[^0-9]?"}}``), so that "1" stops where the model
stops writing the number. ``options.constrained_via`` chooses either for any scale (``choice`` or
``regex``). vLLM before 0.10.2 names the fields ``guided_choice`` / ``guided_regex``
(``options.structured_outputs: false``); vLLM 0.12 removed those names, and a server silently
ignores a field it does not know and answers unconstrained. So the server's version is read at start
(``GET /version``; ``options.vllm_version`` states it instead, for a gateway that hides it) and a
mismatch is refused; and an answer that is not one the constraint allows stops the model
(:class:`~valuesurvey.elicit._exceptions.ConstraintIgnoredError`): every further answer would be
unconstrained too.

``logprobs`` mode asks for ``top_logprobs`` of the answer's first token and scores every scale point
as a whole answer: for a point that starts another ("1" of "10") it continues the answer exactly as
the model would, one token, with vLLM's ``continue_final_message`` (the chat's messages, then an
assistant message "1" that the server continues instead of opening a new turn; no constraint, greedy,
``max_tokens: 1``), so that P(10) = P("1")·P("0" | "1") and P(1) = P("1")·(1 − P("0" | "1"))
(:func:`valuesurvey.elicit.parse.scale_point_distribution`). vLLM reports the model's log
probabilities before sampling (``--logprobs-mode``, default ``raw_logprobs``); by default no
constraint is sent in logprobs mode (``options.logprobs_constraint: true`` sends it, so that the
sampled answer is a scale point).

vLLM's ``serve`` has no batch API (``/v1/batches``): vLLM models are asked live.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from valuesurvey.elicit._exceptions import ConstraintIgnoredError, ProviderError
from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse
from valuesurvey.elicit.providers._http import (
    HTTPSession,
    check_status,
    decode_object,
    map_transport_errors,
    post_json,
    require,
)
from valuesurvey.elicit.providers.openai_compatible import OpenAICompatibleProvider, _first_token_top_logprobs

__all__ = ["CONSTRAINTS", "VLLMProvider", "rating_regex", "version_tuple"]

CONSTRAINTS = ("choice", "regex")
#: vLLM versions: ``structured_outputs`` since 0.10.2, the ``guided_*`` fields removed in 0.12.0.
STRUCTURED_OUTPUTS_SINCE = (0, 10, 2)
GUIDED_REMOVED_IN = (0, 12, 0)


def rating_regex(scale_min: int, scale_max: int) -> str:
    """The scale's labels, each ended by the end of the answer or one character that is not a digit.

    >>> rating_regex(1, 10)
    '(1|2|3|4|5|6|7|8|9|10)[^0-9]?'
    >>> bool(re.fullmatch(rating_regex(1, 10), "1.")), bool(re.fullmatch(rating_regex(1, 10), "11"))
    (True, False)
    """
    return "(" + "|".join(str(k) for k in range(scale_min, scale_max + 1)) + ")[^0-9]?"


def version_tuple(text: str) -> tuple[int, int, int] | None:
    """``"0.11.0"``, ``"0.10.2rc1+cu128"`` → (0, 11, 0), (0, 10, 2); ``None`` if it is no version.

    >>> version_tuple("0.10.2rc1+cu128"), version_tuple("dev")
    ((0, 10, 2), None)
    """
    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


class VLLMProvider(OpenAICompatibleProvider):
    name: ClassVar[str] = "vllm"
    supports_logprobs: ClassVar[bool] = True
    supports_constrained: ClassVar[bool] = True
    supports_continuation: ClassVar[bool] = True  # continue_final_message on the chat API
    needs_api_key: ClassVar[bool] = True  # when api_key_env names one (vllm serve --api-key)
    default_base_url: ClassVar[str] = "http://127.0.0.1:8000/v1"
    batch_protocol: ClassVar[str | None] = None  # vllm serve has no /v1/batches
    server_version: tuple[int, int, int] | None = None  # read by start()

    # ------------------------------------------------------------------ the constraint

    def _structured(self) -> bool:
        return bool(self.model.options.get("structured_outputs", True))

    def _kind(self, request: ChatRequest) -> str:
        from valuesurvey.elicit.parse import scale_needs_continuation

        assert request.scale_min is not None and request.scale_max is not None
        default = "regex" if scale_needs_continuation(request.scale_min, request.scale_max) else "choice"
        kind = str(self.model.options.get("constrained_via", default))
        if kind not in CONSTRAINTS:
            from valuesurvey.errors import ConfigError

            raise ConfigError(
                f"model {self.model.id!r}: options.constrained_via must be one of {', '.join(CONSTRAINTS)} "
                f"for provider vllm, got {kind!r}"
            )
        return kind

    def constraint(self, request: ChatRequest) -> dict[str, Any]:
        """vLLM's structured output restricting the answer to the scale's labels (see the module)."""
        if request.scale_min is None or request.scale_max is None:
            return {}
        if request.answer_mode == "logprobs" and not self.model.options.get("logprobs_constraint", False):
            return {}
        if request.answer_mode not in ("constrained", "logprobs"):
            return {}
        kind = self._kind(request)
        value: Any = (
            [str(k) for k in range(request.scale_min, request.scale_max + 1)]
            if kind == "choice"
            else rating_regex(request.scale_min, request.scale_max)
        )
        if self._structured():
            return {"structured_outputs": {kind: value}}
        return {f"guided_{kind}": value}

    def _allowed(self, request: ChatRequest, text: str) -> bool:
        assert request.scale_min is not None and request.scale_max is not None
        if self._kind(request) == "choice":
            return text in {str(k) for k in range(request.scale_min, request.scale_max + 1)}
        return re.fullmatch(rating_regex(request.scale_min, request.scale_max), text) is not None

    # ------------------------------------------------------------------ the server's version

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    async def start(self) -> None:
        """Read the server's version and refuse a constraint field it would silently ignore."""
        stated = self.model.options.get("vllm_version")
        if stated is not None:
            version = version_tuple(str(stated))
            where = f"options.vllm_version {stated!r}"
        else:
            version, where = await self._server_version(), f"GET {self.root_url}/version"
        if version is None:
            raise ConstraintIgnoredError(
                f"{where}: not a vLLM version; set options.vllm_version to the server's version",
                model=self.model.id,
            )
        shown = ".".join(map(str, version))
        if self._structured() and version < STRUCTURED_OUTPUTS_SINCE:
            raise ConstraintIgnoredError(
                f"the vLLM server is version {shown} ({where}), which does not know structured_outputs (vLLM "
                "0.10.2 and later) and would answer unconstrained: set options.structured_outputs: false to "
                "send guided_choice / guided_regex",
                model=self.model.id,
            )
        if not self._structured() and version >= GUIDED_REMOVED_IN:
            raise ConstraintIgnoredError(
                f"the vLLM server is version {shown} ({where}), which removed guided_choice / guided_regex (vLLM "
                "0.12) and would answer unconstrained: remove options.structured_outputs: false",
                model=self.model.id,
            )
        self.server_version = version

    async def _server_version(self) -> tuple[int, int, int] | None:
        url = f"{self.root_url}/version"
        assert self.client is not None
        with map_transport_errors("GET", url, model=self.model.id, secret=self._api_key):
            response = await self.client.get(url, headers=self.headers())
        try:
            check_status(response, "GET", url, model=self.model.id, secret=self._api_key)
            data = decode_object(response, "GET", url, model=self.model.id)
        except ProviderError as exc:
            if exc.stops_model:  # 401/403: the key is wrong; 404: not a vLLM server
                raise ConstraintIgnoredError(
                    f"{url} did not give the vLLM version ({exc.detail}): is base_url a vLLM server? "
                    "(options.vllm_version states the version instead)",
                    model=self.model.id,
                    status=exc.status,
                ) from exc
            raise
        return version_tuple(str(data.get("version", "")))

    # ------------------------------------------------------------------ answers

    async def generate(self, request: ChatRequest, *, client: HTTPSession | None = None) -> ChatResponse:
        response = await super().generate(request, client=client)
        constrained = request.answer_mode == "constrained" and request.scale_min is not None
        if constrained and not self._allowed(request, response.text.strip()):
            field = next(iter(self.constraint(request)))
            raise ConstraintIgnoredError(
                f"{request.label}: the answer {response.text[:40]!r} is not one the constraint allows "
                f"({field}): the server ignored it (vLLM answers unconstrained to a field it does not know; "
                "check options.structured_outputs against the server's version)",
                model=self.model.id,
            )
        if request.answer_mode == "logprobs":
            response = await self.with_continuations(request, response, client=client)
        return response

    async def continuation(
        self, request: ChatRequest, prefix: str, *, client: HTTPSession | None = None
    ) -> list[dict[str, Any]]:
        """The model's next-token probabilities after the answer ``prefix``: the same messages and an
        assistant message ``prefix`` that vLLM continues (``continue_final_message``), one token, greedy,
        no constraint."""
        body: dict[str, Any] = {
            "model": self.model.api_model,
            "messages": [*request.messages, {"role": "assistant", "content": prefix}],
            "continue_final_message": True,
            "add_generation_prompt": False,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": request.top_logprobs,
        }
        body.update(self.model.options.get("extra_body", {}))
        data = await post_json(
            client or self.client,  # type: ignore[arg-type]
            f"{self.base_url}/chat/completions",
            body=body,
            headers=self.headers(request),
            model=self.model.id,
            secret=self._api_key,
            request_label=request.label,
            timeout=self.request_timeout(request),
        )
        choices = data.get("choices")
        require(
            isinstance(choices, list) and bool(choices), "continuation has no choices", model=self.model.id
        )
        top = _continuation_top_logprobs(choices[0])
        require(top is not None, "continuation has no top_logprobs", model=self.model.id)
        return top  # type: ignore[return-value]


def _continuation_top_logprobs(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The ``top_logprobs`` of the one token generated (whitespace or not: after "1", " " means 1)."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if isinstance(content, list) and content and isinstance(content[0], dict):
        top = content[0].get("top_logprobs")
        return top if isinstance(top, list) else None
    return _first_token_top_logprobs(choice)
