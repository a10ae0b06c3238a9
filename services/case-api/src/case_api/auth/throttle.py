"""Guessing throttles: after a few wrong passwords for one user name from one address, or a few wrong tracking codes
from one address, wait before the next try.

Per process (each replica counts its own); a deployment behind several replicas should also limit at its proxy.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque

from fastapi import HTTPException


class LoginThrottle:
    def __init__(self, *, max_failures: int = 5, window_s: float = 300.0, capacity: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._capacity = capacity
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def refuse_while_throttled(self, key: str, what: str) -> None:
        """429 with Retry-After while `key` has had too many failures."""
        if wait := self.retry_after(key):
            raise HTTPException(429, f"{what}; try again in {wait} s", headers={"Retry-After": str(wait)})

    def retry_after(self, key: str) -> int:
        """Seconds to wait before trying again; 0 when a try is allowed."""
        now = time.monotonic()
        failures = self._recent(key, now)
        if len(failures) < self.max_failures:
            return 0
        return max(1, int(failures[0] + self.window_s - now) + 1)

    def failed(self, key: str) -> None:
        self._recent(key, time.monotonic()).append(time.monotonic())
        self._failures.move_to_end(key)
        while len(self._failures) > self._capacity:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
