"""A token bucket per key: steady rate plus a burst, no background task, O(1) per request."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, bucket: _Bucket) -> _Bucket:
        now = time.monotonic()
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        return bucket

    def peek(self, key: str) -> float:
        """0 when a token is there (none is used); otherwise the seconds until there is one."""
        bucket = self._buckets.get(key)
        if bucket is None:  # never charged: full, and no bucket is made for a look
            return 0.0
        tokens = self._refilled(bucket).tokens
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def charge(self, key: str) -> None:
        """Use a token, even one not there yet: requests let in together by `peek` are all paid for, and the
        debt delays the next ones, so the long-run rate holds."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), time.monotonic())
        self._refilled(bucket).tokens -= 1

    def take(self, key: str) -> float:
        """0 when allowed (a token is used); otherwise the seconds until the next token."""
        wait = self.peek(key)
        if not wait:
            self.charge(key)
        return wait
