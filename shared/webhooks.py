"""The HTTP side every ingest service shares: body limits, and the app with its producer, health checks and,
when the channel provides a sender, the delivery of replies (shared.outbound)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol

import httpx
import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Request

from .accounts import load_accounts
from .contracts.v1 import Channel
from .health import Check, health_router
from .ingest import InboundPublisher
from .kafka import broker_reachable, make_producer, stop_quietly
from .logging import configure_logging
from .outbound import SenderFactory, running_delivery
from .settings import CommonSettings, KafkaSettings, OutboundSettings

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


def create_ingest_app(
    *,
    settings: CommonSettings,
    channel: Channel,
    webhook_router: APIRouter,
    sender: SenderFactory | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The ingest app. With a `sender` (and `outbound.enabled`), it also delivers this channel's replies;
    `transport` goes under the platform HTTP client (tests may pass an `httpx.MockTransport`)."""
    ingest: IngestSettings = settings  # type: ignore[assignment]
    outbound: OutboundSettings | None = getattr(settings, "outbound", None)
    delivering = sender is not None and outbound is not None and outbound.enabled

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(ingest.service_name, level=settings.log_level, fmt=settings.log_format)
        accounts = load_accounts(settings.accounts_file)
        producer = make_producer(ingest.kafka, client_id=ingest.service_name)
        await producer.start()
        app.state.accounts = accounts
        app.state.producer = producer
        app.state.delivery = None
        app.state.publisher = InboundPublisher(
            producer,
            topic=ingest.kafka.topics.inbox_messages,
            source=ingest.service_name,
            timeout_s=ingest.kafka.request_timeout_ms / 1000,
        )
        try:
            async with AsyncExitStack() as stack:
                if delivering:
                    assert sender is not None and outbound is not None
                    app.state.delivery = await stack.enter_async_context(
                        running_delivery(
                            channel=channel,
                            service=ingest.service_name,
                            accounts=accounts,
                            sender=sender,
                            producer=producer,
                            kafka=ingest.kafka,
                            settings=outbound,
                            transport=transport,
                        )
                    )
                log.info(
                    "started",
                    accounts=len(accounts.for_channel(channel)),
                    topic=ingest.kafka.topics.inbox_messages,
                    delivering=delivering,
                )
                yield
        finally:
            # After the delivery consumer stopped: it publishes receipts through this producer.
            await stop_quietly(producer)

    async def delivering_alive() -> bool:
        return app.state.delivery is not None and bool(app.state.delivery.alive)

    def checks() -> dict[str, Check]:
        named: dict[str, Check] = {"broker": lambda: broker_reachable(app.state.producer.client)}
        if delivering:
            named["delivery"] = delivering_alive
        return named

    app = FastAPI(title=ingest.service_name, lifespan=lifespan)
    app.state.settings = settings
    app.include_router(webhook_router)
    app.include_router(health_router(checks))
    return app
