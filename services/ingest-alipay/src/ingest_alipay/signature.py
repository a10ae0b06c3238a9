"""Alipay RSA signatures: PKCS#1 v1.5 over `k=v&…` strings (RSA2 = SHA256withRSA, RSA = SHA1withRSA).

See ../shared/channels/alipay.md, "Verifying the signature".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from .errors import BadSignature

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"RSA2": hashes.SHA256, "RSA": hashes.SHA1}

# Alipay's SDK overloads that take no sign type check with SHA1withRSA; a notify without sign_type is
# treated the same way rather than rejected.
DEFAULT_NOTIFY_SIGN_TYPE = "RSA"


def _key_bytes(pem_or_base64: str) -> tuple[bytes, bool]:
    text = pem_or_base64.strip()
    if "-----BEGIN" in text:
        return text.encode(), True
    # Consoles hand out the DER body as one base64 line; copies often carry line breaks.
    return base64.b64decode("".join(text.split()), validate=True), False


def load_public_key(pem_or_base64: str) -> RSAPublicKey:
    """A PEM public key, or the bare base64 body Alipay's console shows (X.509 or PKCS#1 DER)."""
    try:
        data, is_pem = _key_bytes(pem_or_base64)
        key = serialization.load_pem_public_key(data) if is_pem else serialization.load_der_public_key(data)
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a readable public key (PEM or bare base64): {exc}") from exc
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"Alipay keys are RSA, this is {type(key).__name__}")
    return key


def load_private_key(pem_or_base64: str) -> RSAPrivateKey:
    """A PEM private key, or the bare base64 body Alipay's key tool writes (PKCS#8 or PKCS#1 DER)."""
    try:
        data, is_pem = _key_bytes(pem_or_base64)
        key = (
            serialization.load_pem_private_key(data, password=None)
            if is_pem
            else serialization.load_der_private_key(data, password=None)
        )
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a readable unencrypted private key (PEM or bare base64): {exc}") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"Alipay keys are RSA, this is {type(key).__name__}")
    return key


def public_key_base64(public_key: RSAPublicKey) -> str:
    """The bare base64 X.509 body, the form Alipay's console and the gateway check expect."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def signing_content(params: Mapping[str, str], *, exclude_sign_type: bool) -> str:
    """`k=v&k=v` over the non-empty parameters, sorted by key, without `sign` (and maybe `sign_type`).

    Gateway notifies keep `sign_type` (the SDK's "V2" check); Alipay's other notifies drop it ("V1").
    """
    excluded = {"sign", "sign_type"} if exclude_sign_type else {"sign"}
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v and k not in excluded)


def _hash_for(sign_type: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[sign_type.upper()]()
    except KeyError:
        raise BadSignature(f"unsupported sign_type {sign_type!r}: expected RSA2 or RSA") from None


def verify(content: str, signature: str, public_key: RSAPublicKey, *, sign_type: str, charset: str) -> None:
    """Raise BadSignature unless `signature` (base64) signs `content` encoded in `charset`."""
    algorithm = _hash_for(sign_type)
    try:
        # A "+" in base64 turns into a space when a sender forgets to percent-encode it; base64 has no spaces.
        raw = base64.b64decode(signature.replace(" ", "+"), validate=True)
        data = content.encode(charset)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature(f"signature is not base64, or content is not {charset}: {exc}") from exc
    try:
        public_key.verify(raw, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise BadSignature("signature does not match the Alipay public key") from None


def verify_notify(params: Mapping[str, str], public_key: RSAPublicKey, *, charset: str) -> None:
    """Check a gateway notify the way Alipay's SDK rsaCheckV2 does; raise BadSignature if it fails."""
    signature = params.get("sign")
    if not signature:
        raise BadSignature("notify has no sign")
    sign_type = params.get("sign_type") or DEFAULT_NOTIFY_SIGN_TYPE
    verify(
        signing_content(params, exclude_sign_type=False),
        signature,
        public_key,
        sign_type=sign_type,
        charset=charset,
    )


def sign(content: str, private_key: RSAPrivateKey, *, sign_type: str = "RSA2", charset: str = "utf-8") -> str:
    """Base64 PKCS#1 v1.5 signature of `content` encoded in `charset`."""
    try:
        algorithm = _hash_for(sign_type)
    except BadSignature as exc:
        raise ValueError(str(exc)) from None
    return base64.b64encode(private_key.sign(content.encode(charset), padding.PKCS1v15(), algorithm)).decode()
