"""Departments and categories are data; the taxonomy file seeds them so router and case-api agree."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.taxonomy import Taxonomy

from .models import Category, Department


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
        if c.id in categories:
            categories[c.id].name, categories[c.id].department_id = c.name, c.department
        else:
            session.add(Category(id=c.id, name=c.name, department_id=c.department, active=True))
    await session.commit()
