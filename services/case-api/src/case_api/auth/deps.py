"""`CurrentUser` for every protected route, and role checks that answer 403 with the reason."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from case_api.deps import SessionDep

from . import service
from .models import Role, User

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def current_user(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]) -> User:
    if token is None:
        raise HTTPException(401, "not signed in", headers={"WWW-Authenticate": "Bearer"})
    try:
        user_id, issued, request.state.token_expires = service.read_token(
            token, secret=request.app.state.settings.secret_key
        )
    except service.InvalidToken as exc:
        raise HTTPException(401, "token is invalid or expired", headers={"WWW-Authenticate": "Bearer"}) from exc
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise HTTPException(401, "user no longer exists or is disabled", headers={"WWW-Authenticate": "Bearer"})
    if service.revoked(user, issued):
        raise HTTPException(401, "the password changed since this token was issued: sign in again")
    request.state.token_issued = issued
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    allowed = {r.value for r in roles}

    async def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(403, f"role {user.role} may not do this (needs {', '.join(sorted(allowed))})")
        return user

    return check


AdminUser = Annotated[User, Depends(require(Role.ADMIN))]
StaffUser = Annotated[User, Depends(require(Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR))]
