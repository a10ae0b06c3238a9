"""A real case-api to sign in to, for the router's /admin (which asks case-api who a token belongs to)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from case_api.main import create_app as create_case_api
from case_api.migrate import upgrade
from case_api.settings import Settings as CaseApiSettings
from shared.settings import DatabaseSettings, KafkaSettings
from tests.asgi import serving
from tests.case_api.factories import bearer

PASSWORD = "correct-horse-9"


@dataclass
class CaseApi:
    transport: httpx.AsyncBaseTransport
    client: httpx.AsyncClient  # signed in as the built-in admin

    async def token(self, role: str) -> dict[str, str]:
        """Headers of a new user with this role ("admin" is the built-in administrator)."""
        if role == "admin":
            return {"Authorization": await bearer(self.client, "admin", "admin")}
        user = {"username": f"{role}-1", "password": PASSWORD, "role": role}
        if role == "handler":
            user["department_id"] = "housing"
        created = await self.client.post("/api/v1/users", json=user)
        assert created.status_code == 201, created.text
        return {"Authorization": await bearer(self.client, user["username"], PASSWORD)}


@asynccontextmanager
async def case_api(kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[CaseApi]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'case-api.db'}"
    await asyncio.to_thread(upgrade, url)
    app = create_case_api(CaseApiSettings(kafka=kafka, db=DatabaseSettings(DATABASE_URL=url)))
    async with serving(app) as client:
        client.headers["Authorization"] = await bearer(client, "admin", "admin")
        yield CaseApi(httpx.ASGITransport(app=app), client)
