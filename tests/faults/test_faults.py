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
    refused = await post_message(client, stack, "oDuring", "停电了")
    assert refused.status_code == 503  # the platform retries later; nothing was half-written
    # The broker comes back (empty: Tansu keeps nothing), topics are recreated; the services are not restarted.
    stack.broker = Broker(port, log_path=log_path.with_name("broker-2.log"))
    stack.broker.start()
    await ensure_topics(stack.broker.bootstrap_servers, Topics(stack.env["KAFKA_TOPIC_PREFIX"]).all(), partitions=4)
    for _ in range(60):
        response = await post_message(client, stack, "oAfter", "燃气泄漏")
        if response.text == "success":
            break
        await asyncio.sleep(1)
    assert response.text == "success"
    page = await wait_for_cases(client, stack, expect=2, timeout=90)
    assert page["total"] == 2
    assert not stack.exited()
