"""Classifying a case applies its category's own deadlines (sla.yaml), counted from receipt, never backdated."""

from __future__ import annotations

from datetime import datetime
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
from shared.taxonomy import load_taxonomy
from tests.case_api.factories import routed
from tests.case_api.sla.helpers import sh

Sessions = async_sessionmaker[AsyncSession]
SUPERVISOR = User(username="sup", role=Role.SUPERVISOR.value, display_name="sup")
# Public security answers within half a working hour; everything else within the default working hour.
RULE = "policies:\n  - category: public-security\n    first_response: {in_working_time: {working_hours: 0.5}}\n"


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
