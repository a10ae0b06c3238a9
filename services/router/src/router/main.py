"""router: consumes inbox.messages.v1, produces inbox.routed.v1; port 8200 serves /healthz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from shared.health import health_router
from shared.kafka import broker_reachable, consume_batches, make_consumer, make_producer, stop_quietly
from shared.logging import configure_logging

from .classifier import Classifier
from .handlers import RouteHandler
from .settings import Settings, get_settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        classifier = Classifier(settings.taxonomy_file, reload_every_s=settings.taxonomy_reload_s)
        topics = settings.kafka.topics
        producer = make_producer(settings.kafka, client_id=settings.service_name)
        consumer = make_consumer(
            settings.kafka,
            topics.inbox_messages,
            group_id=settings.consumer_group,
            client_id=settings.service_name,
        )
        await producer.start()
        await consumer.start()
        handler = RouteHandler(classifier=classifier, producer=producer, topics=topics, source=settings.service_name)
        task = asyncio.create_task(
            consume_batches(
                consumer, handler, settings=settings.kafka, dead_letters=producer, service=settings.service_name
            ),
            name="route",
        )
        app.state.producer, app.state.consumer_task = producer, task
        log.info("started", taxonomy=classifier.rules.taxonomy.version, topic=topics.inbox_messages)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await stop_quietly(consumer, producer)

    async def consuming() -> bool:
        return not app.state.consumer_task.done()

    app = FastAPI(title="router", lifespan=lifespan)
    app.include_router(
        health_router(lambda: {"broker": lambda: broker_reachable(app.state.producer.client), "consumer": consuming})
    )
    return app
