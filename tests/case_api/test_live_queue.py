"""Live queues (server-sent events) stay open for a shift; many of them must not starve other requests."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import uvicorn

from case_api.main import create_app
from case_api.settings import Settings
from inbox_dev.ports import free_port
from shared.settings import DatabaseSettings, KafkaSettings
from tests.case_api.factories import bearer

OPERATORS = 30  # more than the database pool holds (10 + 10 overflow on PostgreSQL, 5 + 10 on SQLite)


async def test_thirty_open_live_queues_leave_the_api_answering(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            headers = {"Authorization": await bearer(client, "admin", "admin")}
            async with contextlib.AsyncExitStack() as streams:
                for _ in range(OPERATORS):
                    live = await streams.enter_async_context(
                        client.stream("GET", "/api/v1/queue/events", headers=headers)
                    )
                    assert live.status_code == 200
                # Every stream is open; an operator's next page still loads at once.
                page = await client.get("/api/v1/queue", headers=headers, timeout=5)
                assert page.status_code == 200 and page.json()["items"] == []
    finally:
        server.should_exit = True
        await serving
