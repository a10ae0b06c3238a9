"""case-api through HTTP with its real lifespan: the intake consumer on a real broker, a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from case_api.main import create_app
from case_api.settings import Settings
from shared.contracts.v1 import Channel, RoutedMessageRecord
from shared.settings import DatabaseSettings, KafkaSettings
from tests.asgi import serving
from tests.case_api.factories import POLICY, bearer, routed


@pytest.fixture
async def client(database_url: str, kafka_settings: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    async with serving(create_app(settings)) as c:
        c.headers["Authorization"] = await bearer(c, "admin", "admin")
        yield c


async def seed(database_url: str, batch: list) -> None:
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await intake_batch(session, batch, tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    await engine.dispose()


async def wait_for_total(client: httpx.AsyncClient, total: int, timeout: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await client.get("/api/v1/cases")).json()
        if body["total"] >= total or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.1)


async def test_routed_records_on_the_topic_become_cases(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for item in (
            routed("m1", sender="a"),
            routed("m2", sender="a", text="补充：已经三个月了"),
            routed("m3", sender="b"),
        ):
            record = RoutedMessageRecord.wrap(item, source="router")
            await producer.send_and_wait(
                kafka_settings.topics.inbox_routed, record.to_bytes(), key=item.message.contact_key.encode()
            )
        await producer.send_and_wait(kafka_settings.topics.inbox_routed, b'{"half": "a record"}', key=b"x")
    finally:
        await producer.stop()
    body = await wait_for_total(client, 2)
    assert body["total"] == 2
    by_sender = {item["message_count"]: item for item in body["items"]}
    assert set(by_sender) == {1, 2}
    detail = (await client.get(f"/api/v1/cases/{by_sender[2]['id']}")).json()
    assert [m["text"] for m in detail["messages"]] == ["小区物业乱收费", "补充：已经三个月了"]
    assert detail["contact"]["sender_id"] == "a"
    assert detail["proposal"]["department"] == "housing"
    assert detail["proposal"]["explanation"].startswith("keyword rule")


async def test_list_pages_with_a_cursor_and_filters(client: httpx.AsyncClient, database_url: str) -> None:
    await seed(
        database_url,
        [routed(f"m{i}", sender=f"s{i}") for i in range(5)]
        + [routed("w1", sender="w", channel=Channel.WEIBO, account="city-weibo")],
    )
    first = (await client.get("/api/v1/cases", params={"limit": 4})).json()
    assert first["total"] == 6 and len(first["items"]) == 4 and first["next_cursor"]
    second = (await client.get("/api/v1/cases", params={"limit": 4, "cursor": first["next_cursor"]})).json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    ids = [c["id"] for c in first["items"] + second["items"]]
    assert len(set(ids)) == 6
    created = [c["created_at"] for c in first["items"] + second["items"]]
    assert created == sorted(created, reverse=True)
    weibo = (await client.get("/api/v1/cases", params={"channel": "weibo"})).json()
    assert weibo["total"] == 1 and weibo["items"][0]["channel"] == "weibo"
    housing = (await client.get("/api/v1/cases", params={"department_id": "housing"})).json()
    assert housing["total"] == 6


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/api/v1/cases/00000000-0000-0000-0000-000000000000", 404, "no case"),
        ("/api/v1/cases/not-a-uuid", 422, "uuid"),
        ("/api/v1/cases?cursor=garbage", 400, "cursor"),
        ("/api/v1/cases?status=lost", 422, "status"),
        ("/api/v1/cases?limit=100000", 422, "limit"),
    ],
)
async def test_bad_requests_say_why(client: httpx.AsyncClient, path: str, status: int, reason: str) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert reason in response.text.lower()


async def test_health_checks_database_broker_and_consumer(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "consumer": "ok"}
