"""Every (action, state) pair against the lifecycle the product promises (issue 5), on SQLite and PostgreSQL."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.cases.lifecycle import MOVES, Action, IllegalMove, NotPermitted, allowed_actions, transition
from case_api.cases.models import Case, CaseStatus
from case_api.intake.service import intake_batch
from case_api.outbox.models import OutboxRecord
from shared.contracts.v1 import utcnow
from tests.case_api.factories import POLICY, routed

S = CaseStatus
OPEN = {S.NEW, S.ACCEPTED, S.CLASSIFIED, S.DISPATCHED, S.REPLIED}

# The promised lifecycle, written out independently of the implementation's table.
EXPECTED: dict[str, dict[CaseStatus, CaseStatus]] = {
    "accept": {S.NEW: S.ACCEPTED},
    "classify": {S.ACCEPTED: S.CLASSIFIED, S.CLASSIFIED: S.CLASSIFIED},
    "dispatch": {S.CLASSIFIED: S.DISPATCHED},
    "reply": {S.CLASSIFIED: S.REPLIED, S.DISPATCHED: S.REPLIED, S.REPLIED: S.REPLIED},
    "interim-reply": {S.DISPATCHED: S.DISPATCHED},
    "transfer": {S.DISPATCHED: S.DISPATCHED},
    "return": {S.DISPATCHED: S.CLASSIFIED},
    "escalate": {s: s for s in OPEN},
    "close": {S.REPLIED: S.CLOSED},
    "reopen": {S.CLOSED: S.ACCEPTED},
    "discard": {S.NEW: S.CLOSED, S.ACCEPTED: S.CLOSED, S.CLASSIFIED: S.CLOSED},
    "add-co-handler": {S.DISPATCHED: S.DISPATCHED},
    "remove-co-handler": {S.DISPATCHED: S.DISPATCHED, S.REPLIED: S.REPLIED},
    "complete-part": {S.DISPATCHED: S.DISPATCHED, S.REPLIED: S.REPLIED},
    "wait-on-citizen": {S.DISPATCHED: S.DISPATCHED},
    "resume": {},  # only a case that is waiting on the citizen can resume
}
# A case waiting on the citizen: the same, except that it can resume and cannot start waiting again.
WHILE_WAITING = EXPECTED | {"wait-on-citizen": {}, "resume": {S.DISPATCHED: S.DISPATCHED}}


def test_the_table_covers_every_action() -> None:
    assert {a.value for a in Action} == set(EXPECTED) == {a.value for a in MOVES}


@pytest.mark.parametrize("waiting", [False, True], ids=["not-waiting", "waiting-on-citizen"])
async def test_every_action_in_every_state(sessions: async_sessionmaker[AsyncSession], waiting: bool) -> None:
    table = WHILE_WAITING if waiting else EXPECTED
    async with sessions() as session, session.begin():
        await intake_batch(session, [routed("m1")], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    mismatches: list[str] = []
    for action in Action:
        for state in CaseStatus:
            async with sessions() as session:
                case = (await session.scalars(select(Case))).one()
                case.status = state.value
                case.waiting_since = utcnow() if waiting else None
                before_events = len((await session.scalars(select(OutboxRecord.id))).all())
                try:
                    await transition(session, case, action, actor="op", role="admin", now=utcnow(), reason="因为")
                    outcome: CaseStatus | None = CaseStatus(case.status)
                    events = len((await session.scalars(select(OutboxRecord.id))).all()) - before_events
                    if events != 1:
                        mismatches.append(f"{action} from {state}: {events} events instead of 1")
                except IllegalMove as exc:
                    outcome = None
                    if exc.current != state or action.value in exc.allowed:
                        mismatches.append(f"{action} from {state}: refusal names the wrong state or moves")
                await session.rollback()
            expected = table[action.value].get(state)
            if outcome != expected:
                mismatches.append(f"{action} from {state}: got {outcome}, expected {expected}")
    assert mismatches == []


def test_roles_limit_actions() -> None:
    assert "accept" not in allowed_actions("new", "handler")
    assert "reply" in allowed_actions("dispatched", "handler")
    assert "reopen" not in allowed_actions("closed", "handler")
    assert allowed_actions("closed", "operator") == ["reopen"]


async def test_a_role_outside_the_table_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await intake_batch(session, [routed("m1")], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    async with sessions() as session:
        case = (await session.scalars(select(Case))).one()
        try:
            await transition(session, case, Action.ACCEPT, actor="h", role="handler", now=utcnow())
        except NotPermitted:
            pass
        else:
            raise AssertionError("a handler accepted a new case")
        assert case.status == "new"
