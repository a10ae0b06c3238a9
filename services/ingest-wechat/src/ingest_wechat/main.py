"""ingest-wechat on port 8101: `python -m ingest_wechat` (or `uvicorn --factory ingest_wechat.main:create_app`)."""

from __future__ import annotations

from fastapi import FastAPI

from shared.contracts.v1 import Channel
from shared.webhooks import create_ingest_app

from .settings import Settings, get_settings
from .webhook import router


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_ingest_app(settings=settings or get_settings(), channel=Channel.WECHAT, webhook_router=router)
