"""router: consumes inbox.messages.v1, produces inbox.routed.v1; port 8200 serves /healthz, /metrics and /admin.

With INBOX_ROUTER_MODEL_DIR set, the learned classifier backs the keyword rules (policy.py); without it the
router runs on rules alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI

from shared.health import health_router
from shared.kafka import broker_reachable, consume_batches, make_consumer, make_producer, stop_quietly
from shared.logging import configure_logging

from . import admin
from .admin_auth import make_case_api_client
from .classifier import Classifier
from .handlers import RouteHandler
from .learning import start_learning
from .live_model import LiveModel
from .model import DataError, RetrainError, TrainingError
from .policy import ModelPolicy
from .settings import Settings, get_settings

log = structlog.get_logger(__name__)


async def retrain_every(retrainer: admin.Retrainer, period_s: float) -> None:
    """Scheduled retraining; turn it on in one replica only (the others pick the new model up from the directory)."""
    while True:
        await asyncio.sleep(period_s)
        if retrainer.busy:
            continue
        try:
            outcome = await retrainer.run()
        except (RetrainError, DataError, TrainingError) as exc:
            log.warning("scheduled_retrain_skipped", reason=str(exc))
            continue
        except Exception:
            log.exception("scheduled_retrain_failed")
            continue
        log.info("scheduled_retrain", **outcome)


def create_app(
    settings: Settings | None = None, *, case_api_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`case_api_transport` goes under the client that checks /admin sign-ins (tests pass case-api's app)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        live_model = None
        if settings.router_model_dir is not None:
            live_model = await asyncio.to_thread(
                LiveModel, settings.router_model_dir, reload_every_s=settings.taxonomy_reload_s
            )
        classifier = Classifier(
            settings.taxonomy_file,
            reload_every_s=settings.taxonomy_reload_s,
            model=live_model,
            policy=ModelPolicy(
                min_confidence=settings.router_model_min_confidence,
                override_confidence=settings.router_model_override_confidence,
            ),
        )
        retrainer = admin.Retrainer(classifier, tolerance=settings.router_retrain_tolerance)
        app.state.classifier, app.state.retrainer = classifier, retrainer
        app.state.case_api = make_case_api_client(settings.case_api_url, case_api_transport)
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
        tasks, consumers = [task], [consumer]
        if live_model is not None and settings.router_learn_from_case_events:
            learning_consumer, learning = await start_learning(
                settings=settings, classifier=classifier, live_model=live_model, producer=producer
            )
            tasks.append(learning)
            consumers.insert(0, learning_consumer)
        if live_model is not None and settings.router_retrain_every_s > 0:
            tasks.append(asyncio.create_task(retrain_every(retrainer, settings.router_retrain_every_s), name="retrain"))
        model = live_model.model if live_model is not None else None
        log.info(
            "started",
            taxonomy=classifier.rules.taxonomy.version,
            model=model.version if model is not None else "rules-only",
            topic=topics.inbox_messages,
        )
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await stop_quietly(*consumers, producer)
            await app.state.case_api.aclose()

    async def consuming() -> bool:
        return not app.state.consumer_task.done()

    app = FastAPI(title="router", lifespan=lifespan)
    app.include_router(admin.router)
    app.include_router(
        health_router(lambda: {"broker": lambda: broker_reachable(app.state.producer.client), "consumer": consuming})
    )
    return app
