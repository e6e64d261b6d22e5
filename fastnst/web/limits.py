"""Per-client request limits: the `limits` library's sliding-window counter, counted in this
process's memory or in Redis (--rate-limit-storage), where every site process using the same
Redis shares one budget."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter


class RateLimiter:
    """At most about `limit` events per client in any `window` seconds.

    The count is limits' sliding-window counter: this window's events plus the previous
    window's, weighted by the share of it the sliding window still covers. Not limits'
    exact moving window: its memory storage keeps an entry for every client it ever saw
    (limits 5.8, measured: 20,000 clients gone idle still held 4.6 MB), while the counter's
    entries expire with their window in memory as in Redis.

    storage: a `limits` storage URI, memory:// (this process only) or
    redis://HOST:PORT/DB (shared by every process that uses it). name: what is counted, so
    that several limiters can share one storage.
    """

    def __init__(self, limit: int, window: int = 60, storage: str = "memory://",
                 name: str = "stylize") -> None:
        self.limit = limit
        self.item = RateLimitItemPerSecond(limit, window)
        self.limiter = SlidingWindowCounterRateLimiter(storage_from_string(storage))
        self.name = name

    def try_acquire(self, client: str) -> float:
        """Record an event for `client` and return 0, or return the seconds to wait (> 0)
        before one is allowed, recording nothing."""
        if self.limiter.hit(self.item, self.name, client):
            return 0.0
        reset = self.limiter.get_window_stats(self.item, self.name, client).reset_time
        return max(1e-3, reset - time.time())


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
