from __future__ import annotations

import uuid

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


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: Role
    department_id: str | None = None
    display_name: str = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _handler_has_department(self) -> UserCreate:
        if self.role is Role.HANDLER and not self.department_id:
            raise ValueError("a handler must belong to a department")
        if self.role is not Role.HANDLER and self.department_id:
            raise ValueError("only handlers belong to a department")
        return self
