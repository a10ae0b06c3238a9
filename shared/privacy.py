"""Masking personal data before it reaches a log line: mainland mobile numbers and resident ID numbers.

Message texts are never logged on purpose; this catches what slips into identifiers, errors and library logs.
"""

from __future__ import annotations

import re
from typing import Any

# As people write them: 13812345678, +86 138-1234-5678, 0086 138 1234 5678, 8613812345678. The separators are kept
# so the text still reads as written.
_MOBILE = re.compile(r"(?<!\d)((?:(?:\+|00)?86[ .-]?)?1[3-9]\d)([ .-]?)(\d{4})([ .-]?)(\d{4})(?!\d)")
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}([\dXx])(?![0-9A-Za-z])"
)
# The 15-digit cards issued before 1999 (two-digit year, no check digit), still in old records and on people's lips.
_OLD_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{2}(\d)(?![0-9A-Za-z])"
)


# Chinese input methods type full-width digits, dashes, stops and spaces (１３８－１２３４): read as ASCII, so the
# patterns above see them.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－．\u3000", "0123456789+-. ")


def mask(text: str) -> str:
    text = text.translate(_FULL_WIDTH)
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}{'*' * 11}{m.group(2)}", text)
    text = _OLD_ID_CARD.sub(lambda m: f"{m.group(1)}{'*' * 8}{m.group(2)}", text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}{m.group(2)}****{m.group(4)}{m.group(5)}", text)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value
