"""Every domain's tables, imported in one place so Alembic and tests see the whole schema."""

from case_api.cases.models import Case, CaseCounter, Message
from case_api.catalog.models import Category, Department
from case_api.contacts.models import Contact
from case_api.db import Base

__all__ = ["Base", "Case", "CaseCounter", "Category", "Contact", "Department", "Message"]
