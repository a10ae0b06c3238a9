"""ingest-alipay on port 8103: `python -m ingest_alipay`."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.contracts.v1 import Channel
from shared.webhooks import create_ingest_app

from .sender import alipay_sender
from .settings import Settings, get_settings
from .webhook import router


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_ingest_app(
        settings=settings,
        channel=Channel.ALIPAY,
        webhook_router=router,
        sender=alipay_sender(chat=settings.alipay_reply_in_chat),
        transport=transport,
    )
