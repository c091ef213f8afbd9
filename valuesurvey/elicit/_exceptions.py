"""Elicitation errors.

::

    ElicitError                     (valuesurvey.errors.ElicitError) anything that stops elicitation
    ├── ProviderNotFoundError       study.yaml names a provider that is not registered
    ├── MissingAPIKeyError          the environment variable that should hold a key is empty
    └── ProviderError               a provider answered badly or not at all (carries model, status)
        ├── RequestRejectedError    a 4xx other than 429: not retried, carries the provider's message
        │   └── ContextOverflowError  the prompt (plus answer) does not fit the model's context window
        ├── RateLimitError          429: retried after ``retry_after`` seconds (or backoff)
        └── TransientError          5xx, timeout, connection error, malformed body: retried

Messages never contain an API key: providers pass every text they quote through
:func:`redact` before raising.
"""

from __future__ import annotations

from valuesurvey.errors import ElicitError

__all__ = [
    "ContextOverflowError",
    "ElicitError",
    "MissingAPIKeyError",
    "ProviderError",
    "ProviderNotFoundError",
    "RateLimitError",
    "RequestRejectedError",
    "TransientError",
    "redact",
]


def redact(text: str, *secrets: str | None) -> str:
    """Replace every occurrence of each secret (and of its long prefixes) in ``text``.

    >>> redact("bad key sk-abcdef123456 (sk-abcdef12…)", "sk-abcdef123456")
    'bad key [REDACTED] ([REDACTED]…)'
    """
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        text = text.replace(secret, "[REDACTED]")
        # Providers often quote a truncated key ("sk-abc...xyz"): mask long prefixes too.
        for cut in range(len(secret) - 1, 7, -1):
            if secret[:cut] in text:
                text = text.replace(secret[:cut], "[REDACTED]")
    return text


class ProviderNotFoundError(ElicitError):
    """No provider is registered under the requested name."""


class MissingAPIKeyError(ElicitError):
    """The environment variable that should hold the API key is not set."""

    def __init__(self, model: str, env_var: str) -> None:
        super().__init__(
            f"model {model!r}: environment variable {env_var} is not set (it must hold the API key)"
        )
        self.model = model
        self.env_var = env_var


class ProviderError(ElicitError):
    """A provider request failed; ``status`` is the HTTP status when there was one."""

    kind = "provider_error"

    def __init__(self, message: str, *, model: str = "?", status: int | None = None) -> None:
        where = f"model {model!r}"
        if status is not None:
            where += f" HTTP {status}"
        super().__init__(f"{where}: {message}")
        self.model = model
        self.status = status
        self.detail = message


class RequestRejectedError(ProviderError):
    """The provider rejected the request (4xx other than 429); retrying would not help."""

    kind = "rejected"


class ContextOverflowError(RequestRejectedError):
    """The request does not fit the model's context window; asking again cannot help.

    The message names the model and the request and says how to make room (``options.n_ctx`` for a
    local llama.cpp server, whose ``parallel`` slots share ``n_ctx``).
    """

    kind = "context_overflow"


class RateLimitError(ProviderError):
    """The provider asked us to slow down (HTTP 429)."""

    kind = "rate_limit"

    def __init__(
        self, message: str, *, model: str = "?", status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, model=model, status=status)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """A failure worth retrying: 5xx, timeout, connection error, malformed or empty response."""

    kind = "transient"
