"""Synchronous answers to gateway notifies, signed with the app private key (alipay.md, "Answers").

Both answers share the SDK's encryptAndSign envelope (unencrypted, signed):
    <?xml version="1.0" encoding="CHARSET"?><alipay><response>INNER</response>
    <sign>…</sign><sign_type>RSA2</sign_type></alipay>      (one line, no whitespace between elements)
where `sign` covers exactly INNER encoded in CHARSET. Serve the bytes as `text/xml;charset=CHARSET`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from .signature import sign


def signed_response(inner: str, *, private_key: RSAPrivateKey, sign_type: str, charset: str) -> bytes:
    signature = sign(inner, private_key, sign_type=sign_type, charset=charset)
    document = (
        f'<?xml version="1.0" encoding="{charset}"?><alipay><response>{inner}</response>'
        f"<sign>{signature}</sign><sign_type>{sign_type}</sign_type></alipay>"
    )
    return document.encode(charset)


def verification_response(
    *, app_public_key_b64: str, private_key: RSAPrivateKey, sign_type: str = "RSA2", charset: str = "GBK"
) -> bytes:
    """The answer to `alipay.service.check` / verifygw: success, with our app public key (bare base64)."""
    # Alipay compares the key text itself, so PEM armour and line breaks would make it differ.
    lines = (line.strip() for line in app_public_key_b64.splitlines())
    key = "".join(line for line in lines if not line.startswith("-----"))
    inner = f"<success>true</success><biz_content>{key}</biz_content>"
    return signed_response(inner, private_key=private_key, sign_type=sign_type, charset=charset)


def _cdata(value: str) -> str:
    if "]]>" in value:
        raise ValueError(f"{value!r} cannot be written as CDATA")
    return f"<![CDATA[{value}]]>"


def ack_response(
    *,
    to_user_id: str,
    app_id: str,
    private_key: RSAPrivateKey,
    sign_type: str = "RSA2",
    charset: str = "GBK",
    now: datetime | None = None,
) -> bytes:
    """The synchronous ack of a message notify; without it Alipay retries (when retries are enabled).

    `to_user_id` is the sender of the acknowledged message; replies go out later through the client.
    """
    millis = int((now or datetime.now(UTC)).timestamp() * 1000)
    inner = (
        f"<XML><ToUserId>{_cdata(to_user_id)}</ToUserId><AppId>{_cdata(app_id)}</AppId>"
        f"<CreateTime>{millis}</CreateTime><MsgType><![CDATA[ack]]></MsgType></XML>"
    )
    return signed_response(inner, private_key=private_key, sign_type=sign_type, charset=charset)
