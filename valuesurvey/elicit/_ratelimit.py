"""Requests-per-minute and tokens-per-minute limiters (asyncio token buckets)."""

from __future__ import annotations

import asyncio
import time

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    """A bucket refilled at ``per_minute / 60`` units per second, holding at most ``burst`` units.

    ``acquire(n)`` waits until ``n`` units are available and takes them. A request larger than the
    bucket is let through when the bucket is full, so a big prompt cannot block forever.
    """

    def __init__(self, per_minute: float, *, burst: float | None = None) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute}")
        self.rate = per_minute / 60.0
        # Default burst: one second's worth, at least one unit, so limits hold over short windows too.
        self.capacity = burst if burst is not None else max(1.0, self.rate)
        self._level = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        async with self._lock:  # FIFO: waiters are served in order
            need = min(amount, self.capacity)
            while True:
                self._refill()
                if self._level >= need:
                    self._level -= amount  # may go negative for oversized requests: repaid by waiting
                    return
                await asyncio.sleep((need - self._level) / self.rate)

    def __repr__(self) -> str:
        return f"TokenBucket(per_minute={self.rate * 60:g}, burst={self.capacity:g})"


class RateLimiter:
    """Both limits of one provider × model; either may be ``None`` (unlimited)."""

    def __init__(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = (
            TokenBucket(tokens_per_minute, burst=max(tokens_per_minute / 60.0, 4096.0))
            if tokens_per_minute
            else None
        )

    async def acquire(self, estimated_tokens: int) -> None:
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)
