"""`GET /healthz` (200 only when every dependency answers, 503 otherwise) and `GET /metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[bool]]


def health_router(checks: Callable[[], Mapping[str, Check]]) -> APIRouter:
    """`checks` is called per request so it can read objects the lifespan created."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="200 when broker and database are reachable, 503 otherwise")
    async def healthz() -> JSONResponse:
        named = dict(checks())
        results = await asyncio.gather(*(check() for check in named.values()), return_exceptions=True)
        status = {
            name: ("ok" if result is True else "unreachable") for name, result in zip(named, results, strict=True)
        }
        healthy = all(v == "ok" for v in status.values())
        return JSONResponse({"status": "ok" if healthy else "unavailable", "checks": status}, 200 if healthy else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
