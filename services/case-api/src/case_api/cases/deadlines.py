"""Which deadline a case is held to next. The clock arithmetic itself comes from a `DeadlinePolicy`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from case_api.sla import CaseDeadlines, SlaCalculator

from .models import Case, CaseStatus


class DeadlinePolicy(Protocol):
    def first_response_due(
        self, received_at: datetime, *, category_id: str | None, request_type: str | None
    ) -> datetime: ...

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None, request_type: str | None
    ) -> datetime: ...

    def resumed_due(self, case: Case, *, now: datetime) -> datetime | None:
        """The case's resolution deadline once it stops waiting on the citizen at `now`."""
        ...


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

    def resumed_due(self, case: Case, *, now: datetime) -> datetime | None:
        due, since = case.resolution_due_at, case.waiting_since
        if due is None or since is None or due <= since:
            return due  # a deadline that had passed before the wait stays passed
        return due + (max(now, since) - since)


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


def end_wait(case: Case, policy: DeadlinePolicy, now: datetime) -> dict[str, Any]:
    """Changes that stop a case waiting on the citizen: its resolution deadline moves on by the wait."""
    if case.waiting_since is None:
        return {}
    return {"waiting_since": None, "resolution_due_at": policy.resumed_due(case, now=now)}


def waited(case: Case, now: datetime, *, via: str) -> dict[str, Any]:
    """What a resume event tells other systems: who ended the wait ("citizen" or "staff") and how long it stood."""
    since = case.waiting_since or now
    return {"via": via, "waited_seconds": round((now - since).total_seconds())}


def next_due(case: Case) -> datetime | None:
    """The one deadline the queue sorts by: first response, then the promise or resolution, none once answered."""
    if case.status in (CaseStatus.REPLIED, CaseStatus.CLOSED):
        return None
    if case.first_responded_at is None:
        return case.first_response_due_at
    if case.waiting_since is not None:
        return case.promised_at  # the resolution clock stands still; a date promised to the citizen does not
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

    def resumed_due(self, case: Case, *, now: datetime) -> datetime | None:
        """The calculator's own pause rules (sla.yaml may switch pausing off; a passed deadline is never revived),
        applied to the case's current resolution deadline, which a classification or transfer may have moved."""
        if case.resolution_due_at is None or case.waiting_since is None:
            return case.resolution_due_at
        computed = self._deadlines(case.created_at, case.category_id, case.request_type)
        current = replace(computed, resolution=replace(computed.resolution, due_at=case.resolution_due_at))
        paused = self.calculator.paused(current, at=case.waiting_since)
        return self.calculator.resumed(paused, at=max(now, case.waiting_since)).resolution.due_at
