"""Retry decisions and backoff.

Rate limits and transient failures are told apart (inspect_ai's ``RetryDecision``): a 429 waits
for the provider's ``Retry-After`` when it gives one, otherwise both back off exponentially with
jitter and a cap. Any other error (a 4xx, a missing key) is final at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.elicit._exceptions import RateLimitError, TransientError

__all__ = ["RetryDecision", "backoff_delay", "decide"]


@dataclass(frozen=True)
class RetryDecision:
    """Whether to try again, and after how many seconds."""

    retry: bool
    delay: float = 0.0
    reason: str = ""

    @classmethod
    def stop(cls, reason: str) -> RetryDecision:
        return cls(False, 0.0, reason)


def backoff_delay(retry_number: int, config: ElicitConfig, rng: random.Random) -> float:
    """Delay before retry ``retry_number`` (1-based): base·2^(n-1), capped, with jitter.

    >>> cfg = ElicitConfig(backoff_base=1, backoff_cap=10, jitter=0)
    >>> [backoff_delay(n, cfg, random.Random(0)) for n in (1, 2, 3, 4, 5)]
    [1.0, 2.0, 4.0, 8.0, 10.0]
    """
    cfg = config.resolved()
    delay = min(cfg.backoff_cap, cfg.backoff_base * 2 ** (retry_number - 1))
    # Jitter removes a random share of the delay so that many workers do not retry in lockstep.
    return delay * (1 - cfg.jitter * rng.random())


def decide(
    error: BaseException, retry_number: int, config: ElicitConfig, rng: random.Random
) -> RetryDecision:
    """Decide about retry ``retry_number`` (1-based) after ``error``."""
    cfg = config.resolved()
    if retry_number > cfg.max_retries:
        return RetryDecision.stop(f"gave up after {cfg.max_retries} retries")
    if isinstance(error, RateLimitError):
        if error.retry_after is not None:
            return RetryDecision(
                True, min(max(error.retry_after, 0.0), cfg.backoff_cap), "rate limit (Retry-After)"
            )
        return RetryDecision(True, backoff_delay(retry_number, cfg, rng), "rate limit")
    if isinstance(error, TransientError):
        return RetryDecision(True, backoff_delay(retry_number, cfg, rng), "transient")
    return RetryDecision.stop("not retryable")
