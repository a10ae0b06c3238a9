"""The published API documents are regenerated from the code; a stale copy in docs/ fails here."""

from __future__ import annotations

from pathlib import Path

from inbox_dev.apidocs import asyncapi, openapi, render


def test_asyncapi_document_is_current() -> None:
    assert Path("docs/asyncapi.json").read_text(encoding="utf-8") == render(asyncapi()), (
        "docs/asyncapi.json is stale: run `.venv/bin/inbox-dev docs`"
    )


def test_openapi_document_is_current() -> None:
    assert Path("docs/openapi.json").read_text(encoding="utf-8") == render(openapi()), (
        "docs/openapi.json is stale: run `.venv/bin/inbox-dev docs`"
    )


def test_asyncapi_names_every_topic_and_its_dead_letter_topic() -> None:
    doc = asyncapi()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "inbox.messages.v1",
        "inbox.routed.v1",
        "case.events.v1",
        "outbound.replies.v1",
        "outbound.receipts.v1",
    }
    assert "inbox.routed.v1.dlq" in doc["channels"]["inbox_routed_v1"]["description"]
    assert "specversion" in doc["components"]["messages"]["CaseEvent"]["payload"]["properties"]
