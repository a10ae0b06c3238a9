"""sla.yaml's transfer and promise rules, applied to a case as case-api's actions apply them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from case_api.cases.deadlines import CalendarPolicy
from case_api.cases.models import Case
from case_api.sla import BusinessCalendar, PromiseError, SlaCalculator, SlaPolicies, load_policies
from tests.case_api.sla.helpers import sh, write


def _policy(tmp_path: Path, defaults: str) -> CalendarPolicy:
    text = f"version: t\ndefaults:\n{defaults}\npolicies: []\n"
    return CalendarPolicy(
        SlaCalculator(calendar=BusinessCalendar(), policies=load_policies(write(tmp_path, "sla.yaml", text)))
    )


def _case(policy: CalendarPolicy, received: object, **fields: object) -> Case:
    base = {"category_id": None, "request_type": None, "reopen_count": 0, "created_at": received}
    case = cast(Case, SimpleNamespace(**(base | fields)))
    case.resolution_due_at = fields.get("resolution_due_at") or policy.resolution_due(case.created_at)  # type: ignore[assignment]
    return case


def test_a_transfer_keeps_or_restarts_the_deadline_as_configured(tmp_path: Path) -> None:
    received = sh(2025, 9, 24, 10, 0)  # due Tue 30 Sep 18:00
    keep = _policy(tmp_path, "  transfer: {resolution: keep}")
    assert keep.transferred_due(_case(keep, received), now=sh(2025, 9, 29, 10, 0)) == sh(2025, 9, 30, 18, 0)
    restart = _policy(tmp_path, "  transfer: {resolution: restart}")
    # Sep 30, then the National Day holiday, Oct 9, 10, 11 (a make-up Saturday), 13.
    assert restart.transferred_due(_case(restart, received), now=sh(2025, 9, 29, 10, 0)) == sh(2025, 10, 13, 18, 0)
    # Late is late: a transfer after the deadline does not undo the breach.
    assert restart.transferred_due(_case(restart, received), now=sh(2025, 10, 2, 10, 0)) == sh(2025, 9, 30, 18, 0)


def test_a_promise_is_held_to_the_limit_and_extends_only_when_configured(tmp_path: Path) -> None:
    received, now = sh(2025, 3, 3, 10, 0), sh(2025, 3, 4, 10, 0)  # resolution due Mon 10 Mar 18:00
    strict = _policy(tmp_path, "  promise: {extends_resolution: false, limit: {working_days: 10}}")
    case = _case(strict, received)
    assert strict.promised_due(case, promised_at=sh(2025, 3, 14, 18, 0), now=now) == sh(2025, 3, 10, 18, 0)
    with pytest.raises(PromiseError, match="later than the policy allows"):
        strict.promised_due(case, promised_at=sh(2025, 3, 20, 18, 0), now=now)
    with pytest.raises(PromiseError, match="not in the future"):
        strict.promised_due(case, promised_at=sh(2025, 3, 4, 9, 0), now=now)
    # A reopened case's limit counts from now: its new period began long after receipt.
    reopened = _case(strict, received, reopen_count=1, resolution_due_at=sh(2025, 4, 7, 18, 0))
    later = sh(2025, 4, 1, 10, 0)
    assert strict.promised_due(reopened, promised_at=sh(2025, 4, 10, 18, 0), now=later) == sh(2025, 4, 7, 18, 0)
    lenient = _policy(tmp_path, "  promise: {extends_resolution: true, limit: null}")
    extended = lenient.promised_due(_case(lenient, received), promised_at=sh(2025, 3, 14, 18, 0), now=now)
    assert extended == sh(2025, 3, 14, 18, 0)


def test_due_soon_counts_the_working_time_left_not_the_weekend() -> None:
    policy = CalendarPolicy(SlaCalculator(calendar=BusinessCalendar(), policies=SlaPolicies(version="builtin")))
    friday = sh(2025, 3, 7, 17, 30)  # half an hour of the working day left; the next working hour is Monday's
    due = policy.first_response_due(friday)
    assert due == sh(2025, 3, 10, 9, 30)
    # 80 % of the working hour used: Monday 09:18, not Sunday evening (80 % of the wall-clock time).
    assert policy.warn_at(due, now=friday) == sh(2025, 3, 10, 9, 18)
    # No working time at all before a rest-day deadline (8 hours on the wall clock): the wall clock counts.
    saturday = sh(2025, 3, 8, 10, 0)
    assert policy.warn_at(sh(2025, 3, 8, 18, 0), now=saturday) == sh(2025, 3, 8, 16, 24)
