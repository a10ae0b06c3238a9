"""Request-scoped dependencies shared by every domain's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """GET and HEAD read without the write lock (SQLite, case_api.db); a GET that must also write something
    (a supervisor's read on the record) does it in a session of its own from `app.state.sessions`."""
    reading = request.method in ("GET", "HEAD")
    async with (request.app.state.read_sessions if reading else request.app.state.sessions)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
