"""`case.events.v1`: the case lifecycle for other systems, in CloudEvents 1.0 JSON (structured mode).

Extension attributes are lower-case alphanumerics as the spec requires: `schemaversion`, `traceparent`.
"""

from __future__ import annotations

from typing import Any, Literal, Self
from uuid import UUID, uuid4

from pydantic import Field

from .envelope import SCHEMA_VERSION, Contract, UtcDatetime, utcnow

CASE_EVENT_PREFIX = "gov.inbox.case."


class CaseChange(Contract):
    action: str  # created, accepted, classified, dispatched, …
    from_status: str | None = None
    to_status: str
    actor: str  # user name, or "system:<service>"
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class CaseEventData(Contract):
    case: dict[str, Any]  # snapshot of the case after the change
    change: CaseChange


class CaseEvent(Contract):
    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(default_factory=uuid4)
    source: str = "/services/case-api"
    type: str
    subject: str  # the case id
    time: UtcDatetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    schemaversion: int = SCHEMA_VERSION
    traceparent: str | None = None
    data: CaseEventData

    @classmethod
    def for_change(cls, case_id: UUID | str, change: CaseChange, snapshot: dict[str, Any]) -> Self:
        return cls(
            type=f"{CASE_EVENT_PREFIX}{change.action}",
            subject=str(case_id),
            data=CaseEventData(case=snapshot, change=change),
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return cls.model_validate_json(raw)
