"""Keyset pagination cursors: the sort key and id of the last case on a page, opaque to clients.

Every cursor a client sends back is decoded here and checked as untrusted input: a cursor that is not one this
API issued (edited, truncated, a date without a time zone) is the client's mistake, answered with a 400."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime


class InvalidCursor(ValueError):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API issued")


def encode(moment: datetime | None, case_id: uuid.UUID) -> str:
    key = moment.isoformat() if moment else ""
    return base64.urlsafe_b64encode(f"{key}|{case_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime | None, uuid.UUID]:
    try:
        key, case_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        moment = datetime.fromisoformat(key) if key else None
        if moment is not None and moment.utcoffset() is None:
            raise ValueError("a cursor's moment always has its time zone")
        return moment, uuid.UUID(case_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc
