"""Masking personal data before it reaches a log line: mainland mobile numbers and resident ID numbers.

Message texts are never logged on purpose; this catches what slips into identifiers, errors and library logs.
"""

from __future__ import annotations

import re
from typing import Any

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}([\dXx])(?![0-9A-Za-z])"
)


def mask(text: str) -> str:
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}{'*' * 11}{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value
