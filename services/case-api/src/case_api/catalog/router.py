"""Departments and categories as data: everyone reads them, admins change them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from case_api.auth.deps import AdminUser, CurrentUser
from case_api.deps import SessionDep

from .models import Category, Department

router = APIRouter(prefix="/api/v1", tags=["catalog"])

_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    active: bool


class DepartmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    active: bool = True


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    department_id: str
    active: bool


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    department_id: str
    active: bool = True


@router.get("/departments", response_model=list[DepartmentOut])
async def departments(session: SessionDep, _: CurrentUser) -> list[Department]:
    return list((await session.scalars(select(Department).order_by(Department.id))).all())


@router.put("/departments/{department_id}", response_model=DepartmentOut, summary="Create or update")
async def put_department(department_id: str, body: DepartmentIn, session: SessionDep, _: AdminUser) -> Department:
    if body.id != department_id:
        raise HTTPException(422, "the id in the body must match the path")
    # Locked first, as put_category does: otherwise closing it and pointing a category at it could both pass.
    department = await session.get(Department, department_id, with_for_update=True)
    if not body.active:
        # Dispatching by category would then send cases to a department nobody can dispatch to.
        routed_here = (
            await session.scalars(
                select(Category.id)
                .where(Category.department_id == department_id, Category.active.is_(True))
                .order_by(Category.id)
            )
        ).all()
        if routed_here:
            raise HTTPException(
                409, f"active categories still go to {department_id!r}: {', '.join(routed_here)}; move them first"
            )
    if department is None:
        department = Department(id=body.id, name=body.name, active=body.active)
        session.add(department)
    else:
        department.name, department.active = body.name, body.active
    await session.commit()
    return department


@router.get("/categories", response_model=list[CategoryOut])
async def categories(session: SessionDep, _: CurrentUser) -> list[Category]:
    return list((await session.scalars(select(Category).order_by(Category.id))).all())


@router.put("/categories/{category_id}", response_model=CategoryOut, summary="Create or update, with its department")
async def put_category(category_id: str, body: CategoryIn, session: SessionDep, _: AdminUser) -> Category:
    if body.id != category_id:
        raise HTTPException(422, "the id in the body must match the path")
    # Locked until commit, so a department being closed meanwhile sees this category (put_department).
    department = await session.get(Department, body.department_id, with_for_update=True)
    if department is None or (body.active and not department.active):
        raise HTTPException(422, f"no active department {body.department_id!r}")
    category = await session.get(Category, category_id)
    if category is None:
        category = Category(id=body.id, name=body.name, department_id=body.department_id, active=body.active)
        session.add(category)
    else:
        category.name, category.department_id, category.active = body.name, body.department_id, body.active
    await session.commit()
    return category
