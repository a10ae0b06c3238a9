"""Weibo request signatures: sha1 over the sorted, concatenated app secret, timestamp and nonce."""

from __future__ import annotations

import hashlib
import hmac


def expected_signature(secret: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted((secret, timestamp, nonce))).encode()).hexdigest()


def verify_signature(secret: str, signature: str | None, timestamp: str | None, nonce: str | None) -> bool:
    """True when the GET handshake or a push was signed with this account's app secret."""
    if not (secret and signature and timestamp and nonce):
        return False
    # Bytes, not str: compare_digest refuses non-ASCII str, and a forged signature may contain any character.
    return hmac.compare_digest(
        expected_signature(secret, timestamp, nonce).encode(), signature.strip().lower().encode()
    )
