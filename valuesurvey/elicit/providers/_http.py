"""HTTP plumbing shared by the HTTP providers: send, map failures onto our error types."""

from __future__ import annotations

import email.utils
import json
import time
import urllib.request
from types import TracebackType
from typing import Any

import httpx

from valuesurvey.elicit._exceptions import (
    ContextOverflowError,
    ProviderError,
    RateLimitError,
    RequestRejectedError,
    TransientError,
    redact,
)

__all__ = [
    "HTTPSession",
    "TransportSession",
    "environment_proxies",
    "is_context_overflow",
    "parse_retry_after",
    "post_json",
]

_USER_AGENT = f"valuesurvey (python-httpx/{httpx.__version__})"


def environment_proxies() -> dict[str, str]:
    """Proxies set in the environment (``HTTPS_PROXY``, ...); :class:`TransportSession` does not
    route through them, so the runner keeps :class:`httpx.AsyncClient` when there are any."""
    return urllib.request.getproxies()


class TransportSession:
    """What :func:`post_json` needs of an :class:`httpx.AsyncClient`, sent straight to a transport.

    The runner gives each worker one session on one keep-alive connection, normally over
    :class:`~valuesurvey.elicit.providers._transport.AsyncioHTTP11Transport`. Through
    ``AsyncClient.post`` a request would also pay for URL merging, cookie extraction (a ``urllib``
    request per response), auth and redirect handling, none of which an API call uses: ~0.3 ms of
    CPU per request. Timeouts and TLS are the transport's, as with the client.

    Parameters
    ----------
    transport : httpx.AsyncBaseTransport
        Owned by the session: closed with it.
    timeout : httpx.Timeout
        Used when :meth:`post` gets none.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, *, timeout: httpx.Timeout) -> None:
        self._transport = transport
        self._timeout = timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}  # a run posts to one URL; parsing it costs 20 µs

    async def post(
        self,
        url: str,
        *,
        json: Any,
        headers: dict[str, str],
        timeout: httpx.Timeout | Any = None,
    ) -> httpx.Response:
        """POST ``json``; the response is read completely and closed, as ``AsyncClient.post`` does."""
        timeouts = timeout.as_dict() if isinstance(timeout, httpx.Timeout) else self._timeout
        parsed = self._urls.get(url) or self._urls.setdefault(url, httpx.URL(url))
        request = httpx.Request(
            "POST",
            parsed,
            json=json,
            headers={"Accept": "*/*", "User-Agent": _USER_AGENT, **headers},
            extensions={"timeout": timeouts},
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> TransportSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


# How servers say "the prompt is longer than the context": llama.cpp's error type, OpenAI's code,
# vLLM's and others' wording.
_CONTEXT_MARKERS = (
    "exceed_context_size",
    "context_length_exceeded",
    "exceeds the available context",
    "maximum context length",
    "context window",
    "prompt is too long",  # Anthropic
)

# 408 (request timeout), 409 (conflict/lock), 425 and 529 (Anthropic "overloaded") are worth retrying.
_RETRYABLE_4XX = frozenset({408, 409, 425})


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    >>> parse_retry_after(httpx.Headers({"Retry-After": "2"}))
    2.0
    >>> parse_retry_after(httpx.Headers({"retry-after-ms": "1500"}))
    1.5
    >>> parse_retry_after(httpx.Headers({})) is None
    True
    """
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_context_overflow(status: int, body: str) -> bool:
    """Whether an error response says the request does not fit the context window.

    >>> is_context_overflow(400, '{"error": {"type": "exceed_context_size_error"}}')
    True
    >>> is_context_overflow(400, '{"error": {"message": "bad temperature"}}')
    False
    """
    if status not in (400, 413, 422):
        return False
    lowered = body.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def _provider_message(response: httpx.Response) -> str:
    """The provider's own error message when the body carries one, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return json.dumps(body)[:300]


#: What providers send with: the shared client, or a worker's :class:`TransportSession`.
HTTPSession = httpx.AsyncClient | TransportSession


async def post_json(
    client: HTTPSession,
    url: str,
    *,
    body: dict[str, Any],
    headers: dict[str, str],
    model: str,
    secret: str | None,
    timeout: httpx.Timeout | None = None,
    request_label: str | None = None,
) -> dict[str, Any]:
    """POST ``body`` and return the decoded JSON object, or raise one of our errors.

    Every message is passed through :func:`redact` so that an echoed key never escapes.
    ``request_label`` (e.g. ``"request 3f2a9c1b0d4e (ranking ai_values zh rep 0)"``) is named in a
    :class:`ContextOverflowError`.
    """
    try:
        response = await client.post(
            url, json=body, headers=headers, timeout=timeout or httpx.USE_CLIENT_DEFAULT
        )
    except httpx.TimeoutException as exc:
        raise TransientError(f"timed out ({type(exc).__name__}) on POST {url}", model=model) from exc
    except httpx.TransportError as exc:
        raise TransientError(
            redact(f"connection failed ({type(exc).__name__}: {exc}) on POST {url}", secret), model=model
        ) from exc
    status = response.status_code
    if status >= 400:
        message = redact(_provider_message(response), secret).replace("\n", " ")
        if status == 429:
            raise RateLimitError(message, model=model, retry_after=parse_retry_after(response.headers))
        if status >= 500 or status in _RETRYABLE_4XX:
            raise TransientError(message, model=model, status=status)
        if is_context_overflow(status, response.text):
            raise ContextOverflowError(
                f"{request_label or 'the request'} does not fit the model's context window ({message}); "
                "shorten the prompt or give the model a longer context (llamacpp: options.n_ctx, "
                "shared by options.parallel slots)",
                model=model,
                status=status,
            )
        raise RequestRejectedError(message, model=model, status=status)
    try:
        data = response.json()
    except ValueError as exc:
        raise TransientError(
            f"malformed JSON in the response to POST {url}", model=model, status=status
        ) from exc
    if not isinstance(data, dict):
        raise TransientError(f"response to POST {url} is not a JSON object", model=model, status=status)
    return data


def require(condition: bool, message: str, *, model: str) -> None:
    """A malformed but well-formed-JSON response: transient (a retry usually gets a good one)."""
    if not condition:
        raise TransientError(message, model=model)


__all__ += ["ProviderError", "require"]
