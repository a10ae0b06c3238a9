"""The taxonomy file (INBOX_TAXONOMY_FILE): departments, categories and their rules; read by router and case-api."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator


class TaxonomyError(ValueError):
    """The taxonomy file cannot be used; the message says where and why."""


class Department(BaseModel):
    id: str
    name: str


class Category(BaseModel):
    id: str
    name: str
    department: str
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)


class RequestTypeRule(BaseModel):
    type: str
    keywords: list[str]


class RequestTypes(BaseModel):
    default: str | None = None
    rules: list[RequestTypeRule] = Field(default_factory=list)


class TaxonomyDoc(BaseModel):
    version: str
    departments: list[Department]
    categories: list[Category]
    request_types: RequestTypes = Field(default_factory=RequestTypes)

    @model_validator(mode="after")
    def _references(self) -> TaxonomyDoc:
        departments = {d.id for d in self.departments}
        for c in self.categories:
            if c.department not in departments:
                raise ValueError(f"category {c.id!r} names unknown department {c.department!r}")
            for p in c.patterns:
                try:
                    re.compile(p)
                except re.error as exc:
                    raise ValueError(f"category {c.id!r}: pattern {p!r} is not a valid regex: {exc}") from exc
        return self


@dataclass(frozen=True)
class Taxonomy:
    doc: TaxonomyDoc
    departments: dict[str, Department] = field(init=False)
    categories: dict[str, Category] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "departments", {d.id: d for d in self.doc.departments})
        object.__setattr__(self, "categories", {c.id: c for c in self.doc.categories})

    @property
    def version(self) -> str:
        return self.doc.version

    @property
    def request_types(self) -> frozenset[str]:
        """Every request type the router may propose and an operator may choose."""
        types = self.doc.request_types
        return frozenset(t for t in [types.default, *(r.type for r in types.rules)] if t)


def load_taxonomy(path: Path) -> Taxonomy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Taxonomy(TaxonomyDoc.model_validate(raw))
    except FileNotFoundError as exc:
        raise TaxonomyError(f"{path}: no such file") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc
