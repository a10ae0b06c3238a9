"""Building a reply: the row the operator sees and the command the channel service delivers, together."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from case_api.outbox import service as outbox
from shared.contracts.v1 import Channel, ReplyCommand

from .models import Reply, ReplyStatus


def build_reply(
    *,
    case_id: uuid.UUID,
    case_number: str,
    channel: str,
    account_id: str,
    recipient_id: str,
    department_id: str | None,
    text: str,
    created_by: str,
    now: datetime,
    interim: bool = False,
    promised_at: datetime | None = None,
    automatic: bool = False,
    in_reply_to: str | None = None,
    ttl: timedelta | None = None,
) -> tuple[Reply, dict[str, Any]]:
    """The Reply row and its outbox row; the caller adds both in the transaction of the change.

    `ttl` (case-api's INBOX_REPLY_TTL_S, the one its sweeper expires queued replies by) goes into the command as
    its `expires_at`, so every channel service keeps to it whatever its own setting; None leaves that to them.
    """
    reply = Reply(
        id=uuid.uuid4(),
        case_id=case_id,
        text=text,
        interim=interim,
        automatic=automatic,
        promised_at=promised_at,
        status=ReplyStatus.QUEUED.value,
        attempts=0,
        created_by=created_by,
        created_at=now,
    )
    command = ReplyCommand(
        reply_id=reply.id,
        case_id=case_id,
        case_number=case_number,
        channel=Channel(channel),
        account_id=account_id,
        recipient_id=recipient_id,
        text=text,
        in_reply_to=in_reply_to,
        expires_at=now + ttl if ttl is not None else None,
    )
    return reply, outbox.reply_command_row(command, department_id=department_id)
