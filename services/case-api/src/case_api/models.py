"""Every domain's tables, imported in one place so Alembic and tests see the whole schema."""

from case_api.audit.models import AuditEntry
from case_api.auth.models import User
from case_api.cases.models import Case, CaseCounter, CaseDepartment, CaseTransfer, Message
from case_api.catalog.models import Category, Department
from case_api.contacts.models import Contact
from case_api.db import Base
from case_api.outbox.models import OutboxRecord
from case_api.replies.models import Reply, ReplyTemplate

__all__ = [
    "AuditEntry",
    "Base",
    "Case",
    "CaseCounter",
    "CaseDepartment",
    "CaseTransfer",
    "Category",
    "Contact",
    "Department",
    "Message",
    "OutboxRecord",
    "Reply",
    "ReplyTemplate",
    "User",
]
