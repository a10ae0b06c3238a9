from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.catalog.models import Department
from case_api.deps import SessionDep
from shared.contracts.v1 import utcnow

from . import service
from .deps import AdminUser, CurrentUser
from .models import Role, User
from .schemas import PasswordChange, TokenOut, UserCreate, UserOut, UserUpdate, check_department
from .throttle import LoginThrottle

router = APIRouter(prefix="/api/v1", tags=["auth"])
log = structlog.get_logger(__name__)


@router.post("/auth/token", response_model=TokenOut, summary="OAuth2 password flow: a bearer token for a shift")
async def token(
    request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    throttle: LoginThrottle = request.app.state.login_throttle
    key = f"{form.username}|{request.client.host if request.client else '-'}"
    throttle.refuse_while_throttled(key, "too many failed sign-ins")
    try:
        user = await service.authenticate(session, username=form.username, password=form.password)
    except service.InvalidCredentials as exc:
        throttle.failed(key)
        raise HTTPException(401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"}) from exc
    throttle.succeeded(key)
    return _token_for(request, user)


def _token_for(request: Request, user: User) -> TokenOut:
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


async def _active_department(session: AsyncSession, department_id: str) -> bool:
    """A closed department takes no new handlers: it is dispatched no cases, so they would see nothing new."""
    department = await session.get(Department, department_id)
    return department is not None and department.active


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> User:
    if await session.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise HTTPException(409, f"user {body.username!r} already exists")
    if body.department_id and not await _active_department(session, body.department_id):
        raise HTTPException(422, f"no active department {body.department_id!r}")
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


async def _keep_an_administrator(session: AsyncSession, *, actor: User) -> None:
    """Two administrators demoting each other at the same moment must not leave the centre with none. The active
    administrators' rows are locked (PostgreSQL; SQLite runs one writer at a time anyway) and read again as
    committed: the second request then sees the first one's change."""
    admins = set(
        await session.scalars(
            select(User.id).where(User.role == Role.ADMIN.value, User.active.is_(True)).with_for_update()
        )
    )
    if actor.id not in admins:  # the other request went first; and nobody may demote themselves (above)
        raise HTTPException(409, "you are no longer an active administrator: nothing was changed")


@router.patch("/users/{username}", response_model=UserOut, summary="Disable, move, rename or reset a user")
async def update_user(username: str, body: UserUpdate, admin: AdminUser, session: SessionDep) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise HTTPException(404, f"no user {username!r}")
    changes = body.model_dump(exclude_unset=True)
    role = Role(changes.get("role") or user.role)
    # A handler moved to staff leaves their department behind; anything else must still make sense together.
    department_id = changes["department_id"] if "department_id" in changes else user.department_id
    if "role" in changes and role is not Role.HANDLER and "department_id" not in changes:
        department_id = None
    try:
        check_department(role, department_id)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if department_id and department_id != user.department_id and not await _active_department(session, department_id):
        raise HTTPException(422, f"no active department {department_id!r}")
    if user.id == admin.id and (changes.get("active") is False or role is not Role.ADMIN):
        raise HTTPException(409, "administrators cannot disable or demote themselves: ask another administrator")
    if user.role == Role.ADMIN and user.active and (changes.get("active") is False or role is not Role.ADMIN):
        await _keep_an_administrator(session, actor=admin)
    user.role, user.department_id = role.value, department_id
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.active is not None:
        if user.active and not body.active:  # re-enabling later must not bring back tokens issued before
            user.tokens_valid_after = utcnow()
        user.active = body.active
    if body.password is not None:  # a reset, perhaps because the old one leaked: its tokens go with it
        user.password_hash, user.tokens_valid_after = service.hash_password(body.password), utcnow()
    log.info("user_updated", username=username, by=admin.username, fields=sorted(changes.keys()))
    await session.commit()
    return user


@router.post("/auth/password", response_model=TokenOut, summary="Change your own password; a new token")
async def change_password(request: Request, body: PasswordChange, user: CurrentUser, session: SessionDep) -> TokenOut:
    """Every token issued before (other browsers, a stolen one) stops working; the answer is a fresh token, so
    the person changing it stays signed in here."""
    # Throttled like signing in: whoever holds a stolen token must not be able to guess the password behind it.
    throttle: LoginThrottle = request.app.state.login_throttle
    key = f"password-change|{user.id}"
    throttle.refuse_while_throttled(key, "too many wrong passwords")
    if not service.verify_password(user.password_hash, body.current_password):
        throttle.failed(key)
        raise HTTPException(403, "the current password is wrong")
    throttle.succeeded(key)
    user.password_hash, user.tokens_valid_after = service.hash_password(body.new_password), utcnow()
    await session.commit()
    return _token_for(request, user)
