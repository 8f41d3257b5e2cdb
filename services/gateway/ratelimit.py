"""Per-key limits, held by each gateway process: token buckets (requests per second) and a cap on
requests in progress (so that no key can hold every upstream connection)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after: int  # until one more request is allowed (0 when allowed)


class _Bucket:
    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now


class RateLimiter:
    """``rate`` requests per second on average, bursts up to ``burst``. A key's own rate (set at
    creation) overrides the default; its burst is then twice its rate."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key_id: str, key_rate: float | None = None) -> Decision:
        now = self._clock()
        rate = key_rate or self.rate
        burst = max(2 * rate, 1.0) if key_rate else float(self.burst)
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[key_id] = _Bucket(rate, burst, now)
        else:
            bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        reset = math.ceil((bucket.burst - bucket.tokens) / rate)
        retry_after = 0 if allowed else max(1, math.ceil((1 - bucket.tokens) / rate))
        return Decision(allowed, int(bucket.burst), int(bucket.tokens), reset, retry_after)


class InflightLimiter:
    """At most ``limit`` requests of one key in progress at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, key_id: str) -> bool:
        count = self._counts.get(key_id, 0)
        if count >= self.limit:
            return False
        self._counts[key_id] = count + 1
        return True

    def release(self, key_id: str) -> None:
        count = self._counts[key_id] - 1
        if count:
            self._counts[key_id] = count
        else:
            del self._counts[key_id]  # the table holds only keys with requests in progress

    def in_progress(self, key_id: str) -> int:
        return self._counts.get(key_id, 0)
