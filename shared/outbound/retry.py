"""How long to wait before trying a transient failure again, and when to stop."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..settings import OutboundSettings


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    max_total_s: float
    initial_s: float
    max_s: float

    @classmethod
    def from_settings(cls, settings: OutboundSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            max_total_s=settings.max_total_s,
            initial_s=settings.backoff_initial_s,
            max_s=settings.backoff_max_s,
        )

    def delay(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt: doubling, capped, with jitter.

        Half fixed, half random ("equal jitter"): replies that failed together during a platform hiccup
        spread out instead of hitting a rate limit again in lockstep.
        """
        base = min(self.max_s, self.initial_s * 2.0 ** max(0, attempts - 1))
        return base / 2 + random.uniform(0, base / 2)

    def may_retry(self, attempts: int, *, delay: float, remaining_s: float) -> bool:
        return attempts < self.max_attempts and delay < remaining_s
