"""A case's deadlines: computed when it is received, moved by what happens to it, and reported against the clock.

All functions are pure. The case lifecycle calls `SlaCalculator.deadlines()` when a case is opened and the
`reclassified / transferred / paused / resumed / promised / reopened` functions at the matching transitions, stores
the result (`CaseDeadlines.to_dict()` as JSON, plus the due instants in indexed columns), and calls `report()` to
show a case or to sweep. Deadlines are stored rather than recomputed from the policy file, so editing the policy
changes new cases and never rewrites the history the statistics are built on.

One rule holds throughout: a deadline that has passed is history. No transfer, pause or promise made after a
deadline moves it, so passing a late case on, or promising something late, never turns a breach into "met".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .calendar import BusinessCalendar
from .policy import Clock, Policy, SlaPolicies, load_policies

if TYPE_CHECKING:
    from collections.abc import Collection

    from .settings import SlaSettings


class DeadlineKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"
    PROMISE = "promise"  # the date an interim reply promised the citizen


class DeadlineState(StrEnum):
    PENDING = "pending"
    MET = "met"
    BREACHED = "breached"  # done late, or not done and past due
    PAUSED = "paused"  # waiting on the citizen; the clock stands still


class PromiseError(ValueError):
    """An interim reply's promised deadline is not acceptable under the policy; the message says why."""


_PAUSED_NOTE = "plus time waiting on the citizen"


def _utc(t: datetime, what: str = "datetime") -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} {t.isoformat()} has no time zone; pass an aware datetime")
    return t.astimezone(UTC)


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    started_at: datetime  # when its clock started
    due_at: datetime
    warn_at: datetime  # from here on it is due soon
    clock: Clock  # which clock its time is counted on, for "time left"
    rule: str  # how it was set, for people: "1 working hour (arrived in working time)"

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "started_at": self.started_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "warn_at": self.warn_at.isoformat(),
            "clock": self.clock.value,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Deadline:
        return cls(
            kind=DeadlineKind(data["kind"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            due_at=datetime.fromisoformat(data["due_at"]),
            warn_at=datetime.fromisoformat(data["warn_at"]),
            clock=Clock(data["clock"]),
            rule=data["rule"],
        )


@dataclass(frozen=True)
class CaseDeadlines:
    """Everything the SLA needs to remember about one case."""

    received_at: datetime
    category: str | None
    request_type: str | None
    policy_key: str
    policy_version: str
    arrived_in_working_time: bool
    first_response: Deadline
    resolution: Deadline
    promise: Deadline | None = None
    paused_since: datetime | None = None  # waiting on the citizen since
    promises_broken: int = 0  # promises replaced or left standing after their date passed unresolved

    def to_dict(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "category": self.category,
            "request_type": self.request_type,
            "policy_key": self.policy_key,
            "policy_version": self.policy_version,
            "arrived_in_working_time": self.arrived_in_working_time,
            "first_response": self.first_response.to_dict(),
            "resolution": self.resolution.to_dict(),
            "promise": self.promise.to_dict() if self.promise else None,
            "paused_since": self.paused_since.isoformat() if self.paused_since else None,
            "promises_broken": self.promises_broken,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseDeadlines:
        return cls(
            received_at=datetime.fromisoformat(data["received_at"]),
            category=data["category"],
            request_type=data["request_type"],
            policy_key=data["policy_key"],
            policy_version=data["policy_version"],
            arrived_in_working_time=data["arrived_in_working_time"],
            first_response=Deadline.from_dict(data["first_response"]),
            resolution=Deadline.from_dict(data["resolution"]),
            promise=Deadline.from_dict(data["promise"]) if data.get("promise") else None,
            paused_since=datetime.fromisoformat(data["paused_since"]) if data.get("paused_since") else None,
            promises_broken=int(data.get("promises_broken", 0)),
        )


@dataclass(frozen=True)
class DeadlineStatus:
    deadline: Deadline
    done_at: datetime | None
    state: DeadlineState
    due_soon: bool  # pending and past its warning point
    # To the deadline from now (or from completion, or from the start of a pause): negative once it has passed.
    time_left: timedelta  # wall clock
    working_time_left: timedelta  # working time

    @property
    def kind(self) -> DeadlineKind:
        return self.deadline.kind

    @property
    def due_at(self) -> datetime:
        return self.deadline.due_at

    @property
    def overdue(self) -> bool:
        """Past due and still not done: what the sweeper escalates and what "overdue now" counts."""
        return self.state is DeadlineState.BREACHED and self.done_at is None

    @property
    def left(self) -> timedelta:
        """Time left on the deadline's own clock: the figure to show next to it."""
        return self.working_time_left if self.deadline.clock is Clock.WORKING else self.time_left


@dataclass(frozen=True)
class SlaReport:
    policy_key: str
    first_response: DeadlineStatus
    resolution: DeadlineStatus
    promise: DeadlineStatus | None

    @property
    def statuses(self) -> tuple[DeadlineStatus, ...]:
        return tuple(s for s in (self.first_response, self.resolution, self.promise) if s is not None)

    @property
    def next_due_at(self) -> datetime | None:
        """The earliest deadline still running (overdue ones included): what the queue sorts on (`Case.due_at`)."""
        running = [s.due_at for s in self.statuses if s.done_at is None and s.state is not DeadlineState.PAUSED]
        return min(running, default=None)

    @property
    def overdue(self) -> tuple[DeadlineKind, ...]:
        return tuple(s.kind for s in self.statuses if s.overdue)

    @property
    def due_soon(self) -> tuple[DeadlineKind, ...]:
        return tuple(s.kind for s in self.statuses if s.due_soon)


class SlaCalculator:
    """Deadlines for cases under one business calendar and one set of policies."""

    def __init__(self, *, calendar: BusinessCalendar, policies: SlaPolicies) -> None:
        self.calendar = calendar
        self.policies = policies

    @classmethod
    def from_settings(
        cls,
        settings: SlaSettings,
        *,
        categories: Collection[str] | None = None,
        request_types: Collection[str] | None = None,
    ) -> SlaCalculator:
        return cls(
            calendar=BusinessCalendar.from_settings(settings),
            policies=load_policies(settings.policy_file, categories=categories, request_types=request_types),
        )

    def policy_for(self, category: str | None, request_type: str | None) -> tuple[str, Policy]:
        return self.policies.policy_for(category, request_type)

    # --- building deadlines ---

    def _deadline(
        self, kind: DeadlineKind, *, start: datetime, due: datetime, clock: Clock, rule: str, policy: Policy
    ) -> Deadline:
        share = policy.warn_when_used
        if clock is Clock.WALL:
            warn = (_utc(start) + (_utc(due) - _utc(start)) * share).astimezone(self.calendar.tz)
        else:
            budget = self.calendar.working_time_between(start, due)
            warn = self.calendar.add_working_time(start, max(budget, timedelta()) * share)
        local = self.calendar.tz
        return Deadline(kind, _utc(start).astimezone(local), due.astimezone(local), warn, clock, rule)

    def _first_response(self, received_at: datetime, policy: Policy) -> tuple[bool, Deadline]:
        rules = policy.first_response
        normal, other = rules.in_working_time, rules.outside_working_time
        in_hours = self.calendar.is_working_time(received_at)
        normal_due = normal.after(self.calendar, received_at)
        # The first moment before the working-time deadline at which the out-of-hours rule applies: arrival itself
        # for a message that arrives out of hours, or when the working time runs out (closing time, a day off).
        if rules.outside_rule_applies == "outside_working_time":
            switch, off = self.calendar.first_time_off(received_at, normal_due), "time outside working hours"
        else:
            switch, off = self.calendar.first_day_off(received_at, normal_due), "a day off"
        applies_at_arrival = switch is not None and _utc(switch) == _utc(received_at)
        if in_hours:
            arrived = "arrived in working time"
        elif applies_at_arrival:
            arrived = "arrived outside working time"
        else:
            arrived = "arrived outside working hours of a working day"
        due, clock, rule = normal_due, normal.clock, f"{normal} ({arrived})"
        if switch is not None:
            other_due = other.after(self.calendar, switch)
            if applies_at_arrival:
                # Never later than the working-time rule: a message at 08:50 or during lunch is not given more
                # time than one that arrives at opening; only nights and days off get the out-of-hours deadline.
                if other_due <= normal_due:
                    due, clock, rule = other_due, other.clock, f"{other} ({arrived})"
                else:
                    rule = f"{normal} ({arrived}; earlier than {other})"
            elif other_due < normal_due:
                # The working hour would run on into the night or over a holiday: the out-of-hours rule, counted
                # from when it starts to apply, caps it, so a later message is never due earlier than this one.
                due, clock = other_due, other.clock
                start = f"{switch.astimezone(self.calendar.tz):%Y-%m-%d %H:%M}"
                rule = f"{other} from {start} ({arrived}; capped: {normal} runs into {off})"
        return in_hours, self._deadline(
            DeadlineKind.FIRST_RESPONSE, start=received_at, due=due, clock=clock, rule=rule, policy=policy
        )

    def _resolution(self, start: datetime, policy: Policy, *, why: str) -> Deadline:
        span = policy.resolution
        return self._deadline(
            DeadlineKind.RESOLUTION,
            start=start,
            due=span.after(self.calendar, start),
            clock=span.clock,
            rule=f"{span} {why}",
            policy=policy,
        )

    def deadlines(self, *, received_at: datetime, category: str | None, request_type: str | None) -> CaseDeadlines:
        """A new case's deadlines, from when its first message was received and how it is classified."""
        _utc(received_at, "received_at")
        key, policy = self.policy_for(category, request_type)
        in_hours, first = self._first_response(received_at, policy)
        return CaseDeadlines(
            received_at=received_at.astimezone(self.calendar.tz),
            category=category,
            request_type=request_type,
            policy_key=key,
            policy_version=self.policies.version,
            arrived_in_working_time=in_hours,
            first_response=first,
            resolution=self._resolution(received_at, policy, why="from receipt"),
        )

    # --- what happens to a case ---

    def reclassified(
        self, d: CaseDeadlines, *, category: str | None, request_type: str | None, at: datetime
    ) -> CaseDeadlines:
        """An operator corrected the category or request type at `at`: deadlines under the new policy.

        Each deadline still running is recomputed from when its clock started, and keeps any extension it had
        (time waiting on the citizen, a late transfer, a promise); one that has already passed stays as it was, and
        so does one that the new policy would put before `at`: nobody could have kept it.
        """
        _utc(at, "at")
        _, old = self.policy_for(d.category, d.request_type)
        key, new = self.policy_for(category, request_type)
        first = d.first_response
        if _utc(at) <= _utc(first.due_at):
            _, recomputed = self._first_response(d.received_at, new)
            if _utc(recomputed.due_at) >= _utc(at):
                first = recomputed
        resolution = d.resolution
        if _utc(at) <= _utc(resolution.due_at):
            base = old.resolution.after(self.calendar, resolution.started_at)
            fresh = new.resolution.after(self.calendar, resolution.started_at)
            if resolution.clock is Clock.WORKING and new.resolution.clock is Clock.WORKING:
                extra = max(self.calendar.working_time_between(base, resolution.due_at), timedelta())
                due = self.calendar.add_working_time(fresh, extra)
            else:
                extra = max(_utc(resolution.due_at) - _utc(base), timedelta())
                due = (_utc(fresh) + extra).astimezone(self.calendar.tz)
            old_text = str(old.resolution)
            why = resolution.rule[len(old_text) :] if resolution.rule.startswith(old_text) else " (reclassified)"
            if _utc(due) >= _utc(at):
                resolution = self._deadline(
                    DeadlineKind.RESOLUTION,
                    start=resolution.started_at,
                    due=due,
                    clock=new.resolution.clock,
                    rule=f"{new.resolution}{why}",  # "… from receipt; plus time waiting on the citizen"
                    policy=new,
                )
        return replace(
            d,
            category=category,
            request_type=request_type,
            policy_key=key,
            policy_version=self.policies.version,
            first_response=first,
            resolution=resolution,
        )

    def transferred(self, d: CaseDeadlines, *, at: datetime) -> CaseDeadlines:
        """The case was passed to another department at `at` (policy `transfer`)."""
        _, policy = self.policy_for(d.category, d.request_type)
        current = d.resolution
        if _utc(at, "at") > _utc(current.due_at):
            return d  # already overdue: the breach stands
        rules = policy.transfer
        if rules.resolution == "restart":
            restarted = self._resolution(at, policy, why="from the transfer")
            if restarted.due_at <= current.due_at:
                return d
            return replace(d, resolution=restarted)
        if rules.min_remaining is not None:
            floor = rules.min_remaining.after(self.calendar, at)
            if floor > current.due_at:
                moved = self._deadline(
                    DeadlineKind.RESOLUTION,
                    start=current.started_at,
                    due=floor,
                    clock=current.clock,
                    rule=f"{current.rule}; moved to leave {rules.min_remaining} after a late transfer",
                    policy=policy,
                )
                return replace(d, resolution=moved)
        return d

    def paused(self, d: CaseDeadlines, *, at: datetime) -> CaseDeadlines:
        """The case now waits on the citizen (details, documents): the resolution clock stops if the policy says so."""
        _, policy = self.policy_for(d.category, d.request_type)
        if not policy.pause_while_waiting_on_citizen or d.paused_since is not None:
            return d
        if _utc(at, "at") >= _utc(d.resolution.due_at):
            return d  # too late to stop a clock that has run out
        return replace(d, paused_since=at.astimezone(self.calendar.tz))

    def resumed(self, d: CaseDeadlines, *, at: datetime) -> CaseDeadlines:
        """The citizen answered at `at`: the resolution deadline moves on by the time the clock stood still."""
        if d.paused_since is None:
            return d
        since, until = _utc(d.paused_since), max(_utc(at, "at"), _utc(d.paused_since))
        current = d.resolution

        def shifted(moment: datetime) -> datetime:
            if _utc(moment) <= since:
                return moment
            if current.clock is Clock.WALL:
                return (until + (_utc(moment) - since)).astimezone(self.calendar.tz)
            return self.calendar.add_working_time(until, self.calendar.working_time_between(since, moment))

        moved = replace(
            current,
            due_at=shifted(current.due_at),
            warn_at=shifted(current.warn_at),
            rule=current.rule if _PAUSED_NOTE in current.rule else f"{current.rule}; {_PAUSED_NOTE}",
        )
        return replace(d, resolution=moved, paused_since=None)

    def _promise_limit(self, d: CaseDeadlines, policy: Policy) -> tuple[datetime, str] | None:
        """The latest date an interim reply may promise, and how it was counted (for the refusal); None: no limit.

        The limit runs from when the resolution clock started (receipt, a reopening, a restarting transfer) and
        moves on as far as the resolution deadline has moved since (time waiting on the citizen, a late transfer):
        a case that stood still waiting on the citizen can still promise a date. Not while a promise stands that
        may have moved the resolution deadline to itself (`extends_resolution`): each promise would gain the whole
        limit again. Promising the date the case is due anyway is always allowed.
        """
        limit = policy.promise.limit
        if limit is None:
            return None
        resolution, local = d.resolution, self.calendar.tz
        latest = limit.after(self.calendar, resolution.started_at)
        start = resolution.started_at.astimezone(local)
        since = "after receipt" if start == d.received_at else f"from {start:%Y-%m-%d %H:%M}"
        counted = f"{limit} {since}"
        if not (policy.promise.extends_resolution and d.promise is not None):
            unmoved = policy.resolution.after(self.calendar, resolution.started_at)
            if limit.clock is Clock.WORKING and resolution.clock is Clock.WORKING:
                extra = max(self.calendar.working_time_between(unmoved, resolution.due_at), timedelta())
                latest = self.calendar.add_working_time(latest, extra) if extra else latest
            else:
                extra = max(_utc(resolution.due_at) - _utc(unmoved), timedelta())
                latest = (_utc(latest) + extra).astimezone(local)
            if extra:
                counted += ", moved on as far as the resolution deadline was"
        if _utc(resolution.due_at) > _utc(latest):
            return resolution.due_at.astimezone(local), "the case's resolution deadline"
        return latest, counted

    def promised(self, d: CaseDeadlines, *, promised_at: datetime, now: datetime) -> CaseDeadlines:
        """An interim reply promised the citizen an answer by `promised_at` (Nanhai's "answer first, with a date").

        Raises PromiseError when the date is not in the future or is later than the policy allows.
        """
        _, policy = self.policy_for(d.category, d.request_type)
        if _utc(promised_at, "promised_at") <= _utc(now, "now"):
            raise PromiseError(f"the promised deadline {promised_at.isoformat()} is not in the future")
        limit = self._promise_limit(d, policy)
        if limit is not None:
            latest, counted = limit
            if _utc(promised_at) > _utc(latest):
                raise PromiseError(
                    f"the promised deadline {promised_at.isoformat()} is later than the policy allows: "
                    f"{counted}, {latest.isoformat()}"
                )
        broken = d.promises_broken + (1 if d.promise is not None and _utc(d.promise.due_at) < _utc(now) else 0)
        promise = self._deadline(
            DeadlineKind.PROMISE,
            start=now,
            due=promised_at,
            clock=Clock.WALL,
            rule="promised in an interim reply",
            policy=policy,
        )
        resolution = d.resolution
        if (
            policy.promise.extends_resolution
            and _utc(promised_at) > _utc(resolution.due_at)
            and _utc(now) <= _utc(resolution.due_at)
        ):
            resolution = self._deadline(
                DeadlineKind.RESOLUTION,
                start=resolution.started_at,
                due=promised_at,
                clock=resolution.clock,
                rule=f"{resolution.rule}; extended to the date promised in an interim reply",
                policy=policy,
            )
        return replace(d, promise=promise, resolution=resolution, promises_broken=broken)

    def reopened(self, d: CaseDeadlines, *, at: datetime) -> CaseDeadlines:
        """The citizen was not satisfied and the case was reopened: a new resolution period starts at `at`.

        The first response stays as it was; an old promise is dropped (counted as broken if it had passed).
        """
        _, policy = self.policy_for(d.category, d.request_type)
        broken = d.promises_broken + (1 if d.promise is not None and _utc(d.promise.due_at) < _utc(at, "at") else 0)
        return replace(
            d,
            resolution=self._resolution(at, policy, why="from reopening"),
            promise=None,
            paused_since=None,
            promises_broken=broken,
        )

    # --- reporting ---

    def _status(
        self, deadline: Deadline, *, done_at: datetime | None, now: datetime, paused_since: datetime | None = None
    ) -> DeadlineStatus:
        if done_at is not None and _utc(done_at) < _utc(deadline.started_at):
            done_at = None  # done before this deadline started: a resolution from before a reopening
        due = _utc(deadline.due_at)
        if done_at is not None:
            reference = _utc(done_at, "done_at")
            state = DeadlineState.MET if reference <= due else DeadlineState.BREACHED
        elif paused_since is not None:
            reference, state = _utc(paused_since), DeadlineState.PAUSED
        else:
            reference = _utc(now, "now")
            state = DeadlineState.BREACHED if reference > due else DeadlineState.PENDING
        return DeadlineStatus(
            deadline=deadline,
            done_at=done_at.astimezone(self.calendar.tz) if done_at is not None else None,
            state=state,
            due_soon=state is DeadlineState.PENDING and _utc(now) >= _utc(deadline.warn_at),
            time_left=due - reference,
            working_time_left=self.calendar.working_time_between(reference, due),
        )

    def report(
        self,
        d: CaseDeadlines,
        *,
        now: datetime,
        first_responded_at: datetime | None = None,
        resolved_at: datetime | None = None,
    ) -> SlaReport:
        """Each deadline, its time left and whether it is pending, met or breached, at `now`.

        `first_responded_at`: the first reply a person sent the citizen (an interim reply counts; the automatic
        acknowledgement does not). `resolved_at`: when the final answer was given (the `replied` transition);
        a resolution also answers the first response if none was recorded.
        """
        first_done = min((t for t in (first_responded_at, resolved_at) if t is not None), key=_utc, default=None)
        return SlaReport(
            policy_key=d.policy_key,
            first_response=self._status(d.first_response, done_at=first_done, now=now),
            resolution=self._status(d.resolution, done_at=resolved_at, now=now, paused_since=d.paused_since),
            promise=self._status(d.promise, done_at=resolved_at, now=now) if d.promise is not None else None,
        )
