from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from case_api.db import Base, UtcDateTime


class OutboxRecord(Base):
    """A Kafka record written in the same transaction as the change it announces (transactional outbox).

    The publisher sends unpublished rows in id order and stamps `published_at`; the id doubles as the
    server-sent-events cursor for live queue updates.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))  # logical topic name, without the deployment's prefix
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    case_id: Mapped[str | None] = mapped_column(String(36))
    department_id: Mapped[str | None] = mapped_column(String(64))  # lets a handler's event stream be filtered
    # The case's co-handling departments as ",a,b," (one LIKE finds a department); None when there are none.
    co_handlers: Mapped[str | None] = mapped_column(Text)
    # Departments this event takes the case away from (",a,b,"): their live queues get this one event, to drop it.
    departed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
