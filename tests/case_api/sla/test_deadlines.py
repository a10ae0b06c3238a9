"""A case's deadlines: first response (1 working hour / 8 hours out of hours), resolution, pauses, transfers,
promises, reopening, and what a case shows: time left and met / breached / pending."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from case_api.sla import (
    BusinessCalendar,
    CaseDeadlines,
    Clock,
    DeadlineKind,
    DeadlineState,
    PromiseError,
    SlaCalculator,
    SlaPolicies,
    load_policies,
)

from .helpers import hours, sh, write


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


@pytest.fixture(scope="module")
def calc(calendar: BusinessCalendar) -> SlaCalculator:
    return SlaCalculator(calendar=calendar, policies=SlaPolicies(version="builtin"))


def calculator(calendar: BusinessCalendar, tmp_path: Path, defaults: str, policies: str = "[]") -> SlaCalculator:
    text = f"version: t\ndefaults:\n{defaults}\npolicies: {policies}\n"
    return SlaCalculator(calendar=calendar, policies=load_policies(write(tmp_path, "sla.yaml", text)))


def open_case(calc: SlaCalculator, received_at: datetime, category: str | None = None) -> CaseDeadlines:
    return calc.deadlines(received_at=received_at, category=category, request_type=None)


# --- first response ---


@pytest.mark.parametrize(
    ("received_at", "due", "clock", "in_hours"),
    [
        (sh(2025, 3, 3, 10, 20), sh(2025, 3, 3, 11, 20), Clock.WORKING, True),
        (sh(2025, 3, 3, 11, 40), sh(2025, 3, 3, 14, 10), Clock.WORKING, True),  # across lunch
        (sh(2025, 3, 7, 16, 30), sh(2025, 3, 7, 17, 30), Clock.WORKING, True),  # Friday, an hour before closing
        (sh(2025, 1, 26, 10, 0), sh(2025, 1, 26, 11, 0), Clock.WORKING, True),  # make-up Sunday: working time
        # The working hour would run into the night: 8 hours from closing time cap it.
        (sh(2025, 3, 7, 17, 30), sh(2025, 3, 8, 2, 0), Clock.WALL, True),  # Friday, just before closing
        (sh(2026, 2, 28, 17, 30), sh(2026, 3, 1, 2, 0), Clock.WALL, True),  # make-up Saturday of 2026
        # Outside working time: 8 wall-clock hours ...
        (sh(2025, 3, 4, 20, 0), sh(2025, 3, 5, 4, 0), Clock.WALL, False),  # a weeknight
        (sh(2025, 3, 8, 10, 0), sh(2025, 3, 8, 18, 0), Clock.WALL, False),  # a Saturday
        (sh(2025, 1, 29, 22, 0), sh(2025, 1, 30, 6, 0), Clock.WALL, False),  # Spring Festival 2025
        (sh(2025, 10, 3, 9, 30), sh(2025, 10, 3, 17, 30), Clock.WALL, False),  # National Day 2025
        (sh(2026, 2, 17, 9, 0), sh(2026, 2, 17, 17, 0), Clock.WALL, False),  # Spring Festival 2026
        # ... but never later than the working-time rule would give.
        (sh(2025, 3, 3, 8, 30), sh(2025, 3, 3, 10, 0), Clock.WORKING, False),  # before opening
        (sh(2025, 3, 3, 12, 10), sh(2025, 3, 3, 14, 30), Clock.WORKING, False),  # lunch break
    ],
)
def test_first_response_deadline(
    calc: SlaCalculator, received_at: datetime, due: datetime, clock: Clock, in_hours: bool
) -> None:
    d = open_case(calc, received_at)
    assert d.first_response.due_at == due
    assert d.first_response.clock is clock
    assert d.arrived_in_working_time is in_hours


def test_the_deadline_says_which_rule_set_it(calc: SlaCalculator) -> None:
    assert open_case(calc, sh(2025, 3, 3, 10, 0)).first_response.rule == "1 working hour (arrived in working time)"
    assert open_case(calc, sh(2025, 3, 8, 10, 0)).first_response.rule == "8 hours (arrived outside working time)"
    assert "earlier than 8 hours" in open_case(calc, sh(2025, 3, 3, 12, 10)).first_response.rule
    assert open_case(calc, sh(2025, 3, 3, 10, 0)).resolution.rule == "5 working days from receipt"


def test_rest_days_only_reading_of_the_out_of_hours_rule(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(calendar, tmp_path, "  first_response: {outside_rule_applies: rest_days}")
    assert open_case(calc, sh(2025, 3, 4, 20, 0)).first_response.due_at == sh(2025, 3, 5, 10, 0)  # weeknight
    assert open_case(calc, sh(2025, 3, 8, 10, 0)).first_response.due_at == sh(2025, 3, 8, 18, 0)  # Saturday
    assert open_case(calc, sh(2025, 10, 3, 9, 30)).first_response.due_at == sh(2025, 10, 3, 17, 30)  # holiday


# --- resolution ---


@pytest.mark.parametrize(
    ("received_at", "due"),
    [
        (sh(2025, 3, 3, 10, 20), sh(2025, 3, 10, 18, 0)),
        (sh(2025, 1, 29, 22, 0), sh(2025, 2, 10, 18, 0)),  # Feb 5, 6, 7, 8 (make-up Saturday), 10
        (sh(2025, 9, 26, 15, 0), sh(2025, 10, 10, 18, 0)),  # Sep 28 (make-up Sunday), 29, 30, Oct 9, 10
        (sh(2026, 9, 30, 17, 0), sh(2026, 10, 13, 18, 0)),  # Oct 8, 9, 10 (make-up Saturday), 12, 13
    ],
)
def test_resolution_deadline_is_five_working_days(calc: SlaCalculator, received_at: datetime, due: datetime) -> None:
    assert open_case(calc, received_at).resolution.due_at == due


def test_a_category_policy_sets_its_own_deadlines(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(
        calendar,
        tmp_path,
        "  resolution: {working_days: 5}",
        "[{category: public-security, resolution: {working_days: 2}, "
        "first_response: {in_working_time: {working_hours: 0.5}}}]",
    )
    d = open_case(calc, sh(2025, 3, 3, 10, 0), category="public-security")
    assert d.policy_key == "public-security/*"
    assert d.policy_version == "t"
    assert d.first_response.due_at == sh(2025, 3, 3, 10, 30)
    assert d.resolution.due_at == sh(2025, 3, 5, 18, 0)
    assert open_case(calc, sh(2025, 3, 3, 10, 0), category="labour").policy_key == "default"


# --- reporting ---


def test_a_fresh_case_is_pending_with_its_time_left(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 20))
    report = calc.report(d, now=sh(2025, 3, 3, 10, 50))
    assert report.first_response.state is DeadlineState.PENDING
    assert report.first_response.time_left == timedelta(minutes=30)
    assert report.first_response.left == timedelta(minutes=30)
    assert not report.first_response.due_soon
    assert report.resolution.state is DeadlineState.PENDING
    # Today 10:50–18:00 less lunch (5 h 40 min), then Tuesday to Friday and next Monday, 7.5 h each.
    assert report.resolution.working_time_left == timedelta(hours=5, minutes=40) + hours(5 * 7.5)
    assert report.next_due_at == sh(2025, 3, 3, 11, 20)
    assert report.promise is None
    assert report.overdue == ()


def test_due_soon_once_four_fifths_of_the_time_is_used(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))  # first response due 11:00, warning from 10:48
    assert d.first_response.warn_at == sh(2025, 3, 3, 10, 48)
    assert calc.report(d, now=sh(2025, 3, 3, 10, 47)).due_soon == ()
    assert calc.report(d, now=sh(2025, 3, 3, 10, 48)).due_soon == (DeadlineKind.FIRST_RESPONSE,)
    # A wall-clock deadline warns on the wall clock: Saturday 10:00 + 8 h, warning from 16:24.
    weekend = open_case(calc, sh(2025, 3, 8, 10, 0))
    assert weekend.first_response.warn_at == sh(2025, 3, 8, 16, 24)
    status = calc.report(weekend, now=sh(2025, 3, 8, 12, 0)).first_response
    assert (status.left, status.working_time_left) == (hours(6), hours(0))  # shown on its own clock
    assert not status.due_soon


def test_met_breached_and_overdue(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    late_reply = calc.report(d, now=sh(2025, 3, 3, 15, 0), first_responded_at=sh(2025, 3, 3, 11, 30))
    assert late_reply.first_response.state is DeadlineState.BREACHED
    assert late_reply.first_response.time_left == -timedelta(minutes=30)
    assert not late_reply.first_response.overdue  # done, late: counts as breached, but nothing to chase
    assert late_reply.next_due_at == sh(2025, 3, 10, 18, 0)

    no_reply = calc.report(d, now=sh(2025, 3, 3, 14, 0))
    assert no_reply.first_response.state is DeadlineState.BREACHED
    assert no_reply.overdue == (DeadlineKind.FIRST_RESPONSE,)
    assert no_reply.first_response.working_time_left == -hours(1.5)  # 11:00–12:00 and 13:30–14:00
    assert no_reply.next_due_at == sh(2025, 3, 3, 11, 0)

    on_time = calc.report(
        d, now=sh(2025, 3, 20), first_responded_at=sh(2025, 3, 3, 11, 0), resolved_at=sh(2025, 3, 10, 18, 0)
    )
    assert on_time.first_response.state is DeadlineState.MET  # exactly on the deadline is on time
    assert on_time.resolution.state is DeadlineState.MET
    assert on_time.next_due_at is None

    resolved_late = calc.report(d, now=sh(2025, 3, 20), resolved_at=sh(2025, 3, 11, 9, 0))
    assert resolved_late.resolution.state is DeadlineState.BREACHED
    # A final answer is also a response: without a separate first reply it answers the first response too (late).
    assert resolved_late.first_response.done_at == sh(2025, 3, 11, 9, 0)
    assert resolved_late.first_response.state is DeadlineState.BREACHED


# --- waiting on the citizen ---


def test_waiting_on_the_citizen_stops_the_resolution_clock(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))  # resolution due Mon 10 Mar 18:00
    waiting = calc.paused(d, at=sh(2025, 3, 4, 10, 0))
    report = calc.report(waiting, now=sh(2025, 3, 20), first_responded_at=sh(2025, 3, 3, 10, 30))
    assert report.resolution.state is DeadlineState.PAUSED
    assert report.resolution.working_time_left == hours(6.5 + 4 * 7.5)  # frozen where the pause began
    assert report.next_due_at is None  # nothing to chase while the citizen has the ball
    resumed = calc.resumed(waiting, at=sh(2025, 3, 6, 10, 0))  # two working days later
    assert resumed.paused_since is None
    assert resumed.resolution.due_at == sh(2025, 3, 12, 18, 0)
    assert resumed.resolution.rule.endswith("plus time waiting on the citizen")


def test_a_pause_over_the_spring_festival_counts_only_working_time(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 1, 24, 10, 0))  # Fri; Jan 26 (Sun, make-up), 27, Feb 5, 6, 7 → Feb 7 18:00
    assert d.resolution.due_at == sh(2025, 2, 7, 18, 0)
    waiting = calc.paused(d, at=sh(2025, 1, 27, 17, 0))
    resumed = calc.resumed(waiting, at=sh(2025, 2, 6, 9, 0))
    # Stopped 1 h on Jan 27 and all of Feb 5 (7.5 h): the deadline moves 8.5 working hours past Feb 7 18:00.
    assert resumed.resolution.due_at == sh(2025, 2, 10, 10, 0)


def test_a_pause_never_revives_a_deadline_that_has_passed(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    assert calc.paused(d, at=sh(2025, 3, 11, 9, 0)) == d


def test_a_policy_may_keep_the_clock_running_while_waiting(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(calendar, tmp_path, "  pause_while_waiting_on_citizen: false")
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    assert calc.resumed(calc.paused(d, at=sh(2025, 3, 4, 10, 0)), at=sh(2025, 3, 6, 10, 0)) == d


# --- transfers ---


def test_by_default_a_transfer_keeps_the_citizens_deadline(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    assert calc.transferred(d, at=sh(2025, 3, 7, 10, 0)) == d


def test_a_late_transfer_can_leave_the_receiving_department_a_minimum(
    calendar: BusinessCalendar, tmp_path: Path
) -> None:
    calc = calculator(calendar, tmp_path, "  transfer: {min_remaining: {working_hours: 4}}")
    d = open_case(calc, sh(2025, 3, 3, 10, 0))  # due Mon 10 Mar 18:00
    early = calc.transferred(d, at=sh(2025, 3, 5, 10, 0))
    assert early.resolution.due_at == d.resolution.due_at
    late = calc.transferred(d, at=sh(2025, 3, 10, 17, 0))
    assert late.resolution.due_at == sh(2025, 3, 11, 12, 0)  # 1 h on Monday, 3 h on Tuesday
    assert late.resolution.started_at == d.resolution.started_at  # the case's clock still started at receipt


def test_restart_gives_the_receiving_department_a_whole_period(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(calendar, tmp_path, "  transfer: {resolution: restart}")
    d = open_case(calc, sh(2025, 9, 24, 10, 0))  # due Sep 30 18:00 (Sep 25, 26, 28, 29, 30)
    assert d.resolution.due_at == sh(2025, 9, 30, 18, 0)
    moved = calc.transferred(d, at=sh(2025, 9, 29, 10, 0))  # Sep 30, Oct 9, 10, 11 (make-up Saturday), 13
    assert moved.resolution.due_at == sh(2025, 10, 13, 18, 0)
    assert moved.resolution.rule == "5 working days from the transfer"


def test_a_transfer_after_the_deadline_does_not_undo_the_breach(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(calendar, tmp_path, "  transfer: {resolution: restart}")
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    assert calc.transferred(d, at=sh(2025, 3, 11, 10, 0)) == d


# --- interim replies and their promises ---


def test_an_interim_reply_promise_is_tracked_as_its_own_deadline(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    promised = calc.promised(d, promised_at=sh(2025, 3, 14, 18, 0), now=sh(2025, 3, 4, 9, 30))
    assert promised.resolution == d.resolution  # by default a promise does not extend the resolution deadline
    assert promised.promise is not None
    assert promised.promise.due_at == sh(2025, 3, 14, 18, 0)
    kept = calc.report(
        promised, now=sh(2025, 3, 20), first_responded_at=sh(2025, 3, 4, 9, 30), resolved_at=sh(2025, 3, 12, 9, 0)
    )
    assert kept.promise is not None
    assert kept.promise.state is DeadlineState.MET
    assert kept.resolution.state is DeadlineState.BREACHED
    broken = calc.report(promised, now=sh(2025, 3, 17), first_responded_at=sh(2025, 3, 4, 9, 30))
    assert broken.overdue == (DeadlineKind.RESOLUTION, DeadlineKind.PROMISE)


def test_promises_are_bounded(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))  # at most 15 working days after receipt: Mar 24 18:00
    with pytest.raises(PromiseError, match=r"later than the policy allows: 15 working days after receipt, 2025-03-24"):
        calc.promised(d, promised_at=sh(2025, 3, 25, 9, 0), now=sh(2025, 3, 4, 9, 0))
    with pytest.raises(PromiseError, match="is not in the future"):
        calc.promised(d, promised_at=sh(2025, 3, 4, 9, 0), now=sh(2025, 3, 4, 9, 0))
    assert calc.promised(d, promised_at=sh(2025, 3, 24, 18, 0), now=sh(2025, 3, 4, 9, 0)).promise is not None


def test_a_promise_limit_runs_with_the_resolution_clock(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))  # due Mon 10 Mar 18:00; a promise at most to Mon 24 Mar 18:00
    # Two working days waiting on the citizen: the resolution and the limit both move two working days on.
    waited = calc.resumed(calc.paused(d, at=sh(2025, 3, 4, 10, 0)), at=sh(2025, 3, 6, 10, 0))
    assert waited.resolution.due_at == sh(2025, 3, 12, 18, 0)
    assert calc.promised(waited, promised_at=sh(2025, 3, 26, 18, 0), now=sh(2025, 3, 7, 9, 0)).promise is not None
    with pytest.raises(PromiseError, match=r"15 working days after receipt, moved on .*, 2025-03-26T18:00"):
        calc.promised(waited, promised_at=sh(2025, 3, 27, 9, 0), now=sh(2025, 3, 7, 9, 0))
    # Reopened on Wed 12 Mar: counted from the reopening (to Wed 2 Apr), not from receipt nor from each promise.
    reopened = calc.reopened(d, at=sh(2025, 3, 12, 10, 0))
    assert calc.promised(reopened, promised_at=sh(2025, 4, 2, 18, 0), now=sh(2025, 3, 31, 9, 0)).promise is not None
    with pytest.raises(PromiseError, match="15 working days from 2025-03-12 10:00, 2025-04-02T18:00"):
        calc.promised(reopened, promised_at=sh(2025, 4, 3, 9, 0), now=sh(2025, 4, 1, 9, 0))


def test_a_promise_replaced_after_its_date_counts_as_broken(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    first = calc.promised(d, promised_at=sh(2025, 3, 6, 18, 0), now=sh(2025, 3, 4, 9, 0))
    renewed_in_time = calc.promised(first, promised_at=sh(2025, 3, 10, 18, 0), now=sh(2025, 3, 6, 9, 0))
    assert renewed_in_time.promises_broken == 0
    renewed_late = calc.promised(first, promised_at=sh(2025, 3, 10, 18, 0), now=sh(2025, 3, 7, 9, 0))
    assert renewed_late.promises_broken == 1


def test_a_policy_may_let_a_promise_extend_the_resolution(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(calendar, tmp_path, "  promise: {extends_resolution: true}")
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    extended = calc.promised(d, promised_at=sh(2025, 3, 14, 18, 0), now=sh(2025, 3, 4, 9, 0))
    assert extended.resolution.due_at == sh(2025, 3, 14, 18, 0)
    too_late = calc.promised(d, promised_at=sh(2025, 3, 14, 18, 0), now=sh(2025, 3, 11, 9, 0))
    assert too_late.resolution.due_at == d.resolution.due_at  # promised after the deadline: the breach stands


# --- reclassification and reopening ---


def test_reclassifying_applies_the_new_policy_from_receipt_and_keeps_extensions(
    calendar: BusinessCalendar, tmp_path: Path
) -> None:
    calc = calculator(
        calendar, tmp_path, "  resolution: {working_days: 5}", "[{category: labour, resolution: {working_days: 3}}]"
    )
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    waited = calc.resumed(calc.paused(d, at=sh(2025, 3, 4, 10, 0)), at=sh(2025, 3, 4, 14, 0))  # 2.5 working hours
    assert waited.resolution.due_at == sh(2025, 3, 11, 11, 30)
    moved = calc.reclassified(waited, category="labour", request_type=None, at=sh(2025, 3, 5, 9, 0))
    assert moved.policy_key == "labour/*"
    assert moved.resolution.due_at == sh(2025, 3, 7, 11, 30)  # Mar 6 18:00 (3 working days) + 2.5 working hours
    assert moved.resolution.rule == "3 working days from receipt; plus time waiting on the citizen"


def test_reclassifying_never_puts_a_deadline_in_the_past(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(
        calendar,
        tmp_path,
        "  resolution: {working_days: 5}",
        "[{category: public-security, first_response: {in_working_time: {working_hours: 0.5}}, "
        "resolution: {working_days: 1}}]",
    )
    d = open_case(calc, sh(2025, 3, 3, 10, 0))  # first response due 11:00, resolution Mar 10 18:00
    early = calc.reclassified(d, category="public-security", request_type=None, at=sh(2025, 3, 3, 10, 10))
    assert early.first_response.due_at == sh(2025, 3, 3, 10, 30)
    assert early.resolution.due_at == sh(2025, 3, 4, 18, 0)
    late = calc.reclassified(d, category="public-security", request_type=None, at=sh(2025, 3, 5, 9, 0))
    assert late.first_response == d.first_response  # 11:00 on Mar 3 had passed: history
    assert late.resolution == d.resolution  # Mar 4 18:00 would already be over: the old deadline stands
    assert late.policy_key == "public-security/*"


def test_reopening_starts_a_new_resolution_period(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    reopened = calc.reopened(d, at=sh(2025, 3, 12, 10, 0))
    assert reopened.resolution.due_at == sh(2025, 3, 19, 18, 0)
    assert reopened.first_response == d.first_response
    # The answer given before reopening does not resolve the new period.
    report = calc.report(
        reopened, now=sh(2025, 3, 13), first_responded_at=sh(2025, 3, 3, 10, 30), resolved_at=sh(2025, 3, 7, 10, 0)
    )
    assert report.resolution.state is DeadlineState.PENDING
    assert report.first_response.state is DeadlineState.MET


# --- storage ---


def test_case_deadlines_survive_a_json_round_trip(calc: SlaCalculator) -> None:
    d = open_case(calc, sh(2025, 3, 3, 10, 0))
    d = calc.paused(
        calc.promised(d, promised_at=sh(2025, 3, 14, 18, 0), now=sh(2025, 3, 4, 9, 0)), at=sh(2025, 3, 5, 9, 0)
    )
    assert CaseDeadlines.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_naive_times_are_refused(calc: SlaCalculator) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        calc.deadlines(received_at=datetime(2025, 3, 3, 10, 0), category=None, request_type=None)
