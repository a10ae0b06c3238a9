"""Which deadline a case is held to next. The clock arithmetic itself comes from a `DeadlinePolicy`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .models import Case, CaseStatus


class DeadlinePolicy(Protocol):
    def first_response_due(
        self, received_at: datetime, *, category_id: str | None, request_type: str | None
    ) -> datetime: ...

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None, request_type: str | None
    ) -> datetime: ...


@dataclass(frozen=True)
class WallClockPolicy:
    """Plain elapsed time; the business-calendar policy (working hours, holidays, 调休) replaces it when configured."""

    first_response: timedelta
    resolution: timedelta

    def first_response_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return received_at + self.first_response

    def resolution_due(
        self, received_at: datetime, *, category_id: str | None = None, request_type: str | None = None
    ) -> datetime:
        return received_at + self.resolution


def next_due(case: Case) -> datetime | None:
    """The one deadline the queue sorts by: first response, then the promise or resolution, none once answered."""
    if case.status in (CaseStatus.REPLIED, CaseStatus.CLOSED):
        return None
    if case.first_responded_at is None:
        return case.first_response_due_at
    return case.promised_at or case.resolution_due_at
