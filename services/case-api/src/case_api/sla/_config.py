"""Reading the SLA configuration files, with errors that say which file, where and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class _Loader(yaml.SafeLoader):
    """Leaves dates as text, so pydantic checks them and says where a wrong one is (2027-02-30)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, located like `days[3].kind`, without pydantic's links."""
    lines = []
    for err in exc.errors():
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"]).lstrip(".")
        message = str(err["msg"]).removeprefix("Value error, ")
        given = err.get("input")
        if isinstance(given, str | int | float | bool) and err["type"] != "value_error":
            message += f" (got {given!r})"
        lines.append(f"{where}: {message}" if where else message)
    return lines[0] if len(lines) == 1 else "\n  - " + "\n  - ".join(lines)


def read_yaml_model(path: Path, model: type[M], error: type[Exception], *, empty: dict[str, Any] | None = None) -> M:
    try:
        with path.open(encoding="utf-8") as stream:
            raw = yaml.load(stream, Loader=_Loader)  # a SafeLoader
    except FileNotFoundError as exc:
        raise error(f"{path}: no such file") from exc
    except yaml.YAMLError as exc:  # its text says the line and column
        raise error(f"{path}: not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {exc}") from exc
    if raw is None and empty is not None:
        raw = empty
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping of settings at the top level, found {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{path}: {describe_validation_error(exc)}") from exc
