"""ingest-weibo on port 8102: `python -m ingest_weibo`."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.contracts.v1 import Channel
from shared.webhooks import SignedQueries, create_ingest_app

from .sender import weibo_sender
from .settings import Settings, get_settings
from .webhook import router


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_ingest_app(
        settings=settings,
        channel=Channel.WEIBO,
        webhook_router=router,
        sender=weibo_sender(save_sender_box=settings.weibo_save_sender_box),
        transport=transport,
    )
    app.state.signed_queries = SignedQueries(channel=Channel.WEIBO, window_s=settings.webhook_max_age_s)
    return app
