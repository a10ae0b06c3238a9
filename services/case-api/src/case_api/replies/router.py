"""Canned replies: templates per category with placeholders filled from the case."""

from __future__ import annotations

import string
import uuid

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select

from case_api.auth.deps import AdminUser, CurrentUser
from case_api.cases.service import get_case
from case_api.catalog.models import Category, Department
from case_api.deps import SessionDep

from .models import ReplyTemplate

router = APIRouter(prefix="/api/v1", tags=["replies"])

PLACEHOLDERS = {"number", "category", "department"}


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    category_id: str | None = None
    body: str = Field(min_length=1, max_length=2000)

    @field_validator("body")
    @classmethod
    def _known_placeholders(cls, body: str) -> str:
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(body)]
        except ValueError as exc:
            raise ValueError(f"template is not well-formed: {exc}") from exc
        names = {name for name, _, _ in fields if name is not None}
        unknown = names - PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)}; use {sorted(PLACEHOLDERS)}")
        # Placeholders are plain text: "{number:d}" or "{number!r}" would fail (or print oddly) at every use.
        if any(spec or conversion for name, spec, conversion in fields if name is not None):
            raise ValueError("placeholders take no format or conversion: write {number}, {category}, {department}")
        return body


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    category_id: str | None
    body: str


class RenderedTemplate(BaseModel):
    template_id: uuid.UUID
    text: str


@router.get("/reply-templates", response_model=list[TemplateOut])
async def list_templates(session: SessionDep, _: CurrentUser, category_id: str | None = None) -> list[ReplyTemplate]:
    query = select(ReplyTemplate).where(ReplyTemplate.active.is_(True))
    if category_id:
        query = query.where(or_(ReplyTemplate.category_id == category_id, ReplyTemplate.category_id.is_(None)))
    return list((await session.scalars(query.order_by(ReplyTemplate.name))).all())


@router.post("/reply-templates", response_model=TemplateOut, status_code=201)
async def create_template(body: TemplateIn, session: SessionDep, _: AdminUser) -> ReplyTemplate:
    if body.category_id and await session.get(Category, body.category_id) is None:
        raise HTTPException(422, f"no category {body.category_id!r}")
    template = ReplyTemplate(name=body.name, category_id=body.category_id, body=body.body, active=True)
    session.add(template)
    await session.commit()
    return template


@router.get(
    "/cases/{case_id}/reply-templates/{template_id}",
    response_model=RenderedTemplate,
    summary="A canned reply filled in for this case",
)
async def render(
    case_id: uuid.UUID, template_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> RenderedTemplate:
    view = await get_case(session, case_id=case_id, user=user)
    template = await session.get(ReplyTemplate, template_id)
    if view is None or template is None:
        raise HTTPException(404, "no such case or template")
    case = view.case
    category = await session.get(Category, case.category_id or case.proposed_category_id or "")
    department = await session.get(Department, case.department_id or case.proposed_department_id or "")
    text = template.body.format(
        number=case.number, category=category.name if category else "", department=department.name if department else ""
    )
    return RenderedTemplate(template_id=template.id, text=text)
