"""A reply nobody reported on within its time to live is shown failed, live, so the operator may send it again;
a delivery the platform confirms later still wins, and a late failure never undoes a delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.auth.models import Role, User
from case_api.cases.actions import CaseActions
from case_api.cases.models import Case
from case_api.citizen.notices import Notices
from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from case_api.outbox import service as outbox
from case_api.outbox.models import OutboxRecord
from case_api.replies import expiry
from case_api.replies.models import Reply
from case_api.replies.service import build_reply
from case_api.settings import Settings
from shared.contracts.v1 import (
    REPLY_EXPIRED,
    CaseEvent,
    Channel,
    DeliveryReceipt,
    DeliveryReceiptRecord,
    DeliveryStatus,
    ReplyCommandRecord,
    utcnow,
)
from shared.settings import DatabaseSettings, KafkaSettings, ReplySettings
from shared.topics import CASE_EVENTS, OUTBOUND_REPLIES
from tests.case_api.factories import POLICY, bearer, routed
from tests.case_api.test_live_queue import _events, serving

TTL_S = 60


@dataclass
class Desk:
    """case-api running with a one-minute reply TTL and a quick sweeper, as an administrator drives it."""

    client: httpx.AsyncClient
    admin: dict[str, str]
    kafka: KafkaSettings
    database_url: str

    async def answered_cases(self, count: int) -> list[tuple[str, str]]:
        """(case id, reply id) for `count` new cases, each confirmed to housing and answered by the admin."""
        engine = make_engine(self.database_url)
        items = [routed(f"m{i}", sender=f"oCitizen{i}", text="小区物业乱收费") for i in range(1, count + 1)]
        async with make_sessionmaker(engine)() as session, session.begin():
            await intake_batch(session, items, tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
        await engine.dispose()
        page = (await self.client.get("/api/v1/cases", params={"limit": 200}, headers=self.admin)).json()
        answered = []
        for case in sorted(page["items"], key=lambda c: c["number"]):
            act = f"/api/v1/cases/{case['id']}"
            assert (await self.client.post(f"{act}/confirm", json={}, headers=self.admin)).status_code == 200
            replied = await self.client.post(
                f"{act}/reply", json={"text": "您好，已责成物业整改。"}, headers=self.admin
            )
            assert replied.status_code == 200, replied.text
            [reply] = replied.json()["replies"]
            assert reply["status"] == "queued"
            answered.append((case["id"], reply["id"]))
        return answered

    async def reply_of(self, case_id: str) -> dict[str, Any]:
        [reply] = (await self.client.get(f"/api/v1/cases/{case_id}", headers=self.admin)).json()["replies"]
        return dict(reply)

    async def reply_becomes(self, case_id: str, status: str, *, timeout: float = 10.0) -> dict[str, Any]:
        for _ in range(int(timeout / 0.1)):
            reply = await self.reply_of(case_id)
            if reply["status"] == status:
                return reply
            await asyncio.sleep(0.1)
        raise AssertionError(f"the reply of case {case_id} is still {reply['status']}, not {status}")

    async def queued_long_ago(self, reply_id: str) -> None:
        """As if its command had waited an hour for a channel service that never took it."""
        engine = make_engine(self.database_url)
        async with make_sessionmaker(engine)() as session, session.begin():
            await session.execute(
                update(Reply).where(Reply.id == UUID(reply_id)).values(created_at=utcnow() - timedelta(hours=1))
            )
        await engine.dispose()

    async def receipts(self, *receipts: DeliveryReceipt, together: bool = False) -> None:
        """Published as the channel services do; one key, so they are applied in this order. `together`: in one
        record batch, so case-api's consumer gets them in one poll."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers, acks="all", linger_ms=200 if together else 0
        )
        await producer.start()
        try:
            sent = []
            for receipt in receipts:
                record = DeliveryReceiptRecord.wrap(receipt, source="ingest-wechat")
                sent.append(await producer.send(self.kafka.topics.outbound_receipts, record.to_bytes(), key=b"k"))
                if not together:
                    await sent[-1]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    async def reply_events(self, case_id: str) -> list[CaseEvent]:
        """The case's reply-… events in the outbox: what live queues and other systems are told."""
        engine = make_engine(self.database_url)
        async with make_sessionmaker(engine)() as session:
            values = await session.scalars(
                select(OutboxRecord.value)
                .where(OutboxRecord.topic == CASE_EVENTS, OutboxRecord.case_id == case_id)
                .order_by(OutboxRecord.id)
            )
            events = [CaseEvent.from_bytes(v.encode()) for v in values]
        await engine.dispose()
        return [e for e in events if e.data.change.action.startswith("reply-")]


def receipt(
    case_id: str,
    reply_id: str,
    status: DeliveryStatus,
    *,
    attempts: int,
    code: str | None = None,
    reason: str | None = None,
) -> DeliveryReceipt:
    return DeliveryReceipt(
        reply_id=UUID(reply_id),
        case_id=UUID(case_id),
        channel=Channel.WECHAT,
        account_id="city-wechat",
        status=status,
        attempts=attempts,
        platform_code=code,
        reason=reason,
        finished_at=utcnow(),
    )


@pytest.fixture
async def desk(database_url: str, kafka_settings: KafkaSettings) -> AsyncIterator[Desk]:
    settings = Settings(
        kafka=kafka_settings,
        db=DatabaseSettings(DATABASE_URL=database_url),
        reply=ReplySettings(ttl_s=TTL_S),
        sla_sweep_interval_s=0.2,
    )
    async with serving(settings) as (client, admin):
        yield Desk(client, admin, kafka_settings, database_url)


async def _outbox_end(database_url: str) -> int:
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        end = (await conn.scalar(select(func.max(OutboxRecord.id)))) or 0
    await engine.dispose()
    return int(end)


async def test_a_reply_nobody_reported_on_fails_in_the_departments_live_queue_and_a_fresh_one_stays_queued(
    desk: Desk,
) -> None:
    (stale_case, stale_reply), (fresh_case, _) = await desk.answered_cases(2)
    body = {"username": "h-housing", "password": "correct-horse-9", "role": "handler", "department_id": "housing"}
    assert (await desk.client.post("/api/v1/users", json=body, headers=desk.admin)).status_code == 201
    handler = {"Authorization": await bearer(desk.client, "h-housing", "correct-horse-9")}
    start = await _outbox_end(desk.database_url)

    async with desk.client.stream("GET", f"/api/v1/queue/events?after={start}", headers=handler) as live:
        events = _events(live)
        await desk.queued_long_ago(stale_reply)
        shown = await asyncio.wait_for(anext(events), 10)

    assert shown["event"] == "gov.inbox.case.reply-failed"
    data = json.loads(shown["data"])
    assert data["subject"] == stale_case
    change = data["data"]["change"]
    assert (change["actor"], change["details"]) == (
        "system:reply-expiry",
        {"reply_id": stale_reply, "platform_code": REPLY_EXPIRED, "attempts": 0},
    )
    assert change["reason"].startswith("expired: not delivered within 1 minute; ")

    failed = await desk.reply_of(stale_case)
    assert (failed["status"], failed["platform_code"], failed["reason"]) == ("failed", REPLY_EXPIRED, change["reason"])
    await asyncio.sleep(1)  # five more sweeps
    assert (await desk.reply_of(fresh_case))["status"] == "queued"

    # The channel service, back at last, refuses the old command the same way: the operator is not told twice.
    await desk.receipts(
        receipt(stale_case, stale_reply, DeliveryStatus.FAILED, attempts=0, code=REPLY_EXPIRED, reason="expired: …"),
        receipt(fresh_case, (await desk.reply_of(fresh_case))["id"], DeliveryStatus.DELIVERED, attempts=1),
    )
    await desk.reply_becomes(fresh_case, "delivered")
    assert [e.data.change.action for e in await desk.reply_events(stale_case)] == ["reply-failed"]


async def test_a_delivery_confirmed_after_expiry_wins_and_a_later_failure_does_not_undo_it(desk: Desk) -> None:
    (late_case, late_reply), (marker_case, marker_reply) = await desk.answered_cases(2)
    await desk.queued_long_ago(late_reply)
    await desk.reply_becomes(late_case, "failed")

    # The platform did take it, just before the TTL ended; its receipt comes after case-api gave up.
    await desk.receipts(receipt(late_case, late_reply, DeliveryStatus.DELIVERED, attempts=1))
    delivered = await desk.reply_becomes(late_case, "delivered")
    assert (delivered["attempts"], delivered["platform_code"], delivered["reason"]) == (1, None, None)

    # A stale failure for the same reply (a duplicate from another replica, say) is not believed over it; the
    # marker behind it on the same partition shows it was read.
    await desk.receipts(
        receipt(late_case, late_reply, DeliveryStatus.FAILED, attempts=2, code="-1", reason="WeChat is busy"),
        receipt(marker_case, marker_reply, DeliveryStatus.DELIVERED, attempts=1),
    )
    await desk.reply_becomes(marker_case, "delivered")
    assert (await desk.reply_of(late_case))["status"] == "delivered"
    assert [e.data.change.action for e in await desk.reply_events(late_case)] == ["reply-failed", "reply-delivered"]


async def test_the_platforms_failure_after_expiry_explains_it_without_telling_the_operator_twice(desk: Desk) -> None:
    (late_case, late_reply), (marker_case, marker_reply) = await desk.answered_cases(2)
    await desk.queued_long_ago(late_reply)
    await desk.reply_becomes(late_case, "failed")

    # The channel service did try, just before the TTL ended: WeChat refused it, and that receipt comes after
    # case-api gave up. The marker behind it on the same partition shows it was read.
    outside_window = "outside WeChat's reply window: it can reply again once the citizen writes"
    await desk.receipts(
        receipt(late_case, late_reply, DeliveryStatus.FAILED, attempts=1, code="45015", reason=outside_window),
        receipt(marker_case, marker_reply, DeliveryStatus.DELIVERED, attempts=1),
    )
    await desk.reply_becomes(marker_case, "delivered")
    failed = await desk.reply_of(late_case)
    assert (failed["status"], failed["attempts"], failed["platform_code"], failed["reason"]) == (
        "failed",
        1,
        "45015",
        outside_window,
    )
    announced = [(e.data.change.action, e.data.change.actor) for e in await desk.reply_events(late_case)]
    assert announced == [("reply-failed", expiry.ACTOR)]


async def test_one_batch_of_receipts_saying_delivered_then_failed_leaves_the_reply_delivered(desk: Desk) -> None:
    [(case_id, reply_id)] = await desk.answered_cases(1)
    await desk.receipts(
        receipt(case_id, reply_id, DeliveryStatus.DELIVERED, attempts=1),
        receipt(case_id, reply_id, DeliveryStatus.FAILED, attempts=1, code="outcome_unknown"),
        together=True,
    )
    await desk.reply_becomes(case_id, "delivered")
    await asyncio.sleep(1)  # nothing more to come: both were read in one poll
    assert (await desk.reply_of(case_id))["status"] == "delivered"
    assert [e.data.change.action for e in await desk.reply_events(case_id)] == ["reply-delivered"]


async def test_the_expiry_takes_stale_replies_in_batched_updates_and_spares_those_within_the_margin(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    ttl = timedelta(minutes=15)
    async with sessions() as session, session.begin():
        items = [routed(f"m{i}", sender=f"oCitizen{i}") for i in range(1, 7)]
        await intake_batch(session, items, tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
        cases = (await session.scalars(select(Case).order_by(Case.number))).all()
        ages = [timedelta(hours=3)] * 4 + [ttl + expiry.IN_FLIGHT_MARGIN / 2, timedelta(0)]
        replies = []
        for case, age in zip(cases, ages, strict=True):
            reply, command = build_reply(
                case_id=case.id,
                case_number=case.number,
                channel=case.channel,
                account_id=case.account_id,
                recipient_id="oCitizen",
                department_id=case.department_id,
                text="您好，已受理。",
                created_by="op1",
                now=now - age,
            )
            session.add(reply)
            await outbox.add(session, [command])
            replies.append(reply.id)
        start = int(await session.scalar(select(func.max(OutboxRecord.id))) or 0)

    updates = 0

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal updates
        updates += statement.lstrip().upper().startswith("UPDATE REPLIES")

    event.listen(Engine, "before_cursor_execute", count)
    try:
        expired = await expiry.expire_once(sessions, now=now, ttl=ttl, batch=3)
    finally:
        event.remove(Engine, "before_cursor_execute", count)

    assert (expired, updates) == (4, 2)  # 3 + 1, not one statement per reply
    async with sessions() as session:
        rows = {r.id: r for r in (await session.scalars(select(Reply))).all()}
        announced = (await session.scalars(select(OutboxRecord).where(OutboxRecord.id > start))).all()
    assert [rows[r].status for r in replies] == ["failed"] * 4 + ["queued", "queued"]
    assert {rows[r].platform_code for r in replies[:4]} == {REPLY_EXPIRED}
    assert all(rows[r].finished_at == now for r in replies[:4])
    events = [CaseEvent.from_bytes(row.value.encode()) for row in announced]
    assert sorted(e.subject for e in events) == sorted(str(c.id) for c in cases[:4])
    assert {e.type for e in events} == {"gov.inbox.case.reply-failed"}
    assert await expiry.expire_once(sessions, now=now, ttl=ttl) == 0


async def test_every_reply_case_api_queues_carries_its_deadline_from_case_apis_ttl(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The acknowledgement, an operator's answer and a progress reply: each command says until when it may be
    sent, counted from when case-api queued it with case-api's TTL, so no channel service applies its own."""
    ttl = timedelta(hours=1)  # case-api's; its channel services may keep their default 15 minutes
    notices = Notices(reply_ttl=ttl)
    async with sessions() as session, session.begin():
        await intake_batch(session, [routed("m1")], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY, notices=notices)
    async with sessions() as session, session.begin():
        case = (await session.scalars(select(Case))).one()
        actor = User(username="op1", role=Role.ADMIN.value)
        actions = CaseActions(session, user=actor, now=utcnow(), policy=POLICY, notices=notices)
        await actions.confirm(case)
        await actions.reply(case, text="您好，已责成物业整改。")
    async with sessions() as session, session.begin():
        await intake_batch(
            session, [routed("m2", text="查询")], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY, notices=notices
        )
    async with sessions() as session:
        queued = {r.id: r.created_at for r in (await session.scalars(select(Reply))).all()}
        values = (await session.scalars(select(OutboxRecord.value).where(OutboxRecord.topic == OUTBOUND_REPLIES))).all()

    commands = [ReplyCommandRecord.from_bytes(value.encode()).data for value in values]
    assert len(commands) == len(queued) == 3
    assert [c.expires_at for c in commands] == [queued[c.reply_id] + ttl for c in commands]


async def test_case_api_puts_its_own_ttl_into_an_operators_reply(desk: Desk) -> None:
    [(_, reply_id)] = await desk.answered_cases(1)
    engine = make_engine(desk.database_url)
    async with make_sessionmaker(engine)() as session:
        queued = await session.scalar(select(Reply.created_at).where(Reply.id == UUID(reply_id)))
        values = (await session.scalars(select(OutboxRecord.value).where(OutboxRecord.topic == OUTBOUND_REPLIES))).all()
    await engine.dispose()
    [command] = [
        c for c in (ReplyCommandRecord.from_bytes(v.encode()).data for v in values) if c.reply_id == UUID(reply_id)
    ]
    assert queued is not None and command.expires_at == queued + timedelta(seconds=TTL_S)
