"""Elicitation errors.

::

    ElicitError                     (valuesurvey.errors.ElicitError) anything that stops elicitation
    ├── ProviderNotFoundError       study.yaml names a provider that is not registered
    ├── MissingAPIKeyError          the environment variable that should hold a key is empty
    ├── InvalidAPIKeyError          the key cannot be sent in an HTTP header (CR/LF, non-ASCII, spaces)
    ├── RunInterrupted              SIGTERM or SIGINT stopped the run (exit code 128 + signal)
    └── ProviderError               a provider answered badly or not at all (carries model, status)
        ├── RequestRejectedError    a 4xx other than 429: not retried, carries the provider's message
        │   ├── ContextOverflowError  the prompt (plus answer) does not fit the model's context window
        │   ├── AuthenticationError   401/403: the key is wrong or lacks access      (stops the model)
        │   ├── ModelNotFoundError    404: no such model or endpoint at base_url      (stops the model)
        │   ├── NotAnAPIError         a 2xx HTML page: base_url is a website, not the API (stops the model)
        │   └── ConstraintIgnoredError  the server ignored the answer's constraint (vLLM)  (stops the model)
        ├── InvalidURLError         the URL cannot be requested (scheme, host, port)  (stops the model)
        ├── RateLimitError          429: retried after ``retry_after`` seconds (or backoff)
        └── TransientError          5xx, timeout, connection error, malformed body: retried

``kind`` names the class of a failure in the store (``responses.error_kind``, ``attempts.outcome``)
and in the failure summary of a run; ``stops_model`` marks the errors after which no further request
of that model is sent in the run (every later request would fail the same way, and some cost money).

Messages never contain an API key: providers pass every text they quote through
:func:`redact` before raising.
"""

from __future__ import annotations

from valuesurvey.errors import ElicitError

__all__ = [
    "AuthenticationError",
    "ConstraintIgnoredError",
    "ContextOverflowError",
    "ElicitError",
    "InvalidAPIKeyError",
    "InvalidURLError",
    "MissingAPIKeyError",
    "ModelNotFoundError",
    "NotAnAPIError",
    "ProviderError",
    "ProviderNotFoundError",
    "RateLimitError",
    "RequestRejectedError",
    "RunInterrupted",
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


class InvalidAPIKeyError(ElicitError):
    """The API key in the environment cannot be sent in an HTTP header; the message names the variable
    and the problem, never the key."""

    def __init__(self, model: str, env_var: str, problem: str) -> None:
        super().__init__(
            f"model {model!r}: the API key in environment variable {env_var} cannot be sent in an HTTP "
            f"header: {problem}; set the variable to the bare key"
        )
        self.model = model
        self.env_var = env_var


class RunInterrupted(ElicitError):
    """A signal (SIGTERM, SIGINT) stopped the run; answers stored so far are kept."""

    def __init__(self, signal_name: str, signal_number: int) -> None:
        super().__init__(
            f"interrupted by {signal_name}; completed answers are saved, rerun the command to resume"
        )
        self.signal_name = signal_name
        self.exit_code = 128 + signal_number


class ProviderError(ElicitError):
    """A provider request failed; ``status`` is the HTTP status when there was one."""

    kind = "provider_error"
    stops_model = False

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


class AuthenticationError(RequestRejectedError):
    """401/403: the key is missing, wrong or not allowed to use this model."""

    kind = "auth"
    stops_model = True


class ModelNotFoundError(RequestRejectedError):
    """404: the API model or the endpoint does not exist at this base URL."""

    kind = "not_found"
    stops_model = True


class NotAnAPIError(RequestRejectedError):
    """A successful status with an HTML page instead of the API's JSON: base_url is not the API."""

    kind = "html"
    stops_model = True


class ConstraintIgnoredError(RequestRejectedError):
    """The server answered outside the constraint it was sent (a vLLM that does not know the field
    answers unconstrained), or cannot honour it (its version): constrained mode would not be what it
    says."""

    kind = "constraint_ignored"
    stops_model = True


class InvalidURLError(ProviderError):
    """The request URL cannot be requested at all (unsupported scheme, no host, invalid port)."""

    kind = "invalid_url"
    stops_model = True


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
