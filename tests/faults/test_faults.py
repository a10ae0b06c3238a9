"""Break the router, the database and the broker while citizens write; nothing is lost or doubled."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_ADMIN_DSN, _drop_postgres_database, _fresh_postgres_database
from tests.faults.conftest import post_message, url, wait_for_cases

pytestmark = pytest.mark.faults

DURING, AFTER = 7_300_000_000_000_000_001, 7_300_000_000_000_000_002  # MsgIds the "platform" retries with


async def test_killing_the_router_mid_stream_loses_and_doubles_nothing(
    stack_factory: Any, client: httpx.AsyncClient
) -> None:
    stack = stack_factory()
    senders = [f"oKill{i:03d}" for i in range(120)]
    for i, sender in enumerate(senders):
        assert (await post_message(client, stack, sender, f"路灯坏了 第{i}条")).text == "success"
        if i == 40:
            stack.kill("router")  # a crash in the middle of routing
    stack.restart("router")
    page = await wait_for_cases(client, stack, expect=len(senders))
    await asyncio.sleep(2)  # anything redelivered after the restart has arrived by now
    page = await wait_for_cases(client, stack, expect=len(senders))
    assert page["total"] == len(senders)
    assert sorted(i["message_count"] for i in page["items"]) == [1] * len(page["items"])


async def test_a_database_outage_delays_cases_but_loses_none(stack_factory: Any, client: httpx.AsyncClient) -> None:
    name, database_url = await _fresh_postgres_database()
    try:
        stack = stack_factory(database_url=database_url)
        admin_conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            # The database goes away: no new connections, every open one cut.
            await admin_conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin_conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
            for i in range(20):
                # Webhooks keep answering: the broker holds the messages.
                assert (await post_message(client, stack, f"oDb{i}", f"停水了 {i}")).text == "success"
            health = await client.get(f"{url(stack, 'case-api')}/healthz")
            assert health.status_code == 503
            await asyncio.sleep(2)
            await admin_conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        finally:
            await admin_conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin_conn.close()
        page = await wait_for_cases(client, stack, expect=20)
        assert page["total"] == 20
        stack.stop()
    finally:
        await _drop_postgres_database(name)


async def test_a_broker_outage_is_503_then_resumes_without_restarting_services(
    stack_factory: Any, client: httpx.AsyncClient
) -> None:
    from inbox_dev.broker import Broker
    from shared.kafka import ensure_topics
    from shared.topics import Topics

    stack = stack_factory()
    assert (await post_message(client, stack, "oBefore", "修路噪音")).text == "success"
    await wait_for_cases(client, stack, expect=1)
    assert stack.broker is not None
    port, log_path = stack.broker.port, stack.broker.log_path
    stack.broker.stop()
    refused = await post_message(client, stack, "oDuring", "停电了", msg_id=DURING)
    assert refused.status_code == 503  # no "success": the platform will push it again
    # The broker comes back (empty: Tansu keeps nothing), topics are recreated; the services are not restarted.
    stack.broker = Broker(port, log_path=log_path.with_name("broker-2.log"))
    stack.broker.start()
    await ensure_topics(stack.broker.bootstrap_servers, Topics(stack.env["KAFKA_TOPIC_PREFIX"]).all(), partitions=4)
    # The refused push is retried with its MsgId, as WeChat does. The produce that timed out may still reach the
    # new broker from the producer's buffer; the retry must not make that a second message or case.
    for sender, text, msg_id in (("oDuring", "停电了", DURING), ("oAfter", "燃气泄漏", AFTER)):
        for _ in range(60):
            response = await post_message(client, stack, sender, text, msg_id=msg_id)
            if response.text == "success":
                break
            await asyncio.sleep(1)
        assert response.text == "success", sender
    page = await wait_for_cases(client, stack, expect=3, timeout=90)
    await asyncio.sleep(2)  # a late copy from the producer's buffer has arrived by now
    page = await wait_for_cases(client, stack, expect=3)
    assert page["total"] == 3
    assert sorted(i["message_count"] for i in page["items"]) == [1, 1, 1]
    assert not stack.exited()
