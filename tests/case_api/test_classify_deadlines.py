"""Classifying a case applies its category's own deadlines (sla.yaml), counted from receipt, never backdated:
a deadline already passed stays passed, and a shorter one that has run out by then is not applied."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.auth.models import Role, User
from case_api.cases.actions import CaseActions
from case_api.cases.deadlines import CalendarPolicy
from case_api.cases.models import Case
from case_api.intake.service import intake_batch
from case_api.sla import SlaCalculator, SlaSettings
from case_api.supervision.stats import department_stats
from shared.taxonomy import load_taxonomy
from tests.case_api.factories import routed
from tests.case_api.sla.helpers import sh

Sessions = async_sessionmaker[AsyncSession]
SUPERVISOR = User(username="sup", role=Role.SUPERVISOR.value, display_name="sup")
# Public security answers within half a working hour; everything else within the default working hour. Questions
# (咨询) are resolved within 2 working days, utilities within 10; everything else within the default 5.
RULE = """policies:
  - category: public-security
    first_response: {in_working_time: {working_hours: 0.5}}
  - request_type: 咨询
    resolution: {working_days: 2}
  - category: utilities
    resolution: {working_days: 10}
"""


@pytest.fixture
def policy(tmp_path: Path) -> CalendarPolicy:
    sla = tmp_path / "sla.yaml"
    sla.write_text(Path("config/sla.yaml").read_text(encoding="utf-8").replace("policies: []\n", RULE), "utf-8")
    taxonomy = load_taxonomy(Path("config/taxonomy.yaml"))
    return CalendarPolicy(
        SlaCalculator.from_settings(
            SlaSettings(policy_file=sla), categories=list(taxonomy.categories), request_types=taxonomy.request_types
        )
    )


async def _classified_at(sessions: Sessions, policy: CalendarPolicy, now: datetime) -> datetime | None:
    """A message received Monday 10 March 2025 at 09:05 (first response due 10:05), classified as public security
    at `now`: the first-response deadline the case is then held to."""
    received = sh(2025, 3, 10, 9, 5)
    async with sessions() as session, session.begin():
        await intake_batch(session, [routed("m1", received_at=received)], tz=ZoneInfo("Asia/Shanghai"), policy=policy)
    async with sessions() as session, session.begin():
        case = (await session.scalars(select(Case))).one()
        assert case.first_response_due_at == sh(2025, 3, 10, 10, 5)
        actions = CaseActions(session, user=SUPERVISOR, now=now, policy=policy)
        await actions.accept(case)
        await actions.classify(case, category_id="public-security", request_type=None)
        return case.first_response_due_at


async def test_a_category_with_a_shorter_first_response_applies_it_while_it_can_be_met(
    sessions: Sessions, policy: CalendarPolicy
) -> None:
    assert await _classified_at(sessions, policy, sh(2025, 3, 10, 9, 20)) == sh(2025, 3, 10, 9, 35)


async def test_a_shorter_first_response_already_past_is_not_applied(sessions: Sessions, policy: CalendarPolicy) -> None:
    # At 09:50 the half hour ran out at 09:35: nobody could have answered in time, so the case keeps 10:05
    # instead of being breached (and escalated) by the classification itself.
    assert await _classified_at(sessions, policy, sh(2025, 3, 10, 9, 50)) == sh(2025, 3, 10, 10, 5)


async def _received(sessions: Sessions, policy: CalendarPolicy, *received: datetime) -> list[Case]:
    """Cases from different citizens received at `received`, as the router proposed them (housing, 投诉/求助:
    resolution within the default 5 working days), accepted by an operator."""
    messages = [routed(f"m{i}", sender=f"s{i}", received_at=at) for i, at in enumerate(received, 1)]
    async with sessions() as session, session.begin():
        await intake_batch(session, messages, tz=ZoneInfo("Asia/Shanghai"), policy=policy)
        cases = list((await session.scalars(select(Case).order_by(Case.created_at))).all())
        for case in cases:
            await CaseActions(session, user=SUPERVISOR, now=case.created_at, policy=policy).accept(case)
    return cases


async def test_a_shorter_resolution_period_already_run_out_does_not_make_the_case_overdue(
    sessions: Sessions, policy: CalendarPolicy
) -> None:
    # Both received Monday 23 Nov 2026 at 10:00 (due Mon 30 Nov 18:00), classified as questions (2 working days).
    in_time, too_late = await _received(sessions, policy, sh(2026, 11, 23, 10, 0), sh(2026, 11, 23, 10, 0))
    due = {}
    async with sessions() as session, session.begin():
        for received, now in ((in_time, sh(2026, 11, 24, 10, 0)), (too_late, sh(2026, 11, 25, 18, 30))):
            case = await session.get_one(Case, received.id)
            await CaseActions(session, user=SUPERVISOR, now=now, policy=policy).classify(
                case, category_id="housing-property", request_type="咨询"
            )
            due[case.id] = case.resolution_due_at
    # Classified the next morning: the question is due at the close of Wednesday, as sla.yaml says.
    assert due[in_time.id] == sh(2026, 11, 25, 18, 0)
    # At 18:30 on Wednesday those two days ran out half an hour ago: the case is not overdue by being classified,
    # it keeps the deadline it had.
    assert due[too_late.id] == sh(2026, 11, 30, 18, 0)


async def test_a_resolution_deadline_already_passed_is_not_erased_by_a_longer_category(
    sessions: Sessions, policy: CalendarPolicy
) -> None:
    """Received Monday 16 Nov 2026, due Monday 23 Nov; classified as utilities (10 working days, 30 Nov) only on
    25 Nov: the breach stands, and the department's resolution on-time rate counts it."""
    [case] = await _received(sessions, policy, sh(2026, 11, 16, 10, 0))
    now = sh(2026, 11, 25, 10, 0)
    async with sessions() as session, session.begin():
        case = await session.get_one(Case, case.id)
        acting = CaseActions(session, user=SUPERVISOR, now=now, policy=policy)
        await acting.classify(case, category_id="utilities", request_type=None)
        assert case.resolution_due_at == sh(2026, 11, 23, 18, 0)
        await acting.dispatch(case, department_id=None, co_handlers=[])
    async with sessions() as session:
        [housing] = await department_stats(
            session, start=sh(2026, 11, 1), end=sh(2026, 12, 1), now=now + timedelta(minutes=5)
        )
    assert (housing["department_id"], housing["resolution_on_time_rate"]) == ("housing", 0.0)
