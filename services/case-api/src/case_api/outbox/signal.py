""" "This process committed outbox rows": wakes the publisher and every live queue at once.

An asyncio.Event that each waiter cleared would wake whoever looked first and leave the rest to their poll. Here
each waiter takes the event that is current *before* it reads the outbox and waits on that one, so a commit
between its read and its wait is never slept through, and one `set()` wakes every waiter.
"""

from __future__ import annotations

import asyncio
import contextlib


class OutboxSignal:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def armed(self) -> asyncio.Event:
        """Take before reading the outbox; wait on it afterwards with `wait`."""
        return self._event

    @staticmethod
    async def wait(armed: asyncio.Event, timeout: float) -> None:
        """Until a commit after `armed` was taken, or `timeout` (other replicas' commits are found by polling)."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation, and the publisher or
        # a stream would then outlive its shutdown.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await armed.wait()
