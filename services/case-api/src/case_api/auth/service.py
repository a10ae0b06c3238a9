"""Passwords (argon2), signed expiring bearer tokens (JWT, HS256), and the first admin."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.v1 import utcnow

from .models import Role, User

log = structlog.get_logger(__name__)

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


class InvalidCredentials(Exception):
    pass


class InvalidToken(Exception):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against a dummy hash when the user does not exist keeps response times alike for both cases.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


async def authenticate(session: AsyncSession, *, username: str, password: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        raise InvalidCredentials
    if not verify_password(user.password_hash, password):
        raise InvalidCredentials
    return user


def revoked(user: User, issued_at: float) -> bool:
    """Issued before the user's password last changed."""
    return user.tokens_valid_after is not None and issued_at < user.tokens_valid_after.timestamp()


def issue_token(user: User, *, secret: str, ttl: timedelta) -> str:
    now = utcnow()
    # iat to the microsecond: a token issued just after a password change must not look older than it.
    claims = {"sub": str(user.id), "role": user.role, "iat": now.timestamp(), "exp": now + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(token: str, *, secret: str) -> tuple[uuid.UUID, float, float]:
    """The user the token was issued to, when it was issued and when it expires (seconds since the epoch)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]})
        return uuid.UUID(claims["sub"]), float(claims.get("iat", 0)), float(claims["exp"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    department_id: str | None = None,
    display_name: str = "",
) -> User:
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        department_id=department_id,
        display_name=display_name or username,
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    return user


async def ensure_admin(session: AsyncSession, *, username: str, password: str) -> None:
    """Create the first admin from INBOX_ADMIN_USER / INBOX_ADMIN_PASSWORD when there is none."""
    if await session.scalar(select(User.id).where(User.role == Role.ADMIN).limit(1)) is not None:
        return
    await create_user(session, username=username, password=password, role=Role.ADMIN, display_name="Administrator")
    await session.commit()
    log.info("admin_created", username=username)
