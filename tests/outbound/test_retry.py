from __future__ import annotations

import pytest

from shared.outbound import RetryPolicy

POLICY = RetryPolicy(max_attempts=4, max_total_s=60.0, initial_s=1.0, max_s=5.0)


@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 2.5, 5.0), (9, 2.5, 5.0)]
)
def test_delays_double_with_jitter_and_are_capped(attempts: int, low: float, high: float) -> None:
    delays = [POLICY.delay(attempts) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high
    assert len(set(delays)) > 1  # jittered


def test_retries_stop_at_the_attempt_limit_or_when_time_runs_out() -> None:
    assert POLICY.may_retry(3, delay=1.0, remaining_s=10.0)
    assert not POLICY.may_retry(4, delay=1.0, remaining_s=10.0)
    assert not POLICY.may_retry(1, delay=2.0, remaining_s=1.5)
