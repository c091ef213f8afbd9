"""Settings of the elicitation engine (how requests are sent, not what is asked).

What is asked, and with which sampling settings, lives in ``study.yaml``
(:class:`valuesurvey.study.GenerationSettings`); this module holds the transport settings:
timeouts, connection limits, retries and backoff. :class:`ElicitConfig` follows inspect_ai's
``GenerateConfig``: every field is optional, :meth:`ElicitConfig.merge` overlays one on another, and
:meth:`ElicitConfig.resolved` fills the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import httpx

__all__ = ["DEFAULT_CONFIG", "HTTP_TRANSPORTS", "ElicitConfig"]

HTTP_TRANSPORTS = ("asyncio", "httpx")


@dataclass(frozen=True)
class ElicitConfig:
    """Transport settings; ``None`` means "use the default" (see :data:`DEFAULT_CONFIG`).

    >>> ElicitConfig(timeout=5).merge(ElicitConfig(max_retries=2)).resolved().max_retries
    2
    >>> ElicitConfig(timeout=5).merge(ElicitConfig(max_retries=2)).resolved().timeout
    5
    """

    timeout: float | None = None
    """Deadline of one attempt in seconds: connecting, sending and receiving the whole response. A
    server that drips its body slowly is cut at it; the attempt then counts as transient. A model's
    ``options.timeout`` overrides it (and a provider may scale it, see ``Provider.deadline``)."""
    connect_timeout: float | None = None
    """Seconds to wait for a connection (within the deadline)."""
    max_retries: int | None = None
    """Retries after the first attempt for 429, 5xx, timeouts, connection and malformed responses."""
    backoff_base: float | None = None
    """First backoff delay in seconds; doubles on each retry."""
    backoff_cap: float | None = None
    """Largest backoff delay in seconds (also caps a provider's Retry-After)."""
    jitter: float | None = None
    """Fraction of each delay drawn at random (0 = none, 1 = "full jitter")."""
    max_connections: int | None = None
    """Connections in the shared HTTP pool (all models together)."""
    default_concurrency: int | None = None
    """Requests in flight per provider × model when the registry gives no limit."""
    max_consecutive_failures: int | None = None
    """Stop sending a model's requests after this many of them in a row failed after all their
    retries for server-side reasons (transient errors, rate limits): the server is down or broken,
    and every further request would wait through the whole backoff again. Requests the server
    rejected (a 400 for one prompt) do not count."""
    http_transport: str | None = None
    """``asyncio`` (our lean HTTP/1.1 transport, :mod:`valuesurvey.elicit.providers._transport`) or
    ``httpx`` (httpx's default transport: slower, for servers the lean one cannot talk to)."""

    def __post_init__(self) -> None:
        if self.http_transport not in (None, *HTTP_TRANSPORTS):
            raise ValueError(
                f"http_transport must be one of {', '.join(HTTP_TRANSPORTS)}, got {self.http_transport!r}"
            )

    def merge(self, other: ElicitConfig) -> ElicitConfig:
        """Return a copy where the fields set in ``other`` replace ours."""
        changes = {
            f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None
        }
        return replace(self, **changes)

    def resolved(self) -> ElicitConfig:
        """Return a copy with every ``None`` replaced by its default."""
        return DEFAULT_CONFIG.merge(self)

    def httpx_timeout(self) -> httpx.Timeout:
        cfg = self.resolved()
        return httpx.Timeout(cfg.timeout, connect=cfg.connect_timeout)

    def httpx_limits(self) -> httpx.Limits:
        cfg = self.resolved()
        return httpx.Limits(
            max_connections=cfg.max_connections, max_keepalive_connections=cfg.max_connections
        )


DEFAULT_CONFIG = ElicitConfig(
    timeout=60.0,
    connect_timeout=10.0,
    max_retries=6,
    backoff_base=0.5,  # the first retry waits 0.25-0.5 s, as OpenAI's and Anthropic's SDKs (0.5 s, jitter)
    backoff_cap=60.0,
    jitter=0.5,
    max_connections=256,
    default_concurrency=8,
    max_consecutive_failures=10,
    http_transport="asyncio",
)
"""The defaults: patient enough for a slow cloud API (six retries over ~30 s, longer when it says
Retry-After), bounded so a dead one fails in minutes."""
