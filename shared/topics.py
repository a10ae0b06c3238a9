"""Topic names. A deployment (or a test) may prefix them all, so several stacks can share one broker."""

from __future__ import annotations

from dataclasses import dataclass

INBOX_MESSAGES = "inbox.messages.v1"
INBOX_ROUTED = "inbox.routed.v1"
CASE_EVENTS = "case.events.v1"
OUTBOUND_REPLIES = "outbound.replies.v1"
OUTBOUND_RECEIPTS = "outbound.receipts.v1"
DEAD_LETTER = "inbox.deadletter.v1"  # records a consumer could not parse, with the reason in headers

ALL_TOPICS = (INBOX_MESSAGES, INBOX_ROUTED, CASE_EVENTS, OUTBOUND_REPLIES, OUTBOUND_RECEIPTS, DEAD_LETTER)


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def inbox_messages(self) -> str:
        return self._name(INBOX_MESSAGES)

    @property
    def inbox_routed(self) -> str:
        return self._name(INBOX_ROUTED)

    @property
    def case_events(self) -> str:
        return self._name(CASE_EVENTS)

    @property
    def outbound_replies(self) -> str:
        return self._name(OUTBOUND_REPLIES)

    @property
    def outbound_receipts(self) -> str:
        return self._name(OUTBOUND_RECEIPTS)

    @property
    def dead_letter(self) -> str:
        return self._name(DEAD_LETTER)

    def all(self) -> list[str]:
        return [self._name(t) for t in ALL_TOPICS]
