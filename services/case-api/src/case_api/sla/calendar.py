"""The business calendar: when the service centre works, with Chinese public holidays and adjusted working days (调休).

Which days are worked comes, in this order, from
1. config/calendar.yaml: single days or ranges marked `holiday` or `workday` (optionally with their own hours), and
   whole years entered from the State Council's notice (`years:`), for which the package is not consulted;
2. the `chinese-calendar` package's data (holidays and make-up working days, 2004 up to the year it was released);
3. a fallback for years neither knows: Saturdays and Sundays off, plus the statutory holidays whose dates are fixed
   by law (元旦 1 Jan, 劳动节 1–2 May, 国庆节 1–3 Oct). It is logged once per year as `sla.calendar.year_unknown`,
   because lunar holidays and make-up days are then missing until someone enters the year's schedule; at start-up
   `check_years_ahead()` names those years ahead of time.

Working time is a set of half-open periods per day ([09:00, 12:00) and [13:30, 18:00) by default). Each day's
periods are computed once and cached, so arithmetic walks days and periods, never minutes. All arithmetic is done
on UTC instants (real elapsed time); results are aware datetimes in the calendar's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar
import structlog
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._config import read_yaml_model
from .settings import DEFAULT_WORKING_HOURS

if TYPE_CHECKING:
    from collections.abc import Callable

    from .settings import SlaSettings

log = structlog.get_logger(__name__)

# Ten years without a working minute means the calendar is misconfigured, not that a case is very patient.
SEARCH_LIMIT_DAYS = 3660

# Start-up checks that the calendar knows every year's holidays from today to this far ahead: resolution deadlines and
# promises reach a few months. Further would name the year after next, whose schedule cannot be published yet.
YEARS_CHECKED_AHEAD = timedelta(days=120)

UNKNOWN_YEARS = Gauge(
    "inbox_sla_calendar_unknown_years",
    "Years from today to 120 days ahead whose holidays and 调休 the business calendar does not know "
    "(weekends and fixed-date holidays only); enter them in config/calendar.yaml",
)

# 全国年节及纪念日放假办法 (2024 revision): the holidays whose dates are known before a year's schedule is published.
FIXED_STATUTORY_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "元旦",
    (5, 1): "劳动节",
    (5, 2): "劳动节",
    (10, 1): "国庆节",
    (10, 2): "国庆节",
    (10, 3): "国庆节",
}

_PACKAGE_YEARS = frozenset(d.year for d in chinese_calendar.holidays)
_CHINESE_NAMES = {h.value: h.chinese for h in chinese_calendar.Holiday}


class CalendarError(ValueError):
    """The calendar configuration cannot be used, or a computation has no answer; the message says why."""


class DayKind(StrEnum):
    WORKDAY = "workday"  # an ordinary working day
    MAKEUP_WORKDAY = "makeup_workday"  # a Saturday or Sunday worked in exchange for a holiday (调休上班)
    REST_DAY = "rest_day"  # an ordinary Saturday or Sunday
    HOLIDAY = "holiday"  # a public holiday, including the days moved next to it (放假调休)


class DaySource(StrEnum):
    CONFIG = "config"
    PACKAGE = "package"
    FALLBACK = "fallback"


class WorkingPeriod(NamedTuple):
    """Minutes since local midnight, half-open: [start, end). `end` may be 1440 (24:00)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_working_hours(text: str) -> tuple[WorkingPeriod, ...]:
    """`"09:00-12:00,13:30-18:00"` → periods; ascending, not overlapping, within one day."""
    periods: list[WorkingPeriod] = []
    for part in text.split(","):
        match = _PERIOD.match(part)
        if not match:
            raise CalendarError(f"working hours {text!r}: {part.strip()!r} is not a period like 09:00-12:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise CalendarError(f"working hours {text!r}: {part.strip()!r} is not a time of day")
        period = WorkingPeriod(h1 * 60 + m1, h2 * 60 + m2)
        if period.start >= period.end:
            raise CalendarError(f"working hours {text!r}: {part.strip()!r} ends before it starts")
        if periods and period.start < periods[-1].end:
            raise CalendarError(f"working hours {text!r}: periods must be in order and must not overlap")
        periods.append(period)
    return tuple(periods)


@dataclass(frozen=True, slots=True)
class DayInfo:
    date: date
    kind: DayKind
    name: str | None  # the holiday's name (春节, 国庆节, …) or the reason for a configured day
    source: DaySource
    hours: tuple[WorkingPeriod, ...]  # empty on a day off

    @property
    def is_working_day(self) -> bool:
        return bool(self.hours)


# --- the configuration file ------------------------------------------------------------------------------------


class DayEntry(BaseModel):
    """One day, or an inclusive range of days, marked as a holiday or a working day."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    first: date = Field(alias="date")
    last: date | None = Field(default=None, alias="to")
    kind: Literal["holiday", "workday"]
    name: str = Field(min_length=1)
    hours: str | None = None  # only for a workday with other hours than usual, e.g. "09:00-12:00"

    @model_validator(mode="after")
    def _consistent(self) -> DayEntry:
        if self.last is not None and self.last < self.first:
            raise ValueError(f"{self.name}: 'to' ({self.last}) is before 'date' ({self.first})")
        if self.last is not None and (self.last - self.first).days > 31:
            raise ValueError(f"{self.name}: {self.first} to {self.last} is longer than a month; split it or check it")
        if self.hours is not None:
            if self.kind != "workday":
                raise ValueError(f"{self.name}: 'hours' only applies to a workday")
            parse_working_hours(self.hours)
        return self

    def dates(self) -> Iterable[date]:
        last = self.last or self.first
        return (self.first + timedelta(days=i) for i in range((last - self.first).days + 1))


class Season(BaseModel):
    """Working hours that differ for part of every year (夏季作息), from MM-DD to MM-DD inclusive."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1)
    start: str = Field(alias="from", pattern=r"^\d{2}-\d{2}$")
    end: str = Field(alias="to", pattern=r"^\d{2}-\d{2}$")
    hours: str

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        month, day = (int(p) for p in value.split("-"))
        try:
            date(2024, month, day)  # a leap year, so 02-29 is allowed
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a month and day (MM-DD)") from exc
        return value

    @model_validator(mode="after")
    def _hours(self) -> Season:
        parse_working_hours(self.hours)
        return self

    def covers(self, d: date) -> bool:
        key = f"{d.month:02d}-{d.day:02d}"
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end  # wraps over the new year


class CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Years whose whole schedule is entered under `days`, with where it comes from (the notice's title and number).
    years: dict[int, str] = Field(default_factory=dict)
    seasons: list[Season] = Field(default_factory=list)
    days: list[DayEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_day_twice(self) -> CalendarFile:
        seen: dict[date, str] = {}
        for entry in self.days:
            for d in entry.dates():
                if d in seen:
                    raise ValueError(f"{d} is listed twice ({seen[d]} and {entry.name})")
                seen[d] = entry.name
        for year in self.years:
            if not any(d.year == year for d in seen):
                raise ValueError(f"years: {year} is declared complete but no day of {year} is listed under days")
        return self


def load_calendar_file(path: Path) -> CalendarFile:
    return read_yaml_model(path, CalendarFile, CalendarError, empty={})


# --- the calendar ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Day:
    info: DayInfo
    periods: tuple[tuple[datetime, datetime], ...]  # UTC instants
    total: timedelta


def _require_aware(t: datetime, what: str = "datetime") -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} {t.isoformat()} has no time zone; pass an aware datetime")
    return t.astimezone(UTC)


class BusinessCalendar:
    def __init__(
        self,
        *,
        timezone: str | ZoneInfo = "Asia/Shanghai",
        working_hours: str | Sequence[WorkingPeriod] = DEFAULT_WORKING_HOURS,
        config: CalendarFile | None = None,
        use_package: bool = True,
    ) -> None:
        self.tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.working_hours = (
            parse_working_hours(working_hours) if isinstance(working_hours, str) else tuple(working_hours)
        )
        config = config or CalendarFile()
        self._config_years = frozenset(config.years)
        self._seasons = [(s, parse_working_hours(s.hours)) for s in config.seasons]
        self._overrides: dict[date, DayEntry] = {d: e for e in config.days for d in e.dates()}
        self._use_package = use_package
        self._days: dict[date, _Day] = {}
        self._warned_years: set[int] = set()

    @classmethod
    def from_settings(cls, settings: SlaSettings) -> BusinessCalendar:
        return cls(
            timezone=settings.timezone,
            working_hours=settings.working_hours,
            config=load_calendar_file(settings.calendar_file),
            use_package=settings.use_holiday_package,
        )

    # --- days ---

    def source_of(self, year: int) -> DaySource:
        """Where the holidays of `year` come from; FALLBACK means its schedule still has to be entered."""
        if year in self._config_years:
            return DaySource.CONFIG
        if self._use_package and year in _PACKAGE_YEARS:
            return DaySource.PACKAGE
        return DaySource.FALLBACK

    def unknown_years(self, start: date, end: date) -> list[int]:
        """Years between the two dates (inclusive) whose schedule nobody has entered: for a start-up or health check."""
        return [y for y in range(start.year, end.year + 1) if self.source_of(y) is DaySource.FALLBACK]

    def day(self, d: date) -> DayInfo:
        return self._day(d).info

    def is_working_day(self, d: date) -> bool:
        return self._day(d).info.is_working_day

    def _day(self, d: date) -> _Day:
        cached = self._days.get(d)
        if cached is None:
            info = self._classify(d)
            periods = tuple((self._instant(d, p.start), self._instant(d, p.end)) for p in info.hours)
            cached = _Day(info, periods, sum((e - s for s, e in periods), timedelta()))
            self._days[d] = cached
        return cached

    def _instant(self, d: date, minute: int) -> datetime:
        # Wall-clock arithmetic on purpose: minute 540 is 09:00 local even on a day that changes its UTC offset.
        return (datetime.combine(d, time(), tzinfo=self.tz) + timedelta(minutes=minute)).astimezone(UTC)

    def _hours_for(self, d: date) -> tuple[WorkingPeriod, ...]:
        for season, hours in self._seasons:
            if season.covers(d):
                return hours
        return self.working_hours

    def _classify(self, d: date) -> DayInfo:
        weekend = d.weekday() >= 5
        entry = self._overrides.get(d)
        if entry is not None:
            if entry.kind == "holiday":
                return DayInfo(d, DayKind.HOLIDAY, entry.name, DaySource.CONFIG, ())
            hours = parse_working_hours(entry.hours) if entry.hours else self._hours_for(d)
            kind = DayKind.MAKEUP_WORKDAY if weekend else DayKind.WORKDAY
            return DayInfo(d, kind, entry.name, DaySource.CONFIG, hours)
        source = self.source_of(d.year)
        if source is DaySource.PACKAGE:
            if d in chinese_calendar.workdays:
                name = chinese_calendar.workdays[d]
                kind = DayKind.MAKEUP_WORKDAY if weekend else DayKind.WORKDAY
                return DayInfo(d, kind, _CHINESE_NAMES.get(name, name), source, self._hours_for(d))
            if d in chinese_calendar.holidays:
                name = chinese_calendar.holidays[d]
                return DayInfo(d, DayKind.HOLIDAY, _CHINESE_NAMES.get(name, name), source, ())
        elif source is DaySource.FALLBACK:
            self._warn_unknown(d.year)
            statutory = FIXED_STATUTORY_HOLIDAYS.get((d.month, d.day))
            if statutory is not None:
                return DayInfo(d, DayKind.HOLIDAY, statutory, source, ())
        if weekend:
            return DayInfo(d, DayKind.REST_DAY, None, source, ())
        return DayInfo(d, DayKind.WORKDAY, None, source, self._hours_for(d))

    def _warn_unknown(self, year: int) -> None:
        if year not in self._warned_years:
            self._warned_years.add(year)
            log.warning(
                "sla.calendar.year_unknown",
                year=year,
                fallback="weekends and fixed-date statutory holidays only; lunar holidays and 调休 are missing",
                fix=f"enter the State Council's {year} schedule in the calendar file (years: and days:)",
            )

    # --- time ---

    def _local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz)

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def is_working_time(self, t: datetime) -> bool:
        u = _require_aware(t)
        return any(s <= u < e for s, e in self._day(self._local_date(u)).periods)

    def next_working_moment(self, t: datetime) -> datetime:
        """`t` itself when it is working time, otherwise the start of the next working period."""
        u = _require_aware(t)
        d = self._local_date(u)
        for _ in range(SEARCH_LIMIT_DAYS):
            for s, e in self._day(d).periods:
                if u < e:
                    return self._local(max(u, s))
            d += timedelta(days=1)
        raise CalendarError(f"no working time within {SEARCH_LIMIT_DAYS} days after {t.isoformat()}")

    def first_time_off(self, start: datetime, end: datetime) -> datetime | None:
        """The earliest moment in [`start`, `end`) outside working time (`start` itself if it is), else None."""
        u, limit = _require_aware(start), _require_aware(end)
        while u < limit:
            # From period end to period end: periods may touch (09:00-12:00,12:00-18:00; 24:00 and the next 00:00).
            end_of_period = next((e for s, e in self._day(self._local_date(u)).periods if s <= u < e), None)
            if end_of_period is None:
                return self._local(u)
            u = end_of_period
        return None

    def first_day_off(self, start: datetime, end: datetime) -> datetime | None:
        """The earliest moment in [`start`, `end`) on a day without working time (a rest day or holiday): `start`
        itself when its day is off, else the local midnight that begins the first day off; None if there is none."""
        u, limit = _require_aware(start), _require_aware(end)
        d, last = self._local_date(u), self._local_date(limit)
        while d <= last:
            if not self._day(d).periods:
                moment = max(u, self._instant(d, 0))
                return self._local(moment) if moment < limit else None
            d += timedelta(days=1)
        return None

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest moment by which `duration` of working time has passed since `start`."""
        if duration < timedelta():
            raise ValueError(f"duration must not be negative, got {duration}")
        u = _require_aware(start)
        if not duration:
            return self._local(u)
        remaining = duration
        d = self._local_date(u)
        for _ in range(SEARCH_LIMIT_DAYS):
            day = self._day(d)
            if day.periods and u <= day.periods[0][0] and remaining > day.total:
                remaining -= day.total  # a whole working day at once
            else:
                for s, e in day.periods:
                    if e <= u:
                        continue
                    s = max(s, u)
                    if remaining <= e - s:
                        return self._local(s + remaining)
                    remaining -= e - s
            d += timedelta(days=1)
        raise CalendarError(f"no {duration} of working time within {SEARCH_LIMIT_DAYS} days after {start.isoformat()}")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The close of the `days`-th working day after the day of `start`.

        Counted the way Chinese law counts periods in days: the day of receipt is not counted and the period ends
        when business stops on its last day (民法典 第二百零一条、第二百零三条), holidays and rest days excluded.
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        d = self._local_date(_require_aware(start))
        counted = 0
        for _ in range(SEARCH_LIMIT_DAYS):
            d += timedelta(days=1)
            day = self._day(d)
            if day.periods:
                counted += 1
                if counted == days:
                    return self._local(day.periods[-1][1])
        raise CalendarError(f"no {days} working days within {SEARCH_LIMIT_DAYS} days after {start.isoformat()}")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b`; negative when `b` is before `a`."""
        ua, ub = _require_aware(a), _require_aware(b)
        if ub < ua:
            return -self.working_time_between(b, a)
        total = timedelta()
        d, last = self._local_date(ua), self._local_date(ub)
        while d <= last:
            day = self._day(d)
            if day.periods and ua <= day.periods[0][0] and day.periods[-1][1] <= ub:
                total += day.total
            else:
                for s, e in day.periods:
                    overlap = min(e, ub) - max(s, ua)
                    if overlap > timedelta():
                        total += overlap
            d += timedelta(days=1)
        return total


def check_years_ahead(
    calendar: BusinessCalendar, *, calendar_file: Path | str, today: Callable[[], date] | None = None
) -> list[int]:
    """At start-up: warn about the years from today to `YEARS_CHECKED_AHEAD` whose schedule nobody has entered, and
    keep the gauge `inbox_sla_calendar_unknown_years` counting them (at each scrape, as the days go by)."""

    def unknown() -> list[int]:
        start = today() if today is not None else datetime.now(calendar.tz).date()
        return calendar.unknown_years(start, start + YEARS_CHECKED_AHEAD)

    UNKNOWN_YEARS.set_function(lambda: len(unknown()))
    years = unknown()
    if years:
        named = ", ".join(str(y) for y in years)
        log.warning(
            "sla.calendar.years_unknown",
            years=years,
            consequence=f"deadlines in {named} count only weekends and 元旦, 劳动节 1-2 May, 国庆节 1-3 Oct; "
            "春节, 清明, 端午, 中秋 and the make-up working days (调休) are missing",
            fix=f"enter {named} in {calendar_file} (years: and days:, as its comments show) from the State Council's "
            "notice (国务院办公厅关于YYYY年部分节假日安排的通知), or upgrade chinese-calendar; then restart case-api",
        )
    return years
