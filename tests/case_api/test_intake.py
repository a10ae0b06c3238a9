"""Routed messages become contacts, cases and messages: threading, idempotency, tracking numbers."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.audit.models import AuditEntry
from case_api.cases.models import Case, CaseDepartment, CaseStatus, Message
from case_api.contacts.models import Contact
from case_api.intake.service import AutoDispatch, intake_batch
from case_api.outbox.models import OutboxRecord
from shared.contracts.v1 import CaseEvent, Channel, DecidedBy, MessageKind, RoutedMessage, utcnow
from tests.case_api.factories import POLICY, routed

TZ = ZoneInfo("Asia/Shanghai")
Sessions = async_sessionmaker[AsyncSession]


async def intake(sessions: Sessions, batch: list) -> object:
    async with sessions() as session, session.begin():
        return await intake_batch(session, batch, tz=TZ, policy=POLICY)


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def cases(sessions: Sessions) -> list[Case]:
    async with sessions() as session:
        return list((await session.scalars(select(Case).order_by(Case.number))).all())


async def test_a_message_opens_a_case_with_the_proposal(sessions: Sessions) -> None:
    result = await intake(sessions, [routed("m1")])
    assert result.cases_opened == 1  # type: ignore[attr-defined]
    [case] = await cases(sessions)
    assert case.status == CaseStatus.NEW
    assert re.fullmatch(r"\d{8}-\d{5}", case.number)
    assert case.proposed_department_id == "housing"
    assert case.proposal is not None and case.proposal["explanation"].startswith("keyword rule")
    assert case.department_id is None  # people dispatch; the router only proposes
    assert case.subject == "小区物业乱收费"
    assert case.message_count == 1


async def test_follow_ups_from_the_same_contact_attach_to_the_open_case(sessions: Sessions) -> None:
    await intake(sessions, [routed("m1"), routed("m2", text="还没人处理")])
    await intake(sessions, [routed("m3", text="第三次反映")])
    [case] = await cases(sessions)
    assert case.message_count == 3
    async with sessions() as session:
        texts = (
            await session.scalars(select(Message.text).where(Message.case_id == case.id).order_by(Message.sent_at))
        ).all()
    assert texts == ["小区物业乱收费", "还没人处理", "第三次反映"]


async def test_a_backlog_does_not_restart_the_citizens_clock(sessions: Sessions) -> None:
    """Intake reached the message three hours after the centre received it (case-api was down): the case is
    as old as the message, so its deadlines, its response time and its reporting day count from receipt, and a
    later classification recomputes the same deadline intake gave it."""
    received = utcnow().replace(microsecond=0) - timedelta(hours=3)
    await intake(sessions, [routed("m1", received_at=received)])
    [case] = await cases(sessions)
    assert case.created_at == received
    assert case.first_response_due_at == received + timedelta(hours=1)  # already breached, as the citizen sees it
    assert case.resolution_due_at == received + timedelta(days=5) == POLICY.resolution_due(case.created_at)


async def test_a_backlog_across_midnight_keeps_the_days_numbers(sessions: Sessions) -> None:
    """Messages received yesterday and reached today are numbered as yesterday's, as they are dated; today's
    own sequence is untouched."""
    yesterday = utcnow().replace(microsecond=0) - timedelta(days=1)
    await intake(sessions, [routed("m1", sender="a", received_at=yesterday), routed("m2", sender="b")])
    numbers = sorted(c.number for c in await cases(sessions))
    day = (utcnow() - timedelta(days=1)).astimezone(TZ).strftime("%Y%m%d")
    assert numbers == sorted([f"{day}-00001", f"{utcnow().astimezone(TZ):%Y%m%d}-00001"])


async def test_other_contacts_channels_and_accounts_get_their_own_cases(sessions: Sessions) -> None:
    await intake(
        sessions,
        [
            routed("m1", sender="a"),
            routed("m2", sender="b"),
            routed("m3", sender="a", channel=Channel.WEIBO, account="city-weibo"),
            routed("m4", sender="a", account="district-wechat"),
        ],
    )
    assert len(await cases(sessions)) == 4
    assert await count(sessions, Contact) == 4


async def test_one_batch_mixes_returning_and_new_citizens_across_accounts(sessions: Sessions) -> None:
    await intake(
        sessions, [routed("m1", sender="a"), routed("m2", sender="w", channel=Channel.WEIBO, account="city-weibo")]
    )
    seen = select(Contact.sender_id, Contact.last_seen_at)
    async with sessions() as session:
        before: dict[str, datetime] = dict((await session.execute(seen)).all())
    await intake(
        sessions,
        [
            routed("m3", sender="a", text="还没人处理"),  # returning, WeChat
            routed("m4", sender="b"),  # new, WeChat
            routed("m5", sender="w", channel=Channel.WEIBO, account="city-weibo", text="补充照片"),  # returning, Weibo
            routed("m6", sender="x", channel=Channel.WEIBO, account="city-weibo"),  # new, Weibo
        ],
    )
    # The returning two joined their open cases.
    assert sorted(c.message_count for c in await cases(sessions)) == [1, 1, 2, 2]
    assert await count(sessions, Contact) == 4
    async with sessions() as session:
        after: dict[str, datetime] = dict((await session.execute(seen)).all())
    assert after["a"] > before["a"] and after["w"] > before["w"]  # seen again


async def test_replayed_and_duplicated_records_create_nothing_twice(sessions: Sessions) -> None:
    first = await intake(sessions, [routed("m1"), routed("m1")])
    again = await intake(sessions, [routed("m1"), routed("m2")])
    assert (first.stored, first.duplicates) == (1, 1)  # type: ignore[attr-defined]
    assert (again.stored, again.duplicates) == (1, 1)  # type: ignore[attr-defined]
    assert await count(sessions, Message) == 2
    assert len(await cases(sessions)) == 1


async def test_after_closure_a_new_message_opens_a_new_case(sessions: Sessions) -> None:
    await intake(sessions, [routed("m1")])
    async with sessions() as session, session.begin():
        await session.execute(update(Case).values(status=CaseStatus.CLOSED))
    await intake(sessions, [routed("m2", text="又出现了")])
    first, second = await cases(sessions)
    assert first.status == CaseStatus.CLOSED and second.status == CaseStatus.NEW
    assert second.subject == "又出现了"


async def test_platform_events_are_recorded_but_open_no_case(sessions: Sessions) -> None:
    result = await intake(sessions, [routed("e1", kind=MessageKind.EVENT)])
    assert result.events == 1  # type: ignore[attr-defined]
    assert await cases(sessions) == []
    async with sessions() as session:
        message = (await session.scalars(select(Message))).one()
    assert message.case_id is None and message.event == {"name": "subscribe"}


async def test_a_message_of_a_type_we_cannot_show_still_opens_a_case(sessions: Sessions) -> None:
    await intake(sessions, [routed("f1", kind=MessageKind.OTHER, text="")])
    [case] = await cases(sessions)
    assert case.message_count == 1 and case.status == "new"
    async with sessions() as session:
        message = (await session.scalars(select(Message))).one()
    assert message.case_id == case.id and message.kind == "other"


async def test_tracking_numbers_are_unique_and_sequential(sessions: Sessions) -> None:
    await intake(sessions, [routed(f"m{i}", sender=f"s{i}") for i in range(5)])
    await intake(sessions, [routed(f"m{i}", sender=f"s{i}") for i in range(5, 8)])
    numbers = [c.number for c in await cases(sessions)]
    assert len(set(numbers)) == 8
    assert [int(n.split("-")[1]) for n in numbers] == list(range(1, 9))


async def test_a_failed_batch_leaves_nothing_behind(sessions: Sessions) -> None:
    async with sessions() as session:
        try:
            async with session.begin():
                await intake_batch(session, [routed("m1")], tz=TZ, policy=POLICY)
                raise RuntimeError("broker went away before commit")
        except RuntimeError:
            pass
    assert await count(sessions, Message) == 0
    assert await cases(sessions) == []


def decided(msg_id: str, *, by: DecidedBy, confidence: float, category: str = "housing-property") -> RoutedMessage:
    message = routed(msg_id, sender=f"o{msg_id}")
    decision = message.decision.model_copy(update={"decided_by": by, "confidence": confidence, "category": category})
    return message.model_copy(update={"decision": decision})


async def test_a_case_the_model_is_sure_about_goes_straight_to_its_department(sessions: Sessions) -> None:
    auto = AutoDispatch(min_confidence=0.95)
    batch = [
        decided("m1", by=DecidedBy.MODEL, confidence=0.97),
        decided("m2", by=DecidedBy.MODEL, confidence=0.90),  # not sure enough: an operator decides
        decided("m3", by=DecidedBy.RULE, confidence=0.99),  # a keyword rule's confidence is no measured precision
        decided("m4", by=DecidedBy.MODEL, confidence=0.99, category="no-such-category"),  # not in the catalog
    ]
    async with sessions() as session, session.begin():
        result = await intake_batch(session, batch, tz=TZ, policy=POLICY, auto_dispatch=auto)
    assert (result.cases_opened, result.auto_dispatched) == (4, 1)

    sure, *others = await cases(sessions)
    assert (sure.status, sure.category_id, sure.department_id) == (CaseStatus.DISPATCHED, "housing-property", "housing")
    assert sure.due_at == sure.first_response_due_at  # the department still owes the citizen a first answer
    assert [c.status for c in others] == [CaseStatus.NEW] * 3 and all(c.department_id is None for c in others)
    async with sessions() as session:
        parts = (await session.execute(select(CaseDepartment.case_id, CaseDepartment.role))).all()
        trail = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.from_status, AuditEntry.to_status)
                .where(AuditEntry.case_id == sure.id)
                .order_by(AuditEntry.action)
            )
        ).all()
        events = [
            CaseEvent.model_validate_json(v)
            for v in (await session.scalars(select(OutboxRecord.value).where(OutboxRecord.case_id == str(sure.id))))
        ]
    assert parts == [(sure.id, "lead")]
    assert trail == [("created", None, "new"), ("dispatch", "new", "dispatched")]  # as an operator's is
    assert [(e.data.change.action, e.data.case["status"]) for e in events] == [
        ("created", "new"),
        ("dispatched", "dispatched"),
    ]
    assert events[1].data.change.details == {"department_id": "housing", "via": "auto", "confidence": 0.97}


async def test_without_auto_dispatch_even_a_sure_model_only_proposes(sessions: Sessions) -> None:
    await intake(sessions, [decided("m1", by=DecidedBy.MODEL, confidence=0.999)])
    [case] = await cases(sessions)
    assert case.status == CaseStatus.NEW and case.proposed_department_id == "housing"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has one writer at a time
async def test_a_follow_up_is_announced_to_the_department_the_case_is_with_now(sessions: Sessions) -> None:
    """A transfer committing while intake adds the citizen's next message: the message's event goes to the
    department the case went to, not the one it left (whose live queue would show it the new message)."""
    await intake(sessions, [routed("m1")])
    [case] = await cases(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Case).where(Case.id == case.id).values(status="dispatched", department_id="housing")
        )
    async with sessions() as transferring:
        await transferring.begin()
        await transferring.scalar(select(Case).where(Case.id == case.id).with_for_update())  # as an action does
        await transferring.execute(update(Case).where(Case.id == case.id).values(department_id="market"))
        follow_up = asyncio.create_task(intake(sessions, [routed("m2", text="还没人处理")]))
        await asyncio.sleep(0.5)  # intake has read the case by now: it must wait for the transfer
        await transferring.commit()
    await asyncio.wait_for(follow_up, 10)
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxRecord).order_by(OutboxRecord.id))).all()
    added = [r for r in rows if CaseEvent.from_bytes(r.value.encode()).type == "gov.inbox.case.message-added"]
    assert [r.department_id for r in added] == ["market"]
