"""Departments and categories are data; the taxonomy file seeds them so router and case-api agree."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.taxonomy import Taxonomy

from .models import Category, Department

log = structlog.get_logger(__name__)


async def seed_from_taxonomy(session: AsyncSession, *, taxonomy: Taxonomy) -> None:
    """Insert what is missing and update names; never deletes (old cases still point at retired entries)."""
    departments = {d.id: d for d in (await session.scalars(select(Department))).all()}
    for d in taxonomy.departments.values():
        if d.id in departments:
            departments[d.id].name = d.name
        else:
            session.add(Department(id=d.id, name=d.name, active=True))
    await session.flush()
    categories = {c.id: c for c in (await session.scalars(select(Category))).all()}
    for c in taxonomy.categories.values():
        # An administrator may have closed a department (PUT /departments) after moving its categories: the file
        # must not send them back to it at the next start, or dispatch by category would fail.
        closed = not departments[c.department].active if c.department in departments else False
        if closed:
            log.warning("taxonomy_category_to_inactive_department", category=c.id, department=c.department)
        if c.id in categories:
            categories[c.id].name = c.name
            if not closed:
                categories[c.id].department_id = c.department
        else:
            session.add(Category(id=c.id, name=c.name, department_id=c.department, active=not closed))
    await session.commit()
