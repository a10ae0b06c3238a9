"""Which deadline a case is held to next. The clock arithmetic itself comes from a `DeadlinePolicy`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from case_api.sla import CaseDeadlines, Clock, Deadline, DeadlineKind, PromiseError, SlaCalculator

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

    def reclassified_due(
        self, case: Case, *, category_id: str | None, request_type: str | None, now: datetime
    ) -> datetime | None:
        """The case's resolution deadline once it is classified (or its classification corrected) at `now`."""
        ...

    def promised_due(
        self, case: Case, *, promised_at: datetime, now: datetime, reopened_at: datetime | None = None
    ) -> datetime | None:
        """The case's resolution deadline once an interim reply promises `promised_at`; raises PromiseError when
        the date is not in the future or later than the policy allows. `reopened_at`: when a reopened case was last
        reopened, where its resolution period, and so the limit on a promise, starts."""
        ...

    def transferred_due(self, case: Case, *, now: datetime) -> datetime | None:
        """The case's resolution deadline once it is passed to another department at `now`."""
        ...

    def warn_at(
        self, due: datetime | None, *, now: datetime, category_id: str | None, request_type: str | None
    ) -> datetime | None:
        """When a deadline at `due`, pending from `now`, becomes due soon."""
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

    def reclassified_due(
        self, case: Case, *, category_id: str | None = None, request_type: str | None = None, now: datetime
    ) -> datetime | None:
        return case.resolution_due_at  # one period for every category: nothing to apply

    def promised_due(
        self, case: Case, *, promised_at: datetime, now: datetime, reopened_at: datetime | None = None
    ) -> datetime | None:
        if promised_at <= now:
            raise PromiseError(f"the promised deadline {promised_at.isoformat()} is not in the future")
        return case.resolution_due_at

    def transferred_due(self, case: Case, *, now: datetime) -> datetime | None:
        return case.resolution_due_at

    def warn_at(
        self, due: datetime | None, *, now: datetime, category_id: str | None = None, request_type: str | None = None
    ) -> datetime | None:
        return warn_time(due, now)


def _utc(moment: datetime) -> datetime:
    """Deadlines leave the calendar (Beijing time) in UTC, as the database gives them back: an API answer shows
    the same instant the same way whether it was computed just now or read."""
    return moment.astimezone(UTC)


WARN_SHARE = 0.8  # a deadline is "due soon" once this share of the time to it has passed


def warn_time(due: datetime | None, now: datetime) -> datetime | None:
    if due is None or due <= now:
        return due
    return now + (due - now) * WARN_SHARE


def reschedule(case: Case, now: datetime, policy: DeadlinePolicy | None = None) -> None:
    """Point the case at its next deadline; a new deadline starts out `ok` (the breach history stays), even when
    it has already passed: the sweeper then announces that breach too, once (the first response answered late
    after the resolution deadline went by is two breaches, not one)."""
    due = next_due(case)
    if due == case.due_at:
        return
    case.due_at = due
    if policy is None:  # nothing that moves a deadline comes without its policy; this is the plain fallback
        case.warn_at = warn_time(due, now)
    else:
        category, request_type = case.category_id or case.proposed_category_id, case.request_type
        case.warn_at = policy.warn_at(
            due, now=now, category_id=category, request_type=request_type or case.proposed_request_type
        )
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
    # A promise is a deadline of its own (sla.yaml: promise): it never hides a resolution deadline that falls first.
    return min((d for d in (case.promised_at, case.resolution_due_at) if d is not None), default=None)


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
        return _utc(self._deadlines(received_at, category_id, request_type).first_response.due_at)

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return _utc(self._deadlines(received_at, category_id, request_type).resolution.due_at)

    def _current(self, case: Case, *, as_proposed: bool = False, reopened_at: datetime | None = None) -> CaseDeadlines:
        """The calculator's deadlines for the case with its current resolution deadline, which a classification,
        transfer, wait or reopening may have moved. `as_proposed`: a case not classified yet is held to what intake
        set from the router's proposal. `reopened_at`: the resolution period started again then."""
        category, request_type = case.category_id, case.request_type
        if as_proposed:
            category = category or case.proposed_category_id
            request_type = request_type or case.proposed_request_type
        computed = self._deadlines(case.created_at, category, request_type)
        if reopened_at is not None:
            computed = self.calculator.reopened(computed, at=reopened_at)
        if case.resolution_due_at is None:
            return computed
        return replace(computed, resolution=replace(computed.resolution, due_at=case.resolution_due_at))

    def resumed_due(self, case: Case, *, now: datetime) -> datetime | None:
        """The calculator's own pause rules (sla.yaml may switch pausing off; a passed deadline is never revived)."""
        if case.resolution_due_at is None or case.waiting_since is None:
            return case.resolution_due_at
        paused = self.calculator.paused(self._current(case), at=case.waiting_since)
        return _utc(self.calculator.resumed(paused, at=max(now, case.waiting_since)).resolution.due_at)

    def reclassified_due(
        self, case: Case, *, category_id: str | None = None, request_type: str | None = None, now: datetime
    ) -> datetime | None:
        """The calculator's reclassification rules: the new policy's period from receipt, keeping any extension the
        deadline had; a deadline already passed stays passed, and one the new policy would put before `now` is not
        applied (nobody could have kept it)."""
        current = self._current(case, as_proposed=True)
        moved = self.calculator.reclassified(current, category=category_id, request_type=request_type, at=now)
        return _utc(moved.resolution.due_at)

    def promised_due(
        self, case: Case, *, promised_at: datetime, now: datetime, reopened_at: datetime | None = None
    ) -> datetime | None:
        """The policy's promise rules: how late a promise may be (counted from receipt or `reopened_at` and moved
        on with the resolution deadline), and whether it extends the resolution deadline."""
        # Without `reopened_at`, a reopened case's new period counts as the first one moved on.
        current = self._current(case, reopened_at=reopened_at if case.reopen_count else None)
        if case.promised_at is not None:  # the standing promise, as far as the case keeps it
            promise = Deadline(DeadlineKind.PROMISE, now, case.promised_at, case.promised_at, Clock.WALL, "promised")
            current = replace(current, promise=promise)
        return _utc(self.calculator.promised(current, promised_at=promised_at, now=now).resolution.due_at)

    def warn_at(
        self, due: datetime | None, *, now: datetime, category_id: str | None = None, request_type: str | None = None
    ) -> datetime | None:
        """sla.yaml's `warn_when_used` share of the time left, on the working clock when any working time is left
        (a Friday-evening message due Monday 09:30 is due soon at 09:18, not on Sunday), else on the wall clock
        (the 8 hours of a message on a rest day)."""
        if due is None or due <= now:
            return due
        _, policy = self.calculator.policy_for(category_id, request_type)
        calendar = self.calculator.calendar
        budget = calendar.working_time_between(now, due)
        if budget > timedelta():
            return _utc(calendar.add_working_time(now, budget * policy.warn_when_used))
        return _utc(now + (due - now) * policy.warn_when_used)

    def transferred_due(self, case: Case, *, now: datetime) -> datetime | None:
        """The policy's transfer rules (sla.yaml: transfer): keep the citizen's deadline, restart it for the
        receiving department, or leave that department a minimum; a deadline already passed stays passed."""
        if case.resolution_due_at is None:
            return None
        return _utc(self.calculator.transferred(self._current(case), at=now).resolution.due_at)
