from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from case_api.catalog.models import Department
from case_api.deps import SessionDep

from . import service
from .deps import AdminUser, CurrentUser
from .models import Role, User
from .schemas import TokenOut, UserCreate, UserOut
from .throttle import LoginThrottle

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenOut, summary="OAuth2 password flow: a bearer token for a shift")
async def token(
    request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    throttle: LoginThrottle = request.app.state.login_throttle
    key = f"{form.username}|{request.client.host if request.client else '-'}"
    if wait := throttle.retry_after(key):
        raise HTTPException(429, f"too many failed sign-ins; try again in {wait} s", headers={"Retry-After": str(wait)})
    try:
        user = await service.authenticate(session, username=form.username, password=form.password)
    except service.InvalidCredentials as exc:
        throttle.failed(key)
        raise HTTPException(401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"}) from exc
    throttle.succeeded(key)
    settings = request.app.state.settings
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    return TokenOut(
        access_token=service.issue_token(user, secret=settings.secret_key, ttl=ttl), expires_in=int(ttl.total_seconds())
    )


@router.get("/auth/me", response_model=UserOut)
async def me(user: CurrentUser) -> User:
    return user


@router.get("/users", response_model=list[UserOut])
async def list_users(_: AdminUser, session: SessionDep) -> list[User]:
    return list((await session.scalars(select(User).order_by(User.username))).all())


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> User:
    if await session.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise HTTPException(409, f"user {body.username!r} already exists")
    if body.department_id and await session.get(Department, body.department_id) is None:
        raise HTTPException(422, f"no department {body.department_id!r}")
    user = await service.create_user(
        session,
        username=body.username,
        password=body.password,
        role=Role(body.role),
        department_id=body.department_id,
        display_name=body.display_name,
    )
    await session.commit()
    return user
