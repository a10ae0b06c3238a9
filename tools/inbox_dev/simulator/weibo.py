"""Weibo fan-service pushes as the platform sends them (../shared/channels/weibo.md)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from ingest_weibo.signature import expected_signature

from . import random_nonce

_CST = timezone(timedelta(hours=8))


def created_at(when: datetime | None = None) -> str:
    """Weibo's format, e.g. "Mon Jul 16 18:09:20 +0800 2012" (English names, whatever the locale)."""
    when = (when or datetime.now(_CST)).astimezone(_CST)
    days = "Mon Tue Wed Thu Fri Sat Sun".split()
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return f"{days[when.weekday()]} {months[when.month - 1]} {when:%d %H:%M:%S} +0800 {when.year}"


def signed_query(app_secret: str, *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """Signed now, in milliseconds (as a public SDK's sample push has it), unless `timestamp` says otherwise."""
    timestamp = timestamp or str(int(time.time() * 1000))
    nonce = nonce or random_nonce()
    return {
        "signature": expected_signature(app_secret, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


def push_body(
    *,
    msg_type: str,
    sender_id: int,
    receiver_id: int,
    text: str = "",
    data: dict[str, object] | None = None,
    when: datetime | None = None,
) -> bytes:
    payload = {
        "type": msg_type,
        "receiver_id": receiver_id,
        "sender_id": sender_id,
        "created_at": created_at(when),
        "text": text,
        "data": data or {},
    }
    return json.dumps(payload, ensure_ascii=False).encode()
