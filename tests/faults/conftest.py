"""Fault tests start the product as processes, break a part of it, and check that nothing a platform
delivered is lost or doubled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from inbox_dev.ports import free_port
from inbox_dev.simulator.wechat import WeChatAccount, push, text_xml
from inbox_dev.stack import DEFAULT_SERVICES, Service, Stack

WECHAT = WeChatAccount(token="fault-token", app_id="wxfault000000001")
ADMIN_PASSWORD = "fault-admin-password"


def make_stack(work: Path, *, database_url: str | None = None) -> Stack:
    accounts = work / "accounts.yaml"
    accounts.write_text(
        f"accounts:\n  - {{id: city, channel: wechat, name: 微信, token: {WECHAT.token}, app_id: {WECHAT.app_id},"
        " acknowledge: false}\n",
        encoding="utf-8",
    )
    services = tuple(Service(s.name, s.module, free_port()) for s in DEFAULT_SERVICES)
    return Stack(
        services=services,
        broker_port=free_port(),
        log_dir=work / "log",
        echo=False,
        env={
            "INBOX_ACCOUNTS_FILE": str(accounts),
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{work / 'inbox.db'}",
            "KAFKA_TOPIC_PREFIX": f"f{uuid.uuid4().hex[:6]}.",
            "INBOX_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "INBOX_OUTBOUND_ENABLED": "false",
            "INBOX_OUTBOUND_LEDGER_PATH": str(work / "{service}-deliveries.db"),
        },
    )


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Stack] = []

    def start(**kwargs: Any) -> Stack:
        stack = make_stack(tmp_path, **kwargs)
        try:
            # Stack.start runs its own event loop (topic creation): keep it off the test's loop.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(stack.start, timeout=60).result()
        except Exception:
            stack.stop()
            raise
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()


def url(stack: Stack, service: str) -> str:
    return f"http://127.0.0.1:{next(s.port for s in stack.services if s.name == service)}"


async def post_message(
    client: httpx.AsyncClient, stack: Stack, sender: str, text: str, *, msg_id: int | None = None
) -> httpx.Response:
    """One push; pass the same `msg_id` to retry a push the way WeChat does."""
    query, body = push(WECHAT, text_xml(WECHAT, sender=sender, text=text, msg_id=msg_id))
    return await client.post(f"{url(stack, 'ingest-wechat')}/webhooks/wechat/city", params=query, content=body)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def admin(client: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    response = await client.post(
        f"{url(stack, 'case-api')}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def wait_for_cases(client: httpx.AsyncClient, stack: Stack, expect: int, timeout: float = 60) -> dict[str, Any]:
    headers = await admin(client, stack)
    deadline = time.monotonic() + timeout
    page: dict[str, Any] = {}
    while time.monotonic() < deadline:
        page = (
            await client.get(f"{url(stack, 'case-api')}/api/v1/cases", params={"limit": 200}, headers=headers)
        ).json()
        if page.get("total", 0) >= expect:
            break
        await asyncio.sleep(0.3)
    return page
