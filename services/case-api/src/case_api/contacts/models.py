from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from case_api.db import Base, UtcDateTime


class Contact(Base):
    """One platform identity: channel + account + sender."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel", "account_id", "sender_id", name="uq_contacts_identity"),
        Index("ix_contacts_person", "person_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    channel: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Contacts an operator linked as the same citizen share a person id (initially the contact's own id).
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
