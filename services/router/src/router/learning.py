"""Learning from operators: their classifications, taken from case events, kept as training data.

Assumed event shape (case-api's `classify` action; not final, so this consumer is off by default):
- `type` is `gov.inbox.case.classified` (set or corrected, also via "confirm") or `gov.inbox.case.reclassified`;
- `data.change.details.category_id` is the category the operator chose (else `data.case.category_id`);
- `data.change.details.text` is the text the operator classified (else `data.case.subject`, else `data.case.text`);
- `data.change.details.via == "confirm"` marks a one-click confirmation of the router's proposal, and
  `data.change.details.corrected` a proposal the operator changed.
An event without a text or a category teaches nothing and is skipped (logged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.contracts.v1 import CaseEvent
from shared.kafka import consume_batches, make_consumer, parse_or_dead_letter

from .classifier import Classifier
from .live_model import LiveModel
from .model import Correction, CorrectionStore, ModelDir
from .policy import model_label_for
from .settings import Settings

log = structlog.get_logger(__name__)

CLASSIFIED_TYPES = frozenset({"gov.inbox.case.classified", "gov.inbox.case.reclassified"})


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def correction_from_case_event(event: CaseEvent) -> Correction | None:
    if event.type not in CLASSIFIED_TYPES:
        return None
    details, case = event.data.change.details, event.data.case
    label = _text(details.get("category_id")) or _text(case.get("category_id"))
    text = _text(details.get("text")) or _text(case.get("subject")) or _text(case.get("text"))
    if label is None or text is None:
        log.info("classification_without_text_or_category", event_id=str(event.id), case_id=event.subject)
        return None
    if details.get("via") == "confirm":
        source = "confirm"
    elif details.get("corrected"):
        source = "correction"
    else:
        source = "operator"
    return Correction(text=text, label=label, source=source, at=event.time.isoformat(), ref=str(event.id))


class CorrectionHandler:
    """case.events.v1 batches → `data/corrections.jsonl` of the model directory.

    `label_for` maps a taxonomy category id to the model's label (a model trained on category names learns
    names); appends are idempotent enough: retraining keys corrections by text.
    """

    def __init__(
        self,
        *,
        model_dir: Path,
        producer: AIOKafkaProducer,
        source: str,
        label_for: Callable[[str], str] = lambda category_id: category_id,
    ) -> None:
        self._store = CorrectionStore(ModelDir(model_dir).corrections)
        self._producer = producer
        self._source = source
        self._label_for = label_for

    async def __call__(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        parsed = await parse_or_dead_letter(records, CaseEvent, producer=self._producer, service=self._source)
        kept = [
            replace(c, label=self._label_for(c.label))
            for c in (correction_from_case_event(item.value) for item in parsed)
            if c is not None
        ]
        if kept:
            await asyncio.to_thread(self._record_all, kept)
            log.info("corrections_recorded", count=len(kept))

    def _record_all(self, corrections: list[Correction]) -> None:
        for correction in corrections:
            self._store.record(correction)


async def start_learning(
    *, settings: Settings, classifier: Classifier, live_model: LiveModel, producer: AIOKafkaProducer
) -> tuple[AIOKafkaConsumer, asyncio.Task[None]]:
    """Consume case.events.v1 in a group of its own, writing corrections into the live model's directory."""
    consumer = make_consumer(
        settings.kafka,
        settings.kafka.topics.case_events,
        group_id=settings.learning_consumer_group,
        client_id=settings.service_name,
    )
    await consumer.start()

    def label_for(category_id: str) -> str:
        model = live_model.model
        return model_label_for(category_id, classifier.rules.taxonomy, model.labels if model is not None else [])

    handler = CorrectionHandler(
        model_dir=live_model.dir.root, producer=producer, source=settings.service_name, label_for=label_for
    )
    task = asyncio.create_task(
        consume_batches(
            consumer, handler, settings=settings.kafka, dead_letters=producer, service=settings.service_name
        ),
        name="learn",
    )
    return consumer, task
