"""case-api on port 8000: the REST API, the consumers that turn routed messages into cases and delivery
receipts into reply statuses, and the outbox publisher that announces every committed change on Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.accounts import AccountRegistry, load_accounts
from shared.health import health_router
from shared.kafka import broker_reachable, consume_batches, make_consumer, make_producer, stop_quietly
from shared.logging import configure_logging
from shared.taxonomy import load_taxonomy

from .auth.router import router as auth_router
from .auth.service import ensure_admin
from .auth.throttle import LoginThrottle
from .cases.deadlines import CalendarPolicy
from .cases.router import router as cases_router
from .catalog.router import router as catalog_router
from .catalog.service import seed_from_taxonomy
from .citizen.notices import Notices
from .contacts.router import router as contacts_router
from .db import database_reachable, make_engine, make_sessionmaker
from .intake.handlers import IntakeHandler
from .intake.service import AutoDispatch
from .outbox.publisher import OutboxPublisher
from .queue.hub import OutboxHub
from .queue.router import router as queue_router
from .replies.receipts import ReceiptHandler
from .replies.router import router as replies_router
from .settings import Settings, get_settings
from .sla import SlaCalculator, check_years_ahead
from .supervision.router import router as supervision_router
from .supervision.stats_cache import StatsCache
from .supervision.sweeper import Sweeper

log = structlog.get_logger(__name__)


def _supervise(task: asyncio.Task[None]) -> None:
    def done(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("background_task_died", task=t.get_name(), error=repr(t.exception()))

    task.add_done_callback(done)


class RefuseNul:
    """No text we store may contain NUL (PostgreSQL cannot hold it): refuse it at the door with a reason.

    Plain ASGI, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware costs a task and memory streams
    on every request (benchmarks/NOTES.md); this reads a body only for the methods that carry one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = unquote(f"{scope['path']}?{scope['query_string'].decode('latin-1')}")
        if "\x00" in target:
            await self._refuse(scope, receive, send)
            return
        if scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"\x00" in body or b"\\u0000" in body:
            await self._refuse(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": "NUL characters are not allowed"}, status_code=400)(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        engine = make_engine(settings.db.database_url, echo=settings.db.database_echo)
        sessions = make_sessionmaker(engine)
        # GET requests read without taking SQLite's write lock; on PostgreSQL one engine serves both.
        read_engine = (
            make_engine(settings.db.database_url, echo=settings.db.database_echo, read_only=True)
            if engine.dialect.name == "sqlite"
            else engine
        )
        taxonomy = load_taxonomy(settings.taxonomy_file)
        async with sessions() as session:
            await seed_from_taxonomy(session, taxonomy=taxonomy)
            await ensure_admin(session, username=settings.admin_user, password=settings.admin_password)
        # Deadlines on the business calendar; a typo in sla.yaml's category ids fails start-up, not a case.
        policy = CalendarPolicy(
            SlaCalculator.from_settings(
                settings.sla, categories=list(taxonomy.categories), request_types=taxonomy.request_types
            )
        )
        # Warn now, not when the first deadline lands there, about years whose holidays nobody has entered.
        check_years_ahead(policy.calculator.calendar, calendar_file=settings.sla.calendar_file)
        accounts = load_accounts(settings.accounts_file) if settings.accounts_file.exists() else AccountRegistry([])
        notices = Notices(
            acknowledge=settings.acknowledge,
            request_rating=settings.request_rating,
            rating_window=timedelta(days=settings.rating_window_days),
            low_rating=settings.low_rating,
            low_rating_action=settings.low_rating_action,
            accounts=accounts,
            secret=settings.secret_key,
            reply_ttl=settings.reply.ttl,
        )
        topics = settings.kafka.topics
        producer = make_producer(settings.kafka, client_id=settings.service_name)
        intake_consumer = make_consumer(
            settings.kafka, topics.inbox_routed, group_id=settings.consumer_group, client_id=settings.service_name
        )
        receipt_consumer = make_consumer(
            settings.kafka,
            topics.outbound_receipts,
            group_id=f"{settings.consumer_group}-receipts",
            client_id=settings.service_name,
        )
        await producer.start()
        await intake_consumer.start()
        await receipt_consumer.start()
        publisher = OutboxPublisher(
            engine=engine,
            sessions=sessions,
            producer=producer,
            topics=topics,
            batch=settings.outbox_batch,
            idle_s=settings.outbox_idle_s,
            retention=timedelta(days=settings.outbox_retention_days) if settings.outbox_retention_days > 0 else None,
        )
        intake = IntakeHandler(
            sessions=sessions,
            producer=producer,
            topics=topics,
            source=settings.service_name,
            tz=ZoneInfo(settings.timezone),
            policy=policy,
            on_commit=publisher.wakeup.set,
            notices=notices,
            auto_dispatch=(
                AutoDispatch(settings.auto_dispatch_min_confidence)
                if settings.auto_dispatch_min_confidence is not None
                else None
            ),
        )
        receipts = ReceiptHandler(
            sessions=sessions, producer=producer, source=settings.service_name, on_commit=publisher.wakeup.set
        )
        tasks = [
            asyncio.create_task(
                consume_batches(
                    intake_consumer,
                    intake,
                    settings=settings.kafka,
                    dead_letters=producer,
                    service=settings.service_name,
                ),
                name="intake",
            ),
            asyncio.create_task(
                consume_batches(
                    receipt_consumer,
                    receipts,
                    settings=settings.kafka,
                    dead_letters=producer,
                    service=settings.service_name,
                ),
                name="receipts",
            ),
            asyncio.create_task(publisher.run(), name="outbox"),
            asyncio.create_task(
                Sweeper(
                    engine=engine,
                    sessions=sessions,
                    interval_s=settings.sla_sweep_interval_s,
                    auto_escalate=settings.sla_auto_escalate,
                    on_commit=publisher.wakeup.set,
                    reply_ttl=settings.reply.ttl,
                ).run(),
                name="sla-sweeper",
            ),
        ]
        read_sessions = make_sessionmaker(read_engine)
        # Read-only sessions: on SQLite the others begin IMMEDIATE and would queue each read behind intake's writes.
        hub = OutboxHub(read_sessions, publisher.wakeup, poll_s=settings.outbox_idle_s)
        tasks.append(asyncio.create_task(hub.run(), name="live-hub"))
        for task in tasks:
            _supervise(task)
        app.state.engine, app.state.sessions, app.state.producer = engine, sessions, producer
        app.state.read_sessions, app.state.live_hub = read_sessions, hub
        app.state.tasks, app.state.outbox_publisher, app.state.deadline_policy = tasks, publisher, policy
        app.state.notices, app.state.request_types = notices, taxonomy.request_types
        log.info("started", database=engine.url.render_as_string(hide_password=True), topic=topics.inbox_routed)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await stop_quietly(intake_consumer, receipt_consumer, producer)
            await engine.dispose()
            await read_engine.dispose()

    async def background_tasks_alive() -> bool:
        return all(not t.done() for t in app.state.tasks)

    app = FastAPI(
        title="case-api",
        version="1",
        lifespan=lifespan,
        description="The system of record: cases, the operators' queue, contacts, departments.",
    )
    app.state.settings = settings
    app.add_middleware(RefuseNul)
    app.state.login_throttle = LoginThrottle()
    # Six digits are a million guesses per number: enough for a citizen's typos, not for walking through them.
    app.state.tracking_throttle = LoginThrottle(max_failures=20, window_s=600)
    app.state.stats_cache = StatsCache(settings.stats_cache_seconds)
    app.state.public_stats_gate = asyncio.Semaphore(1)
    for router in (
        auth_router,
        cases_router,
        queue_router,
        contacts_router,
        catalog_router,
        replies_router,
        supervision_router,
    ):
        app.include_router(router)
    app.include_router(
        health_router(
            lambda: {
                "database": lambda: database_reachable(app.state.engine),
                "broker": lambda: broker_reachable(app.state.producer.client),
                "consumer": background_tasks_alive,
            }
        )
    )
    return app
