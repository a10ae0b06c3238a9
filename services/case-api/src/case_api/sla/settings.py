"""The SLA domain's settings (env prefix INBOX_SLA_), composed into case-api's `Settings`."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_WORKING_HOURS = "09:00-12:00,13:30-18:00"


class SlaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_SLA_", extra="ignore")

    # Deadlines are counted, and returned, in the service centre's local time.
    timezone: str = "Asia/Shanghai"
    # Working periods of an ordinary working day; config/calendar.yaml may change them per season or per day.
    working_hours: str = DEFAULT_WORKING_HOURS
    calendar_file: Path = Path("config/calendar.yaml")
    policy_file: Path = Path("config/sla.yaml")
    # Off: only the calendar file and the fallback (weekends, fixed-date statutory holidays) decide.
    use_holiday_package: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from exc
        return value

    @field_validator("working_hours")
    @classmethod
    def _valid_hours(cls, value: str) -> str:
        from .calendar import parse_working_hours  # the one parser; imported late to keep settings import-light

        parse_working_hours(value)
        return value
