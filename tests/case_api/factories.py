from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from case_api.cases.deadlines import WallClockPolicy
from shared.contracts.v1 import (
    Channel,
    DecidedBy,
    InboundMessage,
    MessageKind,
    PlatformEvent,
    RoutedMessage,
    RoutingDecision,
    utcnow,
)

_BASE = utcnow().replace(microsecond=0)


def routed(
    msg_id: str,
    *,
    sender: str = "oCitizen",
    text: str = "小区物业乱收费",
    channel: Channel = Channel.WECHAT,
    account: str = "city-wechat",
    kind: MessageKind = MessageKind.TEXT,
    department: str | None = "housing",
    sent_at: datetime | None = None,
    received_at: datetime | None = None,
) -> RoutedMessage:
    message = InboundMessage(
        channel=channel,
        account_id=account,
        platform_message_id=msg_id,
        sender_id=sender,
        sent_at=sent_at or _BASE + timedelta(seconds=int(msg_id.strip("m") or 0) if msg_id.strip("m").isdigit() else 0),
        kind=kind,
        text=text if kind is not MessageKind.EVENT else "",
        event=PlatformEvent(name="subscribe") if kind is MessageKind.EVENT else None,
        raw="<xml/>",
        raw_format="xml",
        received_at=received_at or utcnow(),
    )
    decision = (
        RoutingDecision(
            category="housing-property",
            department=department,
            confidence=0.7,
            decided_by=DecidedBy.RULE,
            explanation="keyword rule housing-property: 物业",
            request_type="投诉/求助",
        )
        if department and kind is not MessageKind.EVENT
        else RoutingDecision(decided_by=DecidedBy.SKIPPED if kind is MessageKind.EVENT else DecidedBy.NONE)
    )
    return RoutedMessage(message=message, decision=decision)


POLICY = WallClockPolicy(first_response=timedelta(hours=1), resolution=timedelta(days=5))


async def bearer(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return f"Bearer {response.json()['access_token']}"
