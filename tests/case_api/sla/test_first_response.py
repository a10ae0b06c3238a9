"""The first-response deadline around closing time and days off: the working hour never runs on into the night or
over a holiday, and a message that arrives later is never due earlier."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from case_api.sla import BusinessCalendar, Clock, Deadline, DeadlineState, SlaCalculator, load_policies

from .helpers import sh, write

TUESDAY = sh(2026, 11, 24)  # an ordinary working week
FRIDAY = sh(2026, 11, 27)
EVE_OF_NATIONAL_DAY = sh(2026, 9, 30)  # a Wednesday; 国庆节 is 10-01 to 10-07, 10-08 is a working day


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


def calculator(calendar: BusinessCalendar, tmp_path: Path, applies: str) -> SlaCalculator:
    # The shipped defaults: 1 working hour in working time, 8 wall-clock hours outside it.
    text = (
        "version: t\ndefaults:\n  first_response:\n    in_working_time: {working_hours: 1}\n"
        f"    outside_working_time: {{hours: 8}}\n    outside_rule_applies: {applies}\npolicies: []\n"
    )
    return SlaCalculator(calendar=calendar, policies=load_policies(write(tmp_path, "sla.yaml", text)))


def first_response(calc: SlaCalculator, received_at: datetime) -> Deadline:
    return calc.deadlines(received_at=received_at, category=None, request_type=None).first_response


def arrivals(day: datetime, *, until: datetime) -> Iterator[datetime]:
    """Every 7 minutes from 15:00 on `day` to `until`, plus every minute from 16:55 to 18:05 (closing time)."""
    moments = {day + timedelta(hours=15) + timedelta(minutes=7 * i) for i in range(10_000)}
    moments |= {day + timedelta(hours=16, minutes=55 + i) for i in range(71)}
    return iter(sorted(m for m in moments if m <= until))


SWEEPS = [
    (TUESDAY, sh(2026, 11, 25, 11, 0)),  # a weekday evening and night
    (FRIDAY, sh(2026, 11, 30, 11, 0)),  # Friday evening, the weekend, Monday morning
    (EVE_OF_NATIONAL_DAY, sh(2026, 10, 8, 11, 0)),  # the evening before 国庆节, the holiday, the day after
]


def assert_never_earlier_and_never_a_long_wait(calc: SlaCalculator) -> None:
    for day, until in SWEEPS:
        previous: tuple[datetime, datetime] | None = None
        for received in arrivals(day, until=until):
            due = first_response(calc, received).due_at
            if previous is not None:
                assert due >= previous[1], f"{received} is due {due}, earlier than {previous[0]} (due {previous[1]})"
            # The longest wait is a weeknight message under rest_days: 18:00 to 10:00 the next morning.
            assert due - received <= timedelta(hours=16), f"{received} is due only at {due}"
            previous = (received, due)


def test_outside_working_time_rule_a_later_message_is_never_due_earlier(
    calendar: BusinessCalendar, tmp_path: Path
) -> None:
    assert_never_earlier_and_never_a_long_wait(calculator(calendar, tmp_path, "outside_working_time"))


def test_rest_days_rule_a_later_message_is_never_due_earlier(calendar: BusinessCalendar, tmp_path: Path) -> None:
    assert_never_earlier_and_never_a_long_wait(calculator(calendar, tmp_path, "rest_days"))


def test_outside_working_time_rule_caps_the_working_hour_at_closing_time(
    calendar: BusinessCalendar, tmp_path: Path
) -> None:
    calc = calculator(calendar, tmp_path, "outside_working_time")
    expected = [
        # received, due, clock
        (sh(2026, 11, 24, 17, 0), sh(2026, 11, 24, 18, 0), Clock.WORKING),  # the hour fits before closing
        (sh(2026, 11, 24, 17, 1), sh(2026, 11, 25, 2, 0), Clock.WALL),  # 8 hours from 18:00, not 09:01
        (sh(2026, 11, 24, 17, 59), sh(2026, 11, 25, 2, 0), Clock.WALL),
        (sh(2026, 11, 24, 18, 0), sh(2026, 11, 25, 2, 0), Clock.WALL),  # arrived outside working time
        (sh(2026, 11, 27, 17, 59), sh(2026, 11, 28, 2, 0), Clock.WALL),  # Friday: not Monday 09:59
        (sh(2026, 9, 30, 17, 59), sh(2026, 10, 1, 2, 0), Clock.WALL),  # not 10-08 09:59, after the holiday
        (sh(2026, 9, 30, 18, 0), sh(2026, 10, 1, 2, 0), Clock.WALL),
        # Unchanged: before opening and in the lunch break, never later than the working-time rule.
        (sh(2026, 11, 24, 8, 50), sh(2026, 11, 24, 10, 0), Clock.WORKING),
        (sh(2026, 11, 24, 11, 40), sh(2026, 11, 24, 14, 10), Clock.WORKING),
    ]
    assert [(r, first_response(calc, r).due_at, first_response(calc, r).clock) for r, _, _ in expected] == expected
    capped = first_response(calc, sh(2026, 9, 30, 17, 59))
    assert capped.rule == (
        "8 hours from 2026-09-30 18:00 (arrived in working time; capped: 1 working hour runs into time outside "
        "working hours)"
    )
    assert first_response(calc, sh(2026, 11, 24, 17, 0)).rule == "1 working hour (arrived in working time)"
    assert first_response(calc, sh(2026, 11, 24, 18, 0)).rule == "8 hours (arrived outside working time)"
    # A reply at 17:45 to the 17:30 message is on time, and counts against this deadline.
    d = calc.deadlines(received_at=sh(2026, 11, 24, 17, 30), category=None, request_type=None)
    report = calc.report(d, now=sh(2026, 11, 24, 17, 50), first_responded_at=sh(2026, 11, 24, 17, 45))
    assert report.first_response.done_at == sh(2026, 11, 24, 17, 45)
    assert report.first_response.state is DeadlineState.MET


def test_rest_days_rule_caps_the_working_hour_at_the_first_day_off(calendar: BusinessCalendar, tmp_path: Path) -> None:
    calc = calculator(calendar, tmp_path, "rest_days")
    expected = [
        # Weeknights keep the working-time rule: the hour runs on the next morning.
        (sh(2026, 11, 24, 17, 0), sh(2026, 11, 24, 18, 0), Clock.WORKING),
        (sh(2026, 11, 24, 17, 1), sh(2026, 11, 25, 9, 1), Clock.WORKING),
        (sh(2026, 11, 24, 17, 59), sh(2026, 11, 25, 9, 59), Clock.WORKING),
        (sh(2026, 11, 24, 18, 0), sh(2026, 11, 25, 10, 0), Clock.WORKING),
        # An hour that would run into a day off: 8 hours from the start of that day.
        (sh(2026, 11, 27, 17, 59), sh(2026, 11, 28, 8, 0), Clock.WALL),  # Friday: not Monday 09:59
        (sh(2026, 11, 27, 23, 59), sh(2026, 11, 28, 8, 0), Clock.WALL),  # not Monday 10:00
        (sh(2026, 11, 28, 0, 0), sh(2026, 11, 28, 8, 0), Clock.WALL),  # arrived on the rest day
        (sh(2026, 9, 30, 17, 59), sh(2026, 10, 1, 8, 0), Clock.WALL),  # not 10-08 09:59
        (sh(2026, 9, 30, 18, 0), sh(2026, 10, 1, 8, 0), Clock.WALL),  # not 10-08 10:00
    ]
    assert [(r, first_response(calc, r).due_at, first_response(calc, r).clock) for r, _, _ in expected] == expected
    assert first_response(calc, sh(2026, 9, 30, 17, 59)).rule == (
        "8 hours from 2026-10-01 00:00 (arrived in working time; capped: 1 working hour runs into a day off)"
    )
    assert first_response(calc, sh(2026, 9, 30, 18, 0)).rule == (
        "8 hours from 2026-10-01 00:00 (arrived outside working hours of a working day; capped: 1 working hour runs "
        "into a day off)"
    )
