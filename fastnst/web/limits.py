"""Per-client request limits, counted in memory by the site's one process."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    """At most `limit` events per client in any `window` seconds (a sliding window).

    Memory: one timestamp per recent event; clients idle for a window are forgotten.
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def try_acquire(self, client: str, now: float | None = None) -> float:
        """Record an event for `client` and return 0, or return the seconds to wait (> 0)
        before one is allowed, recording nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events[client]
            while events and now - events[0] >= self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1e-3, self.window - (now - events[0]))
            events.append(now)
            if len(self._events) > 10_000:  # drop idle clients now and then
                for key in [k for k, v in self._events.items() if not v]:
                    del self._events[key]
            return 0.0


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
