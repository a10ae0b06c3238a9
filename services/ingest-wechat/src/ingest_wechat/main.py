"""ingest-wechat on port 8101: `python -m ingest_wechat` (or `uvicorn --factory ingest_wechat.main:create_app`)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.contracts.v1 import Channel
from shared.webhooks import SignedQueries, create_ingest_app

from .sender import wechat_sender
from .settings import Settings, get_settings
from .webhook import router


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_ingest_app(
        settings=settings,
        channel=Channel.WECHAT,
        webhook_router=router,
        sender=wechat_sender(token_refresh_margin_s=settings.wechat_token_refresh_margin_s),
        transport=transport,
    )
    app.state.signed_queries = SignedQueries(channel=Channel.WECHAT, window_s=settings.webhook_max_age_s)
    return app
