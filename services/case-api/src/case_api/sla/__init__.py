"""Service level: the business calendar, SLA policies and each case's deadlines (issue 7).

Pure and synchronous: nothing here touches the database, Kafka or the event loop. `SlaCalculator.from_settings()`
reads config/calendar.yaml and config/sla.yaml once; build it at start-up and reuse it (its calendar caches days).
"""

from .calendar import (
    BusinessCalendar,
    CalendarError,
    CalendarFile,
    DayInfo,
    DayKind,
    DaySource,
    WorkingPeriod,
    check_years_ahead,
    load_calendar_file,
    parse_working_hours,
)
from .deadlines import (
    CaseDeadlines,
    Deadline,
    DeadlineKind,
    DeadlineState,
    DeadlineStatus,
    PromiseError,
    SlaCalculator,
    SlaReport,
)
from .policy import Clock, Policy, PolicyError, SlaPolicies, Span, load_policies
from .settings import SlaSettings

__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "CalendarFile",
    "CaseDeadlines",
    "Clock",
    "DayInfo",
    "DayKind",
    "DaySource",
    "Deadline",
    "DeadlineKind",
    "DeadlineState",
    "DeadlineStatus",
    "Policy",
    "PolicyError",
    "PromiseError",
    "SlaCalculator",
    "SlaPolicies",
    "SlaReport",
    "SlaSettings",
    "Span",
    "WorkingPeriod",
    "check_years_ahead",
    "load_calendar_file",
    "load_policies",
    "parse_working_hours",
]
