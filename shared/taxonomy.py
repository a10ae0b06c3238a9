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

    def rule_regex(self) -> re.Pattern[str] | None:
        """The one alternation the router scans a message with: keywords (longest first, so that "拖欠工资" wins
        over "工资" at the same position) and patterns; None when the category has neither."""
        alternatives = [re.escape(k) for k in sorted(self.keywords, key=len, reverse=True)]
        alternatives += [f"(?:{p})" for p in self.patterns]
        return re.compile("|".join(alternatives)) if alternatives else None


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
            # A pattern valid alone can still break the combined regex ('(?i)wifi': global flags must start it).
            try:
                c.rule_regex()
            except re.error as exc:
                raise ValueError(
                    f"category {c.id!r}: its patterns do not combine into one regex ({exc}); "
                    "scope inline flags to the pattern, e.g. '(?i:wifi)' instead of '(?i)wifi'"
                ) from exc
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
    """Every way the file can be unusable is a TaxonomyError: the router keeps its previous rules on it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Taxonomy(TaxonomyDoc.model_validate(raw))
    except FileNotFoundError as exc:
        raise TaxonomyError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 ({exc}); save the taxonomy as UTF-8") from exc
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot be read: {exc}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc
