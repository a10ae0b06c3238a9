"""SLA policies: how long a case may wait for its first response and its resolution, per category and request type.

The policy file (config/sla.yaml) has `defaults` and a list of `policies`, each matching a category, a request type or
both, and overriding only what it names. The most specific match wins: category and request type, then category,
then request type, then the defaults. Every choice below has a default that follows DESIGN.md and issue 7; the
reasons are in config/sla.yaml next to each setting.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._config import describe_validation_error, read_yaml_model
from .calendar import BusinessCalendar


class PolicyError(ValueError):
    """The policy file cannot be used; the message says which file, where and why."""


class Clock(StrEnum):
    WORKING = "working"  # runs only in working time
    WALL = "wall"  # runs day and night


class Span(BaseModel):
    """A length of time: exactly one of `working_hours`, `working_days` or (wall-clock) `hours`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_hours: float | None = Field(default=None, gt=0)
    working_days: int | None = Field(default=None, ge=1, le=366)
    hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Span:
        given = [v for v in (self.working_hours, self.working_days, self.hours) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of working_hours, working_days or hours (wall-clock)")
        return self

    @property
    def clock(self) -> Clock:
        return Clock.WALL if self.hours is not None else Clock.WORKING

    def after(self, calendar: BusinessCalendar, start: datetime) -> datetime:
        """When this span, started at `start`, runs out (aware, in the calendar's time zone)."""
        if self.working_days is not None:
            return calendar.add_working_days(start, self.working_days)
        if self.working_hours is not None:
            return calendar.add_working_time(start, timedelta(hours=self.working_hours))
        assert self.hours is not None
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"datetime {start.isoformat()} has no time zone; pass an aware datetime")
        return (start.astimezone(UTC) + timedelta(hours=self.hours)).astimezone(calendar.tz)

    def __str__(self) -> str:
        def n(value: float) -> str:
            return f"{value:g}"

        if self.working_days is not None:
            return f"{self.working_days} working day{'s' if self.working_days != 1 else ''}"
        if self.working_hours is not None:
            return f"{n(self.working_hours)} working hour{'s' if self.working_hours != 1 else ''}"
        assert self.hours is not None
        return f"{n(self.hours)} hour{'s' if self.hours != 1 else ''}"


class FirstResponsePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    in_working_time: Span = Span(working_hours=1)
    # Wall-clock by default: the promise for rest days and holidays can only be kept by the duty officer (值班).
    outside_working_time: Span = Span(hours=8)
    # outside_working_time: any arrival outside working hours (nights, lunch, rest days, holidays) may get the
    # out-of-hours deadline; rest_days: only arrivals on a day off do, nights of working days use in_working_time.
    outside_rule_applies: Literal["outside_working_time", "rest_days"] = "outside_working_time"


class PromisePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # An interim reply's promised date is tracked as its own deadline; it moves the resolution deadline only if set.
    extends_resolution: bool = False
    # The latest date an interim reply may promise, counted from receipt; null: no limit.
    limit: Span | None = Span(working_days=15)


class TransferPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # keep: the citizen's deadline stands; restart: the receiving department gets the full resolution span.
    resolution: Literal["keep", "restart"] = "keep"
    # With keep: the receiving department gets at least this much, however late the transfer; null: nothing.
    min_remaining: Span | None = None

    @model_validator(mode="after")
    def _min_remaining_with_keep(self) -> TransferPolicy:
        if self.min_remaining is not None and self.resolution != "keep":
            raise ValueError("min_remaining applies only when resolution is keep (restart gives the whole span)")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_response: FirstResponsePolicy = FirstResponsePolicy()
    resolution: Span = Span(working_days=5)
    # A pending deadline is "due soon" (sla.warning) once this share of its time is used, in its own clock.
    warn_when_used: float = Field(default=0.8, gt=0, lt=1)
    # Time spent waiting for the citizen (missing details, documents) does not count against the resolution.
    pause_while_waiting_on_citizen: bool = True
    promise: PromisePolicy = PromisePolicy()
    transfer: TransferPolicy = TransferPolicy()


class PolicyRule(Policy):
    """An entry of `policies`: what it matches, and what it overrides."""

    category: str | None = None
    request_type: str | None = None

    @model_validator(mode="after")
    def _matches_something(self) -> PolicyRule:
        if self.category is None and self.request_type is None:
            raise ValueError("a policy needs a category, a request_type or both (the rest belongs in defaults)")
        return self


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    defaults: Policy = Policy()
    policies: list[PolicyRule] = Field(default_factory=list)


_SECTIONS = frozenset({"first_response", "promise", "transfer"})
DEFAULT_KEY = "default"


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    # Sections merge key by key; a span is replaced whole ({working_days: 3} must not keep working_hours: 1).
    merged = dict(base)
    for key, value in override.items():
        if key in _SECTIONS and isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def rule_key(category: str | None, request_type: str | None) -> str:
    return f"{category or '*'}/{request_type or '*'}"


@dataclass(frozen=True)
class SlaPolicies:
    version: str
    default: Policy = field(default_factory=Policy)
    rules: Mapping[tuple[str | None, str | None], Policy] = field(default_factory=dict)

    def policy_for(self, category: str | None, request_type: str | None) -> tuple[str, Policy]:
        """The most specific policy for a case, and its key (`category/type`, `category/*`, `*/type`, `default`)."""
        candidates: list[tuple[str | None, str | None]] = []
        if category is not None:
            candidates += [(category, request_type), (category, None)]
        if request_type is not None:
            candidates.append((None, request_type))
        for key in candidates:
            policy = self.rules.get(key)
            if policy is not None:
                return rule_key(*key), policy
        return DEFAULT_KEY, self.default


def build_policies(
    doc: PolicyFile, *, categories: Collection[str] | None = None, request_types: Collection[str] | None = None
) -> SlaPolicies:
    defaults = doc.defaults.model_dump(exclude_unset=True)
    try:
        default = Policy.model_validate(defaults)
    except ValidationError as exc:
        raise PolicyError(f"defaults: {describe_validation_error(exc)}") from exc
    rules: dict[tuple[str | None, str | None], Policy] = {}
    for i, rule in enumerate(doc.policies):
        where = f"policies[{i}] ({rule_key(rule.category, rule.request_type)})"
        if categories is not None and rule.category is not None and rule.category not in categories:
            raise PolicyError(f"{where}: unknown category {rule.category!r}; known: {', '.join(sorted(categories))}")
        if request_types is not None and rule.request_type is not None and rule.request_type not in request_types:
            known = ", ".join(sorted(request_types))
            raise PolicyError(f"{where}: unknown request_type {rule.request_type!r}; known: {known}")
        key = (rule.category, rule.request_type)
        if key in rules:
            raise PolicyError(f"{where}: a policy for {rule_key(*key)} is already given above")
        override = rule.model_dump(exclude_unset=True, exclude={"category", "request_type"})
        try:
            rules[key] = Policy.model_validate(_merge(defaults, override))
        except ValidationError as exc:
            raise PolicyError(f"{where}: {describe_validation_error(exc)}") from exc
    return SlaPolicies(version=doc.version, default=default, rules=rules)


def load_policies(
    path: Path, *, categories: Collection[str] | None = None, request_types: Collection[str] | None = None
) -> SlaPolicies:
    """Read and check the policy file; pass the taxonomy's category ids and request types to catch typos."""
    doc = read_yaml_model(path, PolicyFile, PolicyError)
    try:
        return build_policies(doc, categories=categories, request_types=request_types)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from exc
