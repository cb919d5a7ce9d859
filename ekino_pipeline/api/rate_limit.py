"""Per-key rate limits: a token bucket per key (or per client address without a key).

A bucket holds up to a minute's allowance and refills continuously, so a client may burst to its limit
and then keeps to it on average. An empty bucket answers 429 with `Retry-After`: the whole seconds until
one request is allowed again. Buckets live in the server's memory (one process serves the API).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

# Anonymous clients share nothing: each address has its own bucket of this many requests a minute.
ANONYMOUS_RATE_PER_MINUTE = 60
MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # who -> (tokens, at)

    def take(self, who: str, rate_per_minute: int) -> float:
        """0 when the request may go; else the seconds to wait before the next one may."""
        now = self._clock()
        per_second = rate_per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.pop(who, (float(rate_per_minute), now))
            tokens = min(float(rate_per_minute), tokens + (now - at) * per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / per_second
            self._buckets[who] = (tokens, now)
            if len(self._buckets) > MAX_BUCKETS:  # the least recently seen go first: they are full again
                self._buckets.popitem(last=False)
            return wait


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
