"""What every provider receives and returns, and the base class providers extend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any, ClassVar

import httpx

from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.elicit.providers._http import HTTPSession

__all__ = [
    "TRANSPORT_OPTIONS",
    "ChatRequest",
    "ChatResponse",
    "ModelInfo",
    "Provider",
    "answer_identity",
    "answer_options",
]

#: Model options that change how, where or how fast a request is sent, never its answer: they stay
#: out of request keys, so changing one (a timeout, the retries, llama.cpp's slots) reuses every
#: stored answer. ``base_url`` is not in the key either (see :func:`answer_identity`).
TRANSPORT_OPTIONS = frozenset(
    {
        "timeout",
        "connect_timeout",
        "max_retries",
        "http_transport",
        "extra_headers",
        "latency",
        "threads",
        "n_ctx",
        "parallel",
        # How a batched model's batches are sized, polled and retried (valuesurvey.elicit.batch):
        # a request asked in a batch is the same request as one asked live.
        "batch_poll_seconds",
        "batch_requeue",
        "batch_max_requests",
        "batch_max_bytes",
    }
)
# Options whose whole effect is already in the key by another field: the listing order and a folded
# system prompt are in the messages (shuffle_ranking_order, system_prompt), the capability flags
# decide the answer mode (logprobs, constrained), and the constraint sent is in the key literally
# (constrained_via, logprobs_grammar).
_COVERED_OPTIONS = frozenset(
    {
        "shuffle_ranking_order",
        "system_prompt",
        "logprobs",
        "constrained",
        "constrained_via",
        "logprobs_grammar",
    }
)
# Options naming a file: the key holds the file's name, not where this machine keeps it.
_FILE_OPTIONS = frozenset({"model_path"})


def answer_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The model options that define an answer (``extra_body``, a GGUF's file name, a simulated
    respondent's parameters, ...): every option except :data:`TRANSPORT_OPTIONS` and those the key
    holds in another form.

    >>> answer_options({"extra_body": {"top_k": 5}, "parallel": 4, "timeout": 9, "max_retries": 1,
    ...                 "model_path": "/models/qwen2.5-0.5b.gguf"})
    {'extra_body': {'top_k': 5}, 'model_path': 'qwen2.5-0.5b.gguf'}
    """
    kept = {}
    for name, value in sorted(options.items()):
        if name in TRANSPORT_OPTIONS or name in _COVERED_OPTIONS:
            continue
        if name in _FILE_OPTIONS and value is not None:
            value = PurePath(str(value)).name
        kept[name] = value
    return kept


def answer_identity(model: str, provider: str, api_model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies the answering model in a request key: the study's id for it (two entries of a
    study are two respondents, even with the same API model), the provider, the API model and the
    answer-defining options. Never the base URL (a port or a gateway does not change the model), the
    API key, or a transport setting."""
    return {"model": model, "provider": provider, "api_model": api_model, "options": answer_options(options)}


@dataclass(frozen=True)
class ModelInfo:
    """The resolved model as providers see it (built from the registry's ``ResolvedModel``)."""

    id: str
    provider: str
    api_model: str
    base_url: str | None = None
    api_key_env: str | None = None
    origin: str | None = None
    company: str | None = None
    display_name: str | None = None
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: Share of the list price the provider takes off for batch requests (0.5: half price); ``None``:
    #: no batch API at this model's endpoint.
    batch_discount: float | None = None
    #: Send this model's requests through its provider's batch API (``batch: true`` in study.yaml).
    batch: bool = False

    def cost_usd(self, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        """Cost at the list prices, or at the batch prices (list × (1 − ``batch_discount``))."""
        cost = (input_tokens * self.price_input_per_mtok + output_tokens * self.price_output_per_mtok) / 1e6
        return cost * (1.0 - (self.batch_discount or 0.0)) if batch else cost


@dataclass(frozen=True)
class ChatRequest:
    """One chat request, everything a provider needs to send it.

    ``meta`` carries the design cell (instrument, item, dimension, language, persona, rep, attempt,
    kind) for the simulated provider and logs; it is never sent to a network API.
    """

    key: str
    messages: tuple[dict[str, str], ...]
    answer_mode: str = "text"  # text | constrained | logprobs
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    top_logprobs: int = 20
    scale_min: int | None = None
    scale_max: int | None = None
    values: tuple[str, ...] = ()  # ranking task: the value ids
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name this request: its key's start and its design cell.

        >>> ChatRequest("3f2a9c1b0d4e5f60", (), meta={"kind": "ranking", "language": "zh", "rep": 2}).label
        'request 3f2a9c1b0d4e (ranking zh rep 2)'
        """
        meta = self.meta
        cell = [str(meta[k]) for k in ("kind", "instrument", "item", "language", "persona") if meta.get(k)]
        if "rep" in meta:
            cell.append(f"rep {meta['rep']}")
        if meta.get("attempt"):
            cell.append(f"attempt {meta['attempt']}")
        return f"request {self.key[:12]}" + (f" ({' '.join(cell)})" if cell else "")


@dataclass(frozen=True)
class ChatResponse:
    """A provider's answer; ``top_logprobs`` is the OpenAI-style list for the first answer token.

    ``continuations`` (logprobs mode, providers that can continue an answer) maps an answer prefix
    (``"1"``) to the ``top_logprobs`` of the token after it: what scores a multi-token scale point
    (``"10"``) as a whole answer (:func:`valuesurvey.elicit.parse.scale_point_distribution`).
    """

    text: str
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    top_logprobs: list[dict[str, Any]] | None = None
    model: str | None = None
    continuations: dict[str, list[dict[str, Any]]] | None = None


class Provider:
    """Base class: a provider turns a :class:`ChatRequest` into a :class:`ChatResponse`.

    Subclasses set the capability flags and implement :meth:`generate`; they raise the errors of
    :mod:`valuesurvey.elicit._exceptions` (converted ``from`` httpx's), never httpx's own.
    """

    name: ClassVar[str] = "base"
    supports_logprobs: ClassVar[bool] = False
    supports_constrained: ClassVar[bool] = False
    needs_api_key: ClassVar[bool] = False
    #: Can ask for the next token after an answer prefix (:meth:`continuation`), which scores
    #: multi-token scale points ("10" = "1" then "0") in logprobs mode.
    supports_continuation: ClassVar[bool] = False
    #: Every scale point is one token of the model's answer (the simulated respondents; APIs whose
    #: tokenizer keeps numbers whole say so with ``options.single_token_numbers: true``).
    single_token_numbers: ClassVar[bool] = False
    #: The batch protocol this provider's API speaks (:mod:`valuesurvey.elicit.batch`: ``openai`` or
    #: ``anthropic``), ``None`` when it has none. A model is batched only when its endpoint implements
    #: it too (``batch_discount`` in the registry or study.yaml).
    batch_protocol: ClassVar[str | None] = None
    #: The answer depends on the study's id of the model, not only on the API model (the simulated
    #: respondents draw from a generator seeded by it): the response cache keys on it too.
    answer_depends_on_model_id: ClassVar[bool] = False

    def __init__(
        self, model: ModelInfo, *, client: httpx.AsyncClient | None, config: ElicitConfig, api_key: str | None
    ) -> None:
        self.model = model
        self.client = client
        self.config = config.resolved()
        self._api_key = api_key

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(model={self.model.id!r}, api_model={self.model.api_model!r})"

    @classmethod
    def can(cls, model: ModelInfo, answer_mode: str) -> bool:
        """Whether this provider, for ``model``'s options, supports ``answer_mode``."""
        if answer_mode == "logprobs":
            return bool(model.options.get("logprobs", cls.supports_logprobs))
        if answer_mode == "constrained":
            return bool(model.options.get("constrained", cls.supports_constrained))
        return True

    @classmethod
    def scale_refusal(cls, model: ModelInfo, scale_min: int, scale_max: int) -> str | None:
        """Why logprobs mode cannot score the scale ``scale_min..scale_max`` for ``model`` (``None``:
        it can): a point that is more than one token ("10") needs a continuation request."""
        from valuesurvey.elicit.parse import scale_needs_continuation

        if not scale_needs_continuation(scale_min, scale_max) or cls.supports_continuation:
            return None
        if model.options.get("single_token_numbers", cls.single_token_numbers):
            return None
        return (
            f"model {model.id!r} ({cls.name}): logprobs mode cannot score the {scale_min}-{scale_max} "
            f'scale: "{scale_max}" may be several tokens ("1" then "0") and {cls.name} offers no '
            "continuation request to score it; use answer_mode text or constrained, or set "
            "options.single_token_numbers: true if the model's tokenizer keeps every scale point as "
            "one token"
        )

    async def continuation(
        self, request: ChatRequest, prefix: str, *, client: HTTPSession | None = None
    ) -> list[dict[str, Any]]:
        """``top_logprobs`` of the token that follows the answer ``prefix`` to ``request``."""
        raise NotImplementedError(f"{self.name} cannot continue an answer")

    async def with_continuations(
        self, request: ChatRequest, response: ChatResponse, *, client: HTTPSession | None = None
    ) -> ChatResponse:
        """``response`` with the continuations that score its multi-token scale points."""
        from valuesurvey.elicit.parse import continuation_prefixes

        if request.scale_min is None or request.scale_max is None or not response.top_logprobs:
            return response
        found: dict[str, list[dict[str, Any]]] = {}
        scale = {"scale_min": request.scale_min, "scale_max": request.scale_max}
        while todo := continuation_prefixes(response.top_logprobs, found, **scale):
            for prefix in todo:
                found[prefix] = await self.continuation(request, prefix, client=client)
        return replace(response, continuations=found) if found else response

    @classmethod
    def identity(cls, model: ModelInfo) -> dict[str, Any]:
        """What identifies ``model`` in a request key (:func:`answer_identity`)."""
        return answer_identity(model.id, cls.name, model.api_model, model.options)

    def constraint(self, request: ChatRequest) -> dict[str, Any]:
        """The body fields that restrict ``request``'s answer (a grammar, a JSON schema), as sent.

        The plan puts them in the request key, so a changed constraint never reuses answers given
        under another one. Providers without constraints send none."""
        return {}

    def deadline(self, request: ChatRequest) -> float | None:
        """Seconds one attempt at ``request`` may take in all (connect, send, the whole response).

        ``ElicitConfig.timeout`` (a model's ``options.timeout``) by default; a provider that knows
        better (a local server whose speed it measured) overrides it."""
        return self.config.timeout

    def connection_key(self) -> str:
        """Requests sharing this key share one concurrency limit."""
        return f"{self.name}|{self.model.api_model}|{self.model.base_url}"

    def size_for(self, requests: Sequence[ChatRequest]) -> None:
        """Called before :meth:`start` with the requests this run will send (a local server sizes
        its context window from them); providers that need nothing ignore it."""

    async def start(self) -> None:
        """Acquire resources (a local server, ...) before the first request."""

    async def close(self) -> None:
        """Release what :meth:`start` acquired."""

    async def generate(self, request: ChatRequest, *, client: HTTPSession | None = None) -> ChatResponse:
        """Answer ``request``; HTTP providers send it with ``client`` (default: the shared one)."""
        raise NotImplementedError

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body the API receives for ``request`` (live, and in a batch file)."""
        raise NotImplementedError(f"{self.name} has no request body")

    def parse_response(self, data: dict[str, Any]) -> ChatResponse:
        """A decoded response body (live, or one line of a batch's results) as a :class:`ChatResponse`;
        raises :class:`~valuesurvey.elicit._exceptions.TransientError` for a malformed one."""
        raise NotImplementedError(f"{self.name} has no response body")
