"""Generates docs/openapi.json (case-api) and docs/asyncapi.json (every topic) from the code itself, so the
published documents cannot drift from what the services do (a test compares them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared import topics
from shared.contracts.v1 import (
    CaseEvent,
    DeliveryReceiptRecord,
    InboundMessageRecord,
    ReplyCommandRecord,
    RoutedMessageRecord,
)

DOCS = Path("docs")

_TOPICS: list[tuple[str, type[BaseModel], str, str, str, str]] = [
    (
        topics.INBOX_MESSAGES,
        InboundMessageRecord,
        "channel:account:sender",
        "ingest-*",
        "router",
        "Every citizen message and platform event, normalised from any channel.",
    ),
    (
        topics.INBOX_ROUTED,
        RoutedMessageRecord,
        "channel:account:sender",
        "router",
        "case-api",
        "An inbound message with the router's category, department, request type, confidence and explanation.",
    ),
    (
        topics.CASE_EVENTS,
        CaseEvent,
        "case id",
        "case-api (transactional outbox)",
        "other systems",
        "Every case change in CloudEvents 1.0 structured JSON, type gov.inbox.case.<change>, in commit order per case.",
    ),
    (
        topics.OUTBOUND_REPLIES,
        ReplyCommandRecord,
        "channel:account:recipient",
        "case-api (transactional outbox)",
        "ingest-*",
        "Send this text to that citizen through their channel; delivered at most once per reply id.",
    ),
    (
        topics.OUTBOUND_RECEIPTS,
        DeliveryReceiptRecord,
        "case id",
        "ingest-*",
        "case-api",
        "What happened to a reply: delivered, or failed with the platform's code and reason.",
    ),
]


def _ordered(value: Any) -> Any:
    # Sorted keys make the documents byte-for-byte reproducible across runs.
    if isinstance(value, dict):
        return {k: _ordered(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, model, key, producer, consumer, description in _TOPICS:
        message_name = model.__name__
        messages[message_name] = {
            "name": message_name,
            "contentType": "application/json",
            "payload": model.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}"),
        }
        channel_id = name.replace(".", "_")
        channels[channel_id] = {
            "address": name,
            "description": f"{description} Key: {key}. Produced by {producer}; consumed by {consumer}. "
            f"Records a consumer cannot parse go to {topics.dead_letter_topic(name)}.",
            "messages": {message_name: {"$ref": f"#/components/messages/{message_name}"}},
        }
        operations[f"receive_{channel_id}"] = {"action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"}}
    return _ordered(
        {
            "asyncapi": "3.0.0",
            "info": {
                "title": "City inbox topics",
                "version": "1",
                "description": "Records on every topic, contracts v1 (changes inside v1 are additive only). "
                "Deployments may prefix every topic name (KAFKA_TOPIC_PREFIX).",
            },
            "defaultContentType": "application/json",
            "channels": channels,
            "operations": operations,
            "components": {"messages": messages},
        }
    )


def openapi() -> dict[str, Any]:
    from case_api.main import create_app

    return _ordered(create_app().openapi())


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def write(directory: Path = DOCS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in (("asyncapi.json", asyncapi()), ("openapi.json", openapi())):
        path = directory / name
        path.write_text(render(doc), encoding="utf-8")
        written.append(path)
    return written
