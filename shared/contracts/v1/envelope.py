"""The envelope every record on every topic carries (DESIGN: Contracts v1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Aware timestamps, normalised to UTC so every consumer compares like with like.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every payload: additive changes only inside v1, so unknown fields are ignored, not rejected."""

    model_config = ConfigDict(extra="ignore", frozen=False, populate_by_name=True)


DataT = TypeVar("DataT", bound=BaseModel)


class Envelope(Contract, Generic[DataT]):
    RECORD_TYPE: ClassVar[str] = ""

    id: UUID = Field(default_factory=uuid4)
    type: str = ""
    schema_version: int = SCHEMA_VERSION
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    source: str
    trace: str | None = None
    data: DataT

    def model_post_init(self, context: Any, /) -> None:
        if not self.type:
            self.type = self.RECORD_TYPE

    @classmethod
    def wrap(cls, data: DataT, *, source: str, trace: str | None = None) -> Self:
        return cls(source=source, trace=trace, data=data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return cls.model_validate_json(raw)
