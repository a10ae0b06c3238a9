"""WeChat request signatures: sha1 over the sorted, concatenated parts (token, timestamp, nonce[, Encrypt])."""

from __future__ import annotations

import hashlib
import hmac


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify(signature: str | None, *parts: str | None) -> bool:
    if not signature or any(not p for p in parts):
        return False
    return hmac.compare_digest(sign(*(p for p in parts if p)), signature.lower())
