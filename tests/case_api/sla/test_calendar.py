"""The business calendar against the State Council's real 2025 and 2026 schedules, and its arithmetic."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from prometheus_client import REGISTRY
from pydantic import ValidationError
from structlog.testing import LogCapture

from case_api.sla import (
    BusinessCalendar,
    CalendarError,
    DayKind,
    DaySource,
    SlaSettings,
    check_years_ahead,
    load_calendar_file,
    parse_working_hours,
)
from case_api.sla import calendar as calendar_module

from .helpers import ROOT, SHANGHAI, days, hours, sh, write


@contextmanager
def calendar_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """What the calendar logs, however logging was configured before: structlog's capture_logs misses a logger
    cached when an app started earlier in the session (cache_logger_on_first_use)."""
    capture = LogCapture()
    cached = calendar_module.log
    calendar_module.log = structlog.wrap_logger(structlog.PrintLogger(), processors=[capture])
    try:
        yield capture.entries
    finally:
        calendar_module.log = cached


# 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号)
SCHEDULE_2025 = {
    "holidays": [
        *days(date(2025, 1, 1), date(2025, 1, 1)),  # 元旦
        *days(date(2025, 1, 28), date(2025, 2, 4)),  # 春节, 8 days
        *days(date(2025, 4, 4), date(2025, 4, 6)),  # 清明
        *days(date(2025, 5, 1), date(2025, 5, 5)),  # 劳动节
        *days(date(2025, 5, 31), date(2025, 6, 2)),  # 端午
        *days(date(2025, 10, 1), date(2025, 10, 8)),  # 国庆节、中秋节
    ],
    "makeup": [date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11)],
}
# 国务院办公厅关于2026年部分节假日安排的通知
SCHEDULE_2026 = {
    "holidays": [
        *days(date(2026, 1, 1), date(2026, 1, 3)),  # 元旦
        *days(date(2026, 2, 15), date(2026, 2, 23)),  # 春节, 9 days
        *days(date(2026, 4, 4), date(2026, 4, 6)),  # 清明
        *days(date(2026, 5, 1), date(2026, 5, 5)),  # 劳动节
        *days(date(2026, 6, 19), date(2026, 6, 21)),  # 端午
        *days(date(2026, 9, 25), date(2026, 9, 27)),  # 中秋
        *days(date(2026, 10, 1), date(2026, 10, 7)),  # 国庆节
    ],
    "makeup": [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ],
}


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar()


@pytest.mark.parametrize(("year", "schedule"), [(2025, SCHEDULE_2025), (2026, SCHEDULE_2026)])
def test_every_day_of_the_year_matches_the_state_council_schedule(
    cal: BusinessCalendar, year: int, schedule: dict[str, list[date]]
) -> None:
    assert all(d.weekday() >= 5 for d in schedule["makeup"]), "make-up days are Saturdays and Sundays"
    for d in days(date(year, 1, 1), date(year, 12, 31)):
        info = cal.day(d)
        if d in schedule["holidays"]:
            expected = DayKind.HOLIDAY
        elif d in schedule["makeup"]:
            expected = DayKind.MAKEUP_WORKDAY
        elif d.weekday() >= 5:
            expected = DayKind.REST_DAY
        else:
            expected = DayKind.WORKDAY
        assert info.kind is expected, d
        assert info.is_working_day is (expected in {DayKind.WORKDAY, DayKind.MAKEUP_WORKDAY}), d
        assert info.source is DaySource.PACKAGE


def test_days_carry_the_holiday_names_in_chinese(cal: BusinessCalendar) -> None:
    assert cal.day(date(2025, 1, 28)).name == "春节"
    assert cal.day(date(2025, 2, 8)).name == "春节"  # the make-up Saturday says what it makes up for
    assert cal.day(date(2025, 10, 1)).name == "国庆节"
    assert cal.day(date(2026, 2, 14)).name == "春节"
    assert cal.day(date(2025, 3, 3)).name is None


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        (sh(2025, 3, 3, 8, 59), False),
        (sh(2025, 3, 3, 9, 0), True),
        (sh(2025, 3, 3, 11, 59), True),
        (sh(2025, 3, 3, 12, 0), False),  # periods are half-open: lunch starts at 12:00
        (sh(2025, 3, 3, 13, 29), False),
        (sh(2025, 3, 3, 13, 30), True),
        (sh(2025, 3, 3, 18, 0), False),
        (sh(2025, 3, 8, 10, 0), False),  # an ordinary Saturday
        (sh(2025, 1, 26, 10, 0), True),  # Sunday, made up for the Spring Festival
        (sh(2025, 1, 29, 10, 0), False),  # Spring Festival
        (sh(2025, 10, 11, 15, 0), True),  # Saturday, made up for National Day
        (sh(2026, 2, 23, 10, 0), False),  # a Monday inside the 2026 Spring Festival
        (datetime(2025, 3, 3, 1, 30, tzinfo=UTC), True),  # 09:30 in Shanghai
    ],
)
def test_is_working_time(cal: BusinessCalendar, moment: datetime, working: bool) -> None:
    assert cal.is_working_time(moment) is working


@pytest.mark.parametrize(
    ("start", "duration", "deadline"),
    [
        (sh(2025, 3, 3, 10, 0), hours(1), sh(2025, 3, 3, 11, 0)),
        (sh(2025, 3, 3, 11, 0), hours(1), sh(2025, 3, 3, 12, 0)),  # the earliest moment: 12:00, not 13:30
        (sh(2025, 3, 3, 11, 30), hours(1), sh(2025, 3, 3, 14, 0)),  # across lunch
        (sh(2025, 3, 3, 12, 15), hours(1), sh(2025, 3, 3, 14, 30)),  # starts in lunch
        (sh(2025, 3, 3, 17, 30), hours(1), sh(2025, 3, 4, 9, 30)),  # across the night
        (sh(2025, 3, 3, 22, 0), hours(1), sh(2025, 3, 4, 10, 0)),
        (sh(2025, 3, 7, 17, 30), hours(1), sh(2025, 3, 10, 9, 30)),  # across a weekend
        (sh(2025, 3, 8, 10, 0), hours(1), sh(2025, 3, 10, 10, 0)),  # starts on a Saturday
        (sh(2025, 1, 27, 17, 0), hours(2), sh(2025, 2, 5, 10, 0)),  # across the 2025 Spring Festival
        (sh(2025, 1, 25, 10, 0), hours(1), sh(2025, 1, 26, 10, 0)),  # onto the make-up Sunday
        (sh(2025, 2, 7, 17, 30), hours(1), sh(2025, 2, 8, 9, 30)),  # onto the make-up Saturday
        (sh(2025, 9, 27, 10, 0), hours(1), sh(2025, 9, 28, 10, 0)),  # make-up Sunday before National Day
        (sh(2025, 9, 30, 17, 0), hours(3), sh(2025, 10, 9, 11, 0)),  # across National Day (Oct 1–8)
        (sh(2025, 10, 10, 17, 0), hours(2), sh(2025, 10, 11, 10, 0)),  # onto the make-up Saturday Oct 11
        (sh(2026, 2, 13, 17, 0), hours(2), sh(2026, 2, 14, 10, 0)),  # 2026: make-up Saturday before
        (sh(2026, 2, 14, 17, 0), hours(2), sh(2026, 2, 24, 10, 0)),  # 2026 Spring Festival, Feb 15–23
        (sh(2026, 9, 30, 16, 0), hours(3), sh(2026, 10, 8, 10, 0)),  # 2026 National Day, Oct 1–7
        (sh(2025, 12, 31, 17, 0), hours(2), sh(2026, 1, 4, 10, 0)),  # into 2026: 元旦 off, make-up Sunday
        (sh(2025, 3, 3, 10, 0), hours(37.5), sh(2025, 3, 10, 10, 0)),  # five working days of working time
        (sh(2025, 3, 3, 10, 0), timedelta(0), sh(2025, 3, 3, 10, 0)),
    ],
)
def test_add_working_time(cal: BusinessCalendar, start: datetime, duration: timedelta, deadline: datetime) -> None:
    result = cal.add_working_time(start, duration)
    assert result == deadline
    assert result.tzinfo == SHANGHAI


def test_results_are_in_the_calendar_time_zone_whatever_the_input(cal: BusinessCalendar) -> None:
    result = cal.add_working_time(datetime(2025, 3, 3, 1, 0, tzinfo=UTC), hours(1))  # 09:00 in Shanghai
    assert result.isoformat() == "2025-03-03T10:00:00+08:00"
    assert cal.next_working_moment(datetime(2025, 3, 3, 4, 30, tzinfo=UTC)).isoformat() == "2025-03-03T13:30:00+08:00"


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # The day of receipt is not counted; the period ends when business stops on its last working day.
        (sh(2025, 3, 3, 10, 0), 5, sh(2025, 3, 10, 18, 0)),
        (sh(2025, 3, 8, 10, 0), 5, sh(2025, 3, 14, 18, 0)),  # received on a Saturday
        (sh(2025, 1, 27, 10, 0), 5, sh(2025, 2, 10, 18, 0)),  # Feb 5, 6, 7, 8 (Sat, make-up) and 10
        (sh(2025, 9, 27, 10, 0), 5, sh(2025, 10, 10, 18, 0)),  # Sep 28 (Sun, make-up), 29, 30, Oct 9, 10
        (sh(2026, 9, 18, 10, 0), 5, sh(2026, 9, 24, 18, 0)),  # Sep 20 (Sun, make-up) counts
        (sh(2026, 9, 30, 17, 0), 5, sh(2026, 10, 13, 18, 0)),  # Oct 8, 9, 10 (Sat, make-up), 12, 13
        (sh(2025, 3, 3, 10, 0), 1, sh(2025, 3, 4, 18, 0)),
    ],
)
def test_add_working_days(cal: BusinessCalendar, start: datetime, n: int, deadline: datetime) -> None:
    assert cal.add_working_days(start, n) == deadline


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (sh(2025, 3, 3, 11, 0), sh(2025, 3, 3, 14, 0), hours(1.5)),
        (sh(2025, 3, 3, 12, 0), sh(2025, 3, 3, 13, 30), hours(0)),
        (sh(2025, 3, 7, 17, 0), sh(2025, 3, 10, 10, 0), hours(2)),
        (sh(2025, 1, 27, 9, 0), sh(2025, 2, 5, 9, 0), hours(7.5)),  # the Spring Festival week counts nothing
        (sh(2025, 1, 24, 18, 0), sh(2025, 1, 27, 9, 0), hours(7.5)),  # but its make-up Sunday counts a full day
        (sh(2025, 3, 3, 0, 0), sh(2025, 3, 10, 0, 0), hours(5 * 7.5)),
        (sh(2025, 3, 3, 14, 0), sh(2025, 3, 3, 11, 0), -hours(1.5)),  # backwards: negative
    ],
)
def test_working_time_between(cal: BusinessCalendar, a: datetime, b: datetime, expected: timedelta) -> None:
    assert cal.working_time_between(a, b) == expected


def test_adding_and_measuring_agree_everywhere_in_2025_and_2026(cal: BusinessCalendar) -> None:
    rng = random.Random(7)
    first = sh(2025, 1, 1)
    for _ in range(2000):
        start = first + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60 - 20 * 24 * 60))
        duration = timedelta(minutes=rng.randrange(1, 5 * 450))
        deadline = cal.add_working_time(start, duration)
        assert cal.working_time_between(start, deadline) == duration, (start, duration)
        assert cal.is_working_time(deadline - timedelta(seconds=1)), (start, duration)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (sh(2025, 3, 3, 9, 0), sh(2025, 3, 3, 9, 0)),
        (sh(2025, 3, 3, 12, 30), sh(2025, 3, 3, 13, 30)),
        (sh(2025, 3, 3, 18, 0), sh(2025, 3, 4, 9, 0)),
        (sh(2025, 1, 25, 20, 0), sh(2025, 1, 26, 9, 0)),  # to the make-up Sunday
        (sh(2025, 10, 3, 10, 0), sh(2025, 10, 9, 9, 0)),  # out of National Day
    ],
)
def test_next_working_moment(cal: BusinessCalendar, moment: datetime, expected: datetime) -> None:
    assert cal.next_working_moment(moment) == expected


def test_first_time_off_and_first_day_off_within_a_window(cal: BusinessCalendar) -> None:
    # Outside working time: closing time, the lunch break, or the moment itself; None when the window ends first.
    assert cal.first_time_off(sh(2026, 9, 30, 17, 30), sh(2026, 10, 8, 9, 30)) == sh(2026, 9, 30, 18, 0)
    assert cal.first_time_off(sh(2026, 9, 30, 11, 30), sh(2026, 9, 30, 14, 0)) == sh(2026, 9, 30, 12, 0)
    assert cal.first_time_off(sh(2026, 9, 30, 20, 0), sh(2026, 10, 8, 9, 30)) == sh(2026, 9, 30, 20, 0)
    assert cal.first_time_off(sh(2026, 9, 30, 10, 0), sh(2026, 9, 30, 12, 0)) is None
    # A day off: the midnight that begins it, or the moment itself when it is one; None when the window has none.
    assert cal.first_day_off(sh(2026, 9, 30, 17, 30), sh(2026, 10, 8, 9, 30)) == sh(2026, 10, 1, 0, 0)
    assert cal.first_day_off(sh(2026, 10, 3, 10, 0), sh(2026, 10, 8, 9, 30)) == sh(2026, 10, 3, 10, 0)
    assert cal.first_day_off(sh(2026, 11, 24, 17, 30), sh(2026, 11, 25, 9, 30)) is None
    assert cal.first_day_off(sh(2026, 11, 27, 17, 30), sh(2026, 11, 28, 0, 0)) is None  # the window is half-open
    # Periods that touch are one stretch of working time.
    touching = BusinessCalendar(working_hours="09:00-12:00,12:00-18:00")
    assert touching.first_time_off(sh(2026, 11, 24, 10, 0), sh(2026, 11, 25, 10, 0)) == sh(2026, 11, 24, 18, 0)
    round_the_clock = BusinessCalendar(working_hours="00:00-24:00")
    assert round_the_clock.first_time_off(sh(2026, 11, 25, 10, 0), sh(2026, 12, 1)) == sh(2026, 11, 28, 0, 0)


def test_naive_and_negative_inputs_are_refused(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        cal.is_working_time(datetime(2025, 3, 3, 10, 0))
    with pytest.raises(ValueError, match="no time zone"):
        cal.add_working_time(datetime(2025, 3, 3, 10, 0), hours(1))
    with pytest.raises(ValueError, match="must not be negative"):
        cal.add_working_time(sh(2025, 3, 3, 10, 0), -hours(1))
    with pytest.raises(ValueError, match="at least 1"):
        cal.add_working_days(sh(2025, 3, 3, 10, 0), 0)


def test_a_search_that_finds_no_working_time_fails_instead_of_looping(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real limit is ten years; three days inside the Spring Festival week stand in for a calendar with none.
    monkeypatch.setattr(calendar_module, "SEARCH_LIMIT_DAYS", 3)
    cal = BusinessCalendar()
    with pytest.raises(CalendarError, match="no 1:00:00 of working time within 3 days after 2025-01-28"):
        cal.add_working_time(sh(2025, 1, 28, 10, 0), hours(1))
    with pytest.raises(CalendarError, match="no working time within 3 days"):
        cal.next_working_moment(sh(2025, 1, 28, 10, 0))
    with pytest.raises(CalendarError, match="no 1 working days within 3 days"):
        cal.add_working_days(sh(2025, 1, 28, 10, 0), 1)


def test_five_working_day_deadlines_are_fast() -> None:
    cal = BusinessCalendar()  # cold cache
    starts = [sh(2025, 1, 1) + timedelta(minutes=97 * i) for i in range(10_000)]
    began = time.perf_counter()
    for start in starts:
        cal.add_working_time(start, hours(37.5))
        cal.add_working_days(start, 5)
    assert time.perf_counter() - began < 2.0  # about 0.15 s here; minute-by-minute stepping takes minutes


# --- the configuration file ---

YEAR_2027 = """
years:
  2027: "测试用虚构安排: a made-up 2027 schedule, the real one is entered the day it is published"
days:
  - {date: 2027-01-01, kind: holiday, name: 元旦}
  - {date: 2027-02-05, to: 2027-02-11, kind: holiday, name: 春节}
  - {date: 2027-02-13, kind: workday, name: 春节调休上班}
"""


def test_a_year_the_package_does_not_know_comes_from_the_file(tmp_path: Path) -> None:
    cal = BusinessCalendar(config=load_calendar_file(write(tmp_path, "calendar.yaml", YEAR_2027)))
    with calendar_logs() as logs:
        assert cal.day(date(2027, 2, 8)).kind is DayKind.HOLIDAY
        assert cal.day(date(2027, 2, 13)).kind is DayKind.MAKEUP_WORKDAY
        assert cal.day(date(2027, 2, 13)).name == "春节调休上班"
        # The file is the whole truth for 2027: a day it does not list is an ordinary day.
        assert cal.day(date(2027, 3, 1)).kind is DayKind.WORKDAY
        assert cal.day(date(2027, 3, 1)).source is DaySource.CONFIG
        assert cal.add_working_time(sh(2027, 2, 4, 17, 0), hours(2)) == sh(2027, 2, 12, 10, 0)
        assert cal.add_working_time(sh(2027, 2, 12, 17, 0), hours(2)) == sh(2027, 2, 13, 10, 0)
    assert cal.source_of(2027) is DaySource.CONFIG
    assert cal.unknown_years(date(2026, 12, 1), date(2027, 12, 31)) == []
    assert not [e for e in logs if e["event"] == "sla.calendar.year_unknown"]


def test_a_year_nobody_knows_falls_back_to_weekends_and_fixed_statutory_holidays_with_a_warning() -> None:
    cal = BusinessCalendar()
    assert cal.unknown_years(date(2026, 12, 1), date(2028, 1, 31)) == [2027, 2028]
    with calendar_logs() as logs:
        assert cal.day(date(2027, 1, 1)).kind is DayKind.HOLIDAY  # 元旦, fixed by law
        assert all(cal.day(date(2027, 5, d)).kind is DayKind.HOLIDAY for d in (1, 2))
        assert all(cal.day(date(2027, 10, d)).kind is DayKind.HOLIDAY for d in (1, 2, 3))
        assert cal.day(date(2027, 1, 2)).kind is DayKind.REST_DAY
        assert cal.day(date(2027, 1, 4)).kind is DayKind.WORKDAY
        assert cal.day(date(2027, 1, 4)).source is DaySource.FALLBACK
    warnings = [e for e in logs if e["event"] == "sla.calendar.year_unknown"]
    assert len(warnings) == 1  # once per year, not once per day
    assert warnings[0]["year"] == 2027
    assert warnings[0]["log_level"] == "warning"


def test_start_up_names_the_years_ahead_whose_holidays_nobody_has_entered(tmp_path: Path) -> None:
    cal, today = BusinessCalendar(), date(2026, 11, 25)
    with calendar_logs() as logs:
        assert check_years_ahead(cal, calendar_file="config/calendar.yaml", today=lambda: today) == [2027]
    [warning] = [e for e in logs if e["event"] == "sla.calendar.years_unknown"]
    assert warning["log_level"] == "warning"
    assert warning["years"] == [2027]
    assert "春节" in warning["consequence"]
    assert "enter 2027 in config/calendar.yaml" in warning["fix"]
    assert REGISTRY.get_sample_value("inbox_sla_calendar_unknown_years") == 1
    today = date(2027, 9, 15)  # 120 days ahead now reach 2028: the gauge follows without a restart
    assert REGISTRY.get_sample_value("inbox_sla_calendar_unknown_years") == 2
    # Once the year is entered: no warning, and the gauge says 0.
    entered = BusinessCalendar(config=load_calendar_file(write(tmp_path, "calendar.yaml", YEAR_2027)))
    with calendar_logs() as logs:
        assert check_years_ahead(entered, calendar_file="config/calendar.yaml", today=lambda: date(2026, 11, 25)) == []
    assert not [e for e in logs if e["event"] == "sla.calendar.years_unknown"]
    assert REGISTRY.get_sample_value("inbox_sla_calendar_unknown_years") == 0


def test_the_file_overrides_single_days_of_known_years(tmp_path: Path) -> None:
    text = """
days:
  - {date: 2025-03-05, kind: holiday, name: 本市停工日}
  - {date: 2025-03-08, kind: workday, name: 专项整治加班}
  - {date: 2025-12-31, kind: workday, name: 年末半天, hours: "09:00-12:00"}
  - {date: 2025-01-26, kind: holiday, name: 不调休}
"""
    cal = BusinessCalendar(config=load_calendar_file(write(tmp_path, "calendar.yaml", text)))
    assert cal.day(date(2025, 3, 5)).kind is DayKind.HOLIDAY
    assert cal.day(date(2025, 3, 5)).source is DaySource.CONFIG
    assert cal.day(date(2025, 3, 8)).kind is DayKind.MAKEUP_WORKDAY
    assert cal.day(date(2025, 1, 26)).kind is DayKind.HOLIDAY  # overrides the package's make-up Sunday
    assert cal.day(date(2025, 3, 6)).source is DaySource.PACKAGE  # the rest still comes from the package
    assert cal.add_working_time(sh(2025, 3, 4, 17, 0), hours(2)) == sh(2025, 3, 6, 10, 0)
    # A half day on New Year's Eve, then 2026's 元旦 (Jan 1–3) and its make-up Sunday, Jan 4.
    assert cal.add_working_time(sh(2025, 12, 31, 11, 0), hours(2)) == sh(2026, 1, 4, 10, 0)


def test_seasonal_hours(tmp_path: Path) -> None:
    text = """
seasons:
  - {name: 夏季作息, from: "05-01", to: "09-30", hours: "09:00-12:00,14:30-18:30"}
  - {name: 冬季作息, from: "12-01", to: "01-31", hours: "09:00-12:00,13:30-17:30"}
"""
    cal = BusinessCalendar(config=load_calendar_file(write(tmp_path, "calendar.yaml", text)))
    assert not cal.is_working_time(sh(2025, 6, 3, 14, 0))
    assert cal.is_working_time(sh(2025, 6, 3, 18, 15))
    assert cal.is_working_time(sh(2025, 10, 9, 13, 30))  # back to the ordinary hours
    assert not cal.is_working_time(sh(2025, 12, 2, 17, 45))  # a season across the new year
    assert not cal.is_working_time(sh(2026, 1, 5, 17, 45))
    assert cal.add_working_time(sh(2025, 6, 3, 11, 30), hours(1)) == sh(2025, 6, 3, 15, 0)


def test_without_the_package_only_the_file_and_the_fallback_decide() -> None:
    cal = BusinessCalendar(use_package=False)
    assert cal.day(date(2025, 1, 28)).kind is DayKind.WORKDAY
    assert cal.day(date(2025, 1, 1)).kind is DayKind.HOLIDAY
    assert cal.source_of(2025) is DaySource.FALLBACK


def test_another_time_zone_and_working_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = BusinessCalendar(timezone="Europe/Berlin", working_hours="08:00-16:00", use_package=False)
    # Across the switch to summer time (30 March 2025): Monday 09:00 local is one hour earlier in UTC.
    start = datetime(2025, 3, 28, 15, 0, tzinfo=berlin)
    deadline = cal.add_working_time(start, hours(2))
    assert deadline == datetime(2025, 3, 31, 9, 0, tzinfo=berlin)
    assert deadline.utcoffset() == timedelta(hours=2)
    assert cal.working_time_between(start, deadline) == hours(2)


def test_the_shipped_calendar_file_loads() -> None:
    doc = load_calendar_file(ROOT / "config" / "calendar.yaml")
    cal = BusinessCalendar(config=doc)
    assert cal.day(date(2025, 10, 1)).kind is DayKind.HOLIDAY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("days:\n  - {date: 2027-01-01, kind: holliday, name: 元旦}\n", "days[0].kind: Input should be"),
        ("days:\n  - {date: 2027-01-01, kind: holliday, name: 元旦}\n", "(got 'holliday')"),
        ("days:\n  - {date: 2027-02-30, kind: holiday, name: x}\n", "days[0].date: Input should be a valid date"),
        ("days:\n  - {date: 2027-01-01, kind: holiday}\n", "days[0].name: Field required"),
        ("days:\n  - {date: 2027-02-05, to: 2027-02-01, kind: holiday, name: 春节}\n", "'to' (2027-02-01) is before"),
        ("days:\n  - {date: 2027-01-01, kind: holiday, name: a, hours: '09:00-12:00'}\n", "only applies to a workday"),
        ("days:\n  - {date: 2027-01-04, kind: workday, name: a, hours: '9-12'}\n", "is not a period like 09:00-12:00"),
        (
            "days:\n  - {date: 2027-01-01, kind: holiday, name: a}\n  - {date: 2027-01-01, kind: workday, name: b}\n",
            "2027-01-01 is listed twice (a and b)",
        ),
        ("years: {2027: 通知}\ndays: []\n", "2027 is declared complete but no day of 2027 is listed"),
        ("seasons:\n  - {name: s, from: '13-01', to: '09-30', hours: '09:00-12:00'}\n", "'13-01' is not a month"),
        ("dayz: []\n", "dayz: Extra inputs are not permitted"),
        ("days: [\n", "not valid YAML"),
        ("- 2027-01-01\n", "expected a mapping"),
    ],
)
def test_bad_calendar_files_fail_with_a_readable_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "calendar.yaml", text)
    with pytest.raises(CalendarError) as excinfo:
        load_calendar_file(path)
    assert str(excinfo.value).startswith(f"{path}: ")
    assert message in str(excinfo.value)
    assert "pydantic.dev" not in str(excinfo.value)


def test_a_missing_calendar_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="no such file"):
        load_calendar_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("09:00-12:00,11:00-18:00", "must be in order and must not overlap"),
        ("12:00-09:00", "ends before it starts"),
        ("09:00-25:00", "not a time of day"),
        ("nine to five", "not a period"),
    ],
)
def test_bad_working_hours_are_refused(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_working_hours(text)


def test_working_hours_may_run_to_midnight() -> None:
    cal = BusinessCalendar(working_hours="00:00-24:00", use_package=True)
    assert cal.add_working_time(sh(2025, 3, 7, 20, 0), hours(6)) == sh(2025, 3, 10, 2, 0)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INBOX_SLA_WORKING_HOURS", "08:30-12:00,14:00-17:30")
    monkeypatch.setenv("INBOX_SLA_CALENDAR_FILE", str(write(tmp_path, "c.yaml", YEAR_2027)))
    cal = BusinessCalendar.from_settings(SlaSettings())
    assert cal.is_working_time(sh(2025, 3, 3, 8, 30))
    assert cal.source_of(2027) is DaySource.CONFIG
    monkeypatch.setenv("INBOX_SLA_WORKING_HOURS", "9-18")
    with pytest.raises(ValidationError, match="is not a period like 09:00-12:00"):
        SlaSettings()
    monkeypatch.setenv("INBOX_SLA_WORKING_HOURS", "09:00-18:00")
    monkeypatch.setenv("INBOX_SLA_TIMEZONE", "Asia/Beijing")
    with pytest.raises(ValidationError, match="unknown time zone 'Asia/Beijing'"):
        SlaSettings()
