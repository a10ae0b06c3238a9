"""Which deadline a case is held to next. The clock arithmetic itself comes from a `DeadlinePolicy`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from case_api.sla import CaseDeadlines, SlaCalculator

from .models import Case, CaseStatus


class DeadlinePolicy(Protocol):
    def first_response_due(
        self, received_at: datetime, *, category_id: str | None, request_type: str | None
    ) -> datetime: ...

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None, request_type: str | None
    ) -> datetime: ...


@dataclass(frozen=True)
class WallClockPolicy:
    """Plain elapsed time, for tests that need round numbers; services use `CalendarPolicy`."""

    first_response: timedelta
    resolution: timedelta

    def first_response_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return received_at + self.first_response

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return received_at + self.resolution


WARN_SHARE = 0.8  # a deadline is "due soon" once this share of the time to it has passed


def warn_time(due: datetime | None, now: datetime) -> datetime | None:
    if due is None or due <= now:
        return due
    return now + (due - now) * WARN_SHARE


def reschedule(case: Case, now: datetime) -> None:
    """Point the case at its next deadline; a new deadline starts out `ok` (the breach history stays)."""
    due = next_due(case)
    if due == case.due_at:
        return
    case.due_at = due
    case.warn_at = warn_time(due, now)
    if due is None or due > now:
        case.sla_state = "ok"


def next_due(case: Case) -> datetime | None:
    """The one deadline the queue sorts by: first response, then the promise or resolution, none once answered."""
    if case.status in (CaseStatus.REPLIED, CaseStatus.CLOSED):
        return None
    if case.first_responded_at is None:
        return case.first_response_due_at
    return case.promised_at or case.resolution_due_at


@dataclass(frozen=True)
class CalendarPolicy:
    """Deadlines on the Chinese business calendar and the SLA policies in config/sla.yaml (case_api.sla)."""

    calculator: SlaCalculator
    # A new case asks for both deadlines of the same message in a row, and the calendar arithmetic was a fifth of
    # intake's time (benchmarks/NOTES.md): keep the last results. Pure: the calculator never changes.
    _recent: dict[tuple[datetime, str | None, str | None], CaseDeadlines] = field(
        default_factory=dict, compare=False, repr=False
    )

    def _deadlines(self, received_at: datetime, category_id: str | None, request_type: str | None) -> CaseDeadlines:
        key = (received_at, category_id, request_type)
        found = self._recent.get(key)
        if found is None:
            if len(self._recent) >= 1024:
                self._recent.clear()
            found = self._recent[key] = self.calculator.deadlines(
                received_at=received_at, category=category_id, request_type=request_type
            )
        return found

    def first_response_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return self._deadlines(received_at, category_id, request_type).first_response.due_at

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return self._deadlines(received_at, category_id, request_type).resolution.due_at
