"""case-api on port 8000: the REST API, and the consumer that turns routed messages into cases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

import structlog
from fastapi import FastAPI

from shared.health import health_router
from shared.kafka import broker_reachable, consume_batches, make_consumer, make_producer, stop_quietly
from shared.logging import configure_logging
from shared.taxonomy import load_taxonomy

from .cases.router import router as cases_router
from .catalog.service import seed_from_taxonomy
from .db import database_reachable, make_engine, make_sessionmaker
from .intake.handlers import IntakeHandler
from .settings import Settings, get_settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        engine = make_engine(settings.db.database_url, echo=settings.db.database_echo)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            await seed_from_taxonomy(session, taxonomy=load_taxonomy(settings.taxonomy_file))
        topics = settings.kafka.topics
        producer = make_producer(settings.kafka, client_id=settings.service_name)
        consumer = make_consumer(
            settings.kafka,
            topics.inbox_routed,
            group_id=settings.consumer_group,
            client_id=settings.service_name,
        )
        await producer.start()
        await consumer.start()
        handler = IntakeHandler(
            sessions=sessions,
            producer=producer,
            topics=topics,
            source=settings.service_name,
            tz=ZoneInfo(settings.timezone),
        )
        task = asyncio.create_task(consume_batches(consumer, handler, settings=settings.kafka), name="intake")
        app.state.engine, app.state.sessions, app.state.producer, app.state.intake_task = (
            engine,
            sessions,
            producer,
            task,
        )
        log.info("started", database=engine.url.render_as_string(hide_password=True), topic=topics.inbox_routed)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await stop_quietly(consumer, producer)
            await engine.dispose()

    async def consuming() -> bool:
        return not app.state.intake_task.done()

    app = FastAPI(title="case-api", version="1", lifespan=lifespan)
    app.include_router(cases_router)
    app.include_router(
        health_router(
            lambda: {
                "database": lambda: database_reachable(app.state.engine),
                "broker": lambda: broker_reachable(app.state.producer.client),
                "consumer": consuming,
            }
        )
    )
    return app
