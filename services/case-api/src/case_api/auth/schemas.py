from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .models import Role


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    department_id: str | None
    active: bool


Password = Annotated[str, Field(min_length=8, max_length=256)]


def check_department(role: Role, department_id: str | None) -> None:
    if role is Role.HANDLER and not department_id:
        raise ValueError("a handler must belong to a department")
    if role is not Role.HANDLER and department_id:
        raise ValueError("only handlers belong to a department")


class UserCreate(BaseModel):
    # An unknown field ({"active": false}) is refused: dropped silently, it would create the opposite of what
    # the administrator asked for.
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: Password
    role: Role
    department_id: str | None = None
    display_name: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _handler_has_department(self) -> UserCreate:
        check_department(self.role, self.department_id)
        return self


class UserUpdate(BaseModel):
    """What an administrator changes when someone leaves, moves department or forgets their password; fields
    left out stay as they are. A disabled user's tokens stop working at once, and their live queue ends."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=100)
    role: Role | None = None
    department_id: str | None = None
    active: bool | None = None
    password: Password | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=256)
    new_password: Password
