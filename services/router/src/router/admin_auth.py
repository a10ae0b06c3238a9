"""Who may use /admin: staff signed in to case-api. The router keeps no users of its own; it asks case-api
(`GET /api/v1/auth/me`) whose bearer token it was handed, so a disabled account or a changed role counts at
once. Admin calls are rare (a look at the model, a correction, a retrain): one extra request each is nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from fastapi import HTTPException, Request

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def make_case_api_client(base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=5.0)


def require_role(*roles: str) -> Callable[[Request], Coroutine[Any, Any, str]]:
    """A dependency answering 401 without a valid case-api token, 403 for other roles; returns the username."""
    allowed = set(roles)

    async def check(request: Request) -> str:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise HTTPException(401, "sign in to case-api and send its bearer token", headers=_CHALLENGE)
        client: httpx.AsyncClient = request.app.state.case_api
        try:
            answer = await client.get("/api/v1/auth/me", headers={"Authorization": header})
        except httpx.HTTPError as exc:
            raise HTTPException(503, f"case-api, which checks sign-ins, is unreachable: {type(exc).__name__}") from exc
        if answer.status_code == 401:
            raise HTTPException(401, "token is invalid or expired", headers=_CHALLENGE)
        if answer.status_code != 200:
            raise HTTPException(503, f"case-api could not check the sign-in (HTTP {answer.status_code})")
        user = answer.json()
        if user.get("role") not in allowed:
            needed = ", ".join(sorted(allowed))
            raise HTTPException(403, f"role {user.get('role')} may not do this (needs {needed})")
        return str(user.get("username", ""))

    return check
