"""The HTTP side every ingest service shares: body limits, and the app with its producer and health checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Request

from .accounts import load_accounts
from .contracts.v1 import Channel
from .health import health_router
from .ingest import InboundPublisher
from .kafka import broker_reachable, make_producer, stop_quietly
from .logging import configure_logging
from .settings import CommonSettings, KafkaSettings

log = structlog.get_logger(__name__)


class IngestSettings(Protocol):
    service_name: str
    max_body_bytes: int
    kafka: KafkaSettings


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) anything over `limit` bytes before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def create_ingest_app(*, settings: CommonSettings, channel: Channel, webhook_router: APIRouter) -> FastAPI:
    ingest: IngestSettings = settings  # type: ignore[assignment]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(ingest.service_name, level=settings.log_level, fmt=settings.log_format)
        accounts = load_accounts(settings.accounts_file)
        producer = make_producer(ingest.kafka, client_id=ingest.service_name)
        await producer.start()
        app.state.accounts = accounts
        app.state.producer = producer
        app.state.publisher = InboundPublisher(
            producer,
            topic=ingest.kafka.topics.inbox_messages,
            source=ingest.service_name,
            timeout_s=ingest.kafka.request_timeout_ms / 1000,
        )
        log.info("started", accounts=len(accounts.for_channel(channel)), topic=ingest.kafka.topics.inbox_messages)
        try:
            yield
        finally:
            await stop_quietly(producer)

    app = FastAPI(title=ingest.service_name, lifespan=lifespan)
    app.state.settings = settings
    app.include_router(webhook_router)
    app.include_router(health_router(lambda: {"broker": lambda: broker_reachable(app.state.producer.client)}))
    return app
