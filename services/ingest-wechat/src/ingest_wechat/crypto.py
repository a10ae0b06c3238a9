"""Safe-mode (安全模式) message encryption: AES-256-CBC, PKCS#7 with a 32-byte block, appid check.

Plaintext layout: 16 random bytes ‖ 4-byte big-endian length ‖ message XML ‖ appid (../shared/channels/wechat.md).
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import signature
from .errors import BadSignature, MalformedPush

_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class WeChatCrypto:
    def __init__(self, *, token: str, encoding_aes_key: str, app_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("encoding_aes_key must be 43 characters (a 32-byte key)")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("encoding_aes_key is not base64") from exc
        self._token = token
        self._key = key
        self._app_id = app_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def decrypt(self, *, msg_signature: str | None, timestamp: str, nonce: str, encrypted: str) -> str:
        if not signature.verify(msg_signature, self._token, timestamp, nonce, encrypted):
            raise BadSignature("msg_signature does not match")
        try:
            data = base64.b64decode(encrypted, validate=True)
        except binascii.Error as exc:
            raise MalformedPush("Encrypt is not base64") from exc
        if not data or len(data) % 16:
            raise MalformedPush("Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or len(plain) < 20 + pad:
            raise MalformedPush("Encrypt has invalid padding")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        xml, app_id = plain[20 : 20 + length], plain[20 + length :]
        if app_id.decode(errors="replace") != self._app_id:
            # Signed with our token but for another app: treat as forged rather than malformed.
            raise BadSignature("message was encrypted for another app id")
        try:
            return xml.decode()
        except UnicodeDecodeError as exc:
            raise MalformedPush("decrypted message is not UTF-8") from exc

    def encrypt(self, xml: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """Return (Encrypt, MsgSignature) for a reply or for a test that plays the platform."""
        body = xml.encode()
        plain = os.urandom(16) + struct.pack(">I", len(body)) + body + self._app_id.encode()
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        encrypted = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
        return encrypted, signature.sign(self._token, timestamp, nonce, encrypted)

    def encrypted_reply(self, xml: str, *, timestamp: str, nonce: str) -> str:
        encrypted, msg_signature = self.encrypt(xml, timestamp=timestamp, nonce=nonce)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{msg_signature}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
