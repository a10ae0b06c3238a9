"""Topic names. A deployment (or a test) may prefix them all, so several stacks can share one broker."""

from __future__ import annotations

from dataclasses import dataclass

INBOX_MESSAGES = "inbox.messages.v1"
INBOX_ROUTED = "inbox.routed.v1"
CASE_EVENTS = "case.events.v1"
OUTBOUND_REPLIES = "outbound.replies.v1"
OUTBOUND_RECEIPTS = "outbound.receipts.v1"
DLQ_SUFFIX = ".dlq"  # `<topic>.dlq`: records a consumer could not parse or process, with the reason in headers

ALL_TOPICS = (INBOX_MESSAGES, INBOX_ROUTED, CASE_EVENTS, OUTBOUND_REPLIES, OUTBOUND_RECEIPTS)
CONSUMED_TOPICS = (INBOX_MESSAGES, INBOX_ROUTED, CASE_EVENTS, OUTBOUND_REPLIES, OUTBOUND_RECEIPTS)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


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

    def all(self) -> list[str]:
        """Every topic including the dead-letter topics of those we consume."""
        return [self._name(t) for t in ALL_TOPICS] + [dead_letter_topic(self._name(t)) for t in CONSUMED_TOPICS]
