from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from case_api.db import Base, UtcDateTime


class ReplyStatus(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"


class Reply(Base):
    """An answer to the citizen, sent through their own channel; its status follows the delivery receipts."""

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_case", "case_id", "created_at"),
        # The few replies still waiting for a receipt, oldest first: the expiry (replies/expiry.py) reads this every
        # sweep instead of scanning every reply ever sent.
        Index(
            "ix_replies_queued",
            "created_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    text: Mapped[str] = mapped_column(Text)
    interim: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sent by the system (acknowledgement, progress, rating request): not a person's response to the citizen.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    promised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ReplyStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    platform_code: Mapped[str | None] = mapped_column(Text)  # platforms' codes have no stated bound
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReplyTemplate(Base):
    """Canned replies, per category or for all; `{number}`, `{department}`, `{category}` are filled in."""

    __tablename__ = "reply_templates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
