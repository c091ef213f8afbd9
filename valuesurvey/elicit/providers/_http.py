"""HTTP plumbing shared by the HTTP providers: send, map failures onto our error types."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from valuesurvey.elicit._exceptions import (
    ProviderError,
    RateLimitError,
    RequestRejectedError,
    TransientError,
    redact,
)

__all__ = ["parse_retry_after", "post_json"]

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


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    body: dict[str, Any],
    headers: dict[str, str],
    model: str,
    secret: str | None,
    timeout: httpx.Timeout | None = None,
) -> dict[str, Any]:
    """POST ``body`` and return the decoded JSON object, or raise one of our errors.

    Every message is passed through :func:`redact` so that an echoed key never escapes.
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
