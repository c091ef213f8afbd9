"""HTTP plumbing shared by the HTTP providers: send, map failures onto our error types."""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from valuesurvey.elicit._exceptions import (
    AuthenticationError,
    ContextOverflowError,
    InvalidURLError,
    ModelNotFoundError,
    NotAnAPIError,
    ProviderError,
    RateLimitError,
    RequestRejectedError,
    TransientError,
    redact,
)

__all__ = [
    "HTTPSession",
    "TransportSession",
    "check_status",
    "decode_object",
    "environment_proxies",
    "header_problem",
    "is_context_overflow",
    "map_transport_errors",
    "parse_retry_after",
    "post_json",
    "url_problem",
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

# 408 (request timeout), 409 (conflict/lock) and 425 are worth retrying (as every 5xx, Anthropic's 529
# "overloaded" included).
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


def _is_html(response: httpx.Response) -> bool:
    if "html" in response.headers.get("content-type", "").lower():
        return True
    start = response.content[:256].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _html_summary(response: httpx.Response) -> str:
    """``an HTML page ('502 Bad Gateway')``: what the page says it is, not its markup."""
    match = re.search(r"<title[^>]*>(.*?)</title>", response.text[:20_000], re.IGNORECASE | re.DOTALL)
    title = " ".join(match.group(1).split())[:120] if match else ""
    return f"an HTML page ({title!r})" if title else "an HTML page"


def _provider_message(response: httpx.Response) -> str:
    """The provider's own error message when the body carries one, else the start of the body."""
    if _is_html(response):
        return f"the server answered with {_html_summary(response)}, not the API's JSON"
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text[:300].split()) or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
    return json.dumps(body)[:300]


def _detail(exc: Exception, url: str) -> str:
    """An exception's text without the request it names (our messages name it once)."""
    text = str(exc) or type(exc).__name__
    for suffix in (f" on POST {url}", f" in the response to POST {url}"):
        text = text.replace(suffix, "")
    return f"{type(exc).__name__}: {text}"


def header_problem(value: str, *, spaces: bool = False) -> str | None:
    """Why ``value`` cannot be sent as an HTTP header value, or ``None`` when it can.

    Only visible ASCII is accepted (and spaces, with ``spaces=True``: an API key has none): a CR or
    LF would end the header and start another (header injection), and HTTP/1.1 has no encoding for
    other characters. Positions are 1-based.

    >>> header_problem("sk-abc123") is None
    True
    >>> header_problem("sk-abc\\r\\nX-Injected: yes")
    'a line break (CR or LF) at position 7'
    >>> header_problem("sk-\\u00e9t\\u00e9")
    'a non-ASCII character at position 4'
    >>> header_problem("sk abc")
    'whitespace at position 3'
    >>> header_problem("a b", spaces=True) is None
    True
    """
    for position, char in enumerate(value, start=1):
        if char in "\r\n":
            return f"a line break (CR or LF) at position {position}"
        if not char.isascii():
            return f"a non-ASCII character at position {position}"
        if char == " " and spaces:
            continue
        if char.isspace():
            return f"whitespace at position {position}"
        if not char.isprintable():
            return f"a control character at position {position}"
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an API's base URL, or ``None`` when it can.

    >>> url_problem("https://api.openai.com/v1") is None
    True
    >>> url_problem("htp://127.0.0.1:8000/v1")
    "the scheme is 'htp', not http or https"
    >>> url_problem("http://127.0.0.1:99999/v1")
    'the port 99999 is not in 1-65535'
    >>> url_problem("localhost:8000/v1")
    "the scheme is 'localhost', not http or https (write http://localhost:8000/v1)"
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return f"it is not a URL ({exc})"
    if parsed.scheme not in ("http", "https"):
        hint = f" (write http://{url})" if parsed.scheme and not url.startswith(f"{parsed.scheme}://") else ""
        return f"the scheme is {parsed.scheme!r}, not http or https{hint}"
    if not parsed.host:
        return "it has no host"
    if "%" in parsed.host or any(ch.isspace() for ch in url):
        return "it contains spaces or characters a host name cannot have"
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return f"the port {parsed.port} is not in 1-65535"
    return None


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

    Every message is passed through :func:`redact` so that an echoed key never escapes, names the
    request once (``POST url``) and fits on one line. ``request_label`` (e.g. ``"request 3f2a9c1b0d4e
    (ranking ai_values zh rep 0)"``) is named in a :class:`ContextOverflowError`.
    """
    with map_transport_errors("POST", url, model=model, secret=secret):
        response = await client.post(
            url, json=body, headers=headers, timeout=timeout or httpx.USE_CLIENT_DEFAULT
        )
    check_status(response, "POST", url, model=model, secret=secret, request_label=request_label)
    return decode_object(response, "POST", url, model=model)


@contextlib.contextmanager
def map_transport_errors(method: str, url: str, *, model: str, secret: str | None) -> Iterator[None]:
    """Turn httpx's exceptions inside the block into ours (``raise ... from``), naming ``METHOD url``."""
    where = f"{method} {url}"
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientError(f"{where}: timed out ({_detail(exc, url)})", model=model) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise InvalidURLError(redact(f"{where}: {_detail(exc, url)}", secret), model=model) from exc
    except httpx.LocalProtocolError as exc:  # a header value h11 refuses to send
        raise RequestRejectedError(
            redact(f"{where}: the request could not be sent ({_detail(exc, url)})", secret), model=model
        ) from exc
    except httpx.TransportError as exc:
        raise TransientError(
            redact(f"{where}: connection failed ({_detail(exc, url)})", secret), model=model
        ) from exc


def check_status(
    response: httpx.Response,
    method: str,
    url: str,
    *,
    model: str,
    secret: str | None,
    request_label: str | None = None,
) -> None:
    """Raise the error an unsuccessful (or HTML) response means; the body must have been read."""
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
        if status in (401, 403):
            raise AuthenticationError(message, model=model, status=status)
        if status == 404:
            raise ModelNotFoundError(
                f"{message} ({method} {url}: check the model's base_url and api_model)",
                model=model,
                status=status,
            )
        raise RequestRejectedError(message, model=model, status=status)
    if _is_html(response):
        raise NotAnAPIError(
            f"{method} {url}: the server answered with {_html_summary(response)}, not the API's JSON; "
            "is base_url the address of the API (usually ending in /v1)?",
            model=model,
            status=status,
        )


def decode_object(response: httpx.Response, method: str, url: str, *, model: str) -> dict[str, Any]:
    """The response's JSON object; a body that is not one is a :class:`TransientError`."""
    status = response.status_code
    try:
        data = response.json()
    except ValueError as exc:
        start = " ".join(response.text[:60].split())
        raise TransientError(
            f"{method} {url}: the response is not JSON ({len(response.content)} bytes starting {start!r})",
            model=model,
            status=status,
        ) from exc
    if not isinstance(data, dict):
        raise TransientError(f"{method} {url}: the response is not a JSON object", model=model, status=status)
    return data


def require(condition: bool, message: str, *, model: str) -> None:
    """A malformed but well-formed-JSON response: transient (a retry usually gets a good one)."""
    if not condition:
        raise TransientError(message, model=model)


__all__ += ["ProviderError", "require"]
