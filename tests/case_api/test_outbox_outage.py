"""The outbox: a change committed while the broker is down is announced once it is back, in order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from case_api.main import create_app
from case_api.outbox.models import OutboxRecord
from case_api.settings import Settings
from inbox_dev.broker import Broker
from inbox_dev.ports import free_port
from shared.contracts.v1 import CaseEvent
from shared.kafka import ensure_topics
from shared.settings import DatabaseSettings
from tests.asgi import serving
from tests.case_api.factories import POLICY, bearer, routed
from tests.conftest import kafka_settings_for
from tests.kafka_helpers import read_topic


async def unpublished(database_url: str) -> int:
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session:
        count = await session.scalar(select(func.count()).where(OutboxRecord.published_at.is_(None)))
    await engine.dispose()
    return int(count or 0)


async def test_events_committed_during_a_broker_outage_are_published_after_it(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    broker = Broker(port, log_path=tmp_path / "broker-1.log")
    broker.start()
    kafka = kafka_settings_for(broker).model_copy(update={"request_timeout_ms": 1500})
    await ensure_topics(kafka.bootstrap_servers, kafka.topics.all(), partitions=1)
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await intake_batch(session, [routed("m1")], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    await engine.dispose()
    settings = Settings(kafka=kafka, db=DatabaseSettings(DATABASE_URL=database_url))
    try:
        async with serving(create_app(settings)) as client:
            client.headers["Authorization"] = await bearer(client, "admin", "admin")
            [case] = (await client.get("/api/v1/cases")).json()["items"]
            # The broker stops answering (a hung or unreachable broker). Not a restart: Tansu forgets its topics
            # on one and acks writes to the vanished topics into the void (KAFKA-LOCAL.md), which Kafka does not.
            assert broker.process is not None
            os.kill(broker.process.pid, signal.SIGSTOP)
            # The API keeps working: the change and its event are committed together, the event waits.
            for action, body in (("accept", {}), ("classify", {"category_id": "housing-property"}), ("dispatch", {})):
                response = await client.post(f"/api/v1/cases/{case['id']}/{action}", json=body)
                assert response.status_code == 200, response.text
            assert await unpublished(database_url) >= 3
            os.kill(broker.process.pid, signal.SIGCONT)  # back
            for _ in range(200):
                if await unpublished(database_url) == 0:
                    break
                await asyncio.sleep(0.1)
            assert await unpublished(database_url) == 0
            # Everything there is (more than four only if a produce the broker took late was also sent again).
            records = await read_topic(kafka, kafka.topics.case_events, expect=100, timeout=4)
    finally:
        if broker.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(broker.process.pid, signal.SIGCONT)
        broker.stop()
    types = [CaseEvent.from_bytes(r.value).type.removeprefix("gov.inbox.case.") for r in records]
    # "created" went out before the outage; the rest arrive after it, in order (at least once: a produce the
    # hung broker took before it stopped answering may arrive along with its retry).
    assert list(dict.fromkeys(types)) == ["created", "accepted", "classified", "dispatched"]
