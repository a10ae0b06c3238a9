"""WeChat pushes as the platform sends them (../shared/channels/wechat.md)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ingest_wechat import signature
from ingest_wechat.crypto import WeChatCrypto

from . import random_nonce


@dataclass(frozen=True)
class WeChatAccount:
    token: str
    app_id: str
    encoding_aes_key: str | None = None
    original_id: str = "gh_47bd9550a0a1"


def _cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def message_xml(
    account: WeChatAccount,
    *,
    sender: str,
    msg_type: str,
    fields: dict[str, str],
    create_time: int | None = None,
) -> str:
    body = "".join(f"<{k}>{_cdata(v) if not v.lstrip('-').isdigit() else v}</{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName><FromUserName>{_cdata(escape(sender))}"
        f"</FromUserName><CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType>{_cdata(msg_type)}</MsgType>{body}</xml>"
    )


def text_xml(
    account: WeChatAccount,
    *,
    sender: str,
    text: str,
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    msg_id = msg_id or random.randint(10**18, 9 * 10**18)
    return message_xml(
        account,
        sender=sender,
        msg_type="text",
        fields={"Content": text, "MsgId": str(msg_id)},
        create_time=create_time,
    )


def signed_query(account: WeChatAccount, *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """Signed now, unless `timestamp` says otherwise: ingest refuses a timestamp outside its window."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or random_nonce()
    return {
        "signature": signature.sign(account.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


def push(
    account: WeChatAccount, xml: str, *, mode: str = "plaintext", timestamp: str | None = None
) -> tuple[dict[str, str], bytes]:
    """(query, body) for a push in `plaintext`, `compatible` or `safe` mode, signed now unless `timestamp` is given."""
    query = signed_query(account, timestamp=timestamp)
    if mode == "plaintext":
        return query, xml.encode()
    assert account.encoding_aes_key, "encrypted modes need the account's encoding_aes_key"
    crypto = WeChatCrypto(token=account.token, encoding_aes_key=account.encoding_aes_key, app_id=account.app_id)
    encrypted, msg_signature = crypto.encrypt(xml, timestamp=query["timestamp"], nonce=query["nonce"])
    query |= {"encrypt_type": "aes", "msg_signature": msg_signature}
    if mode == "safe":
        body = (
            f"<xml><ToUserName>{_cdata(account.original_id)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
        )
    else:  # compatible: the plain message with the cipher added
        body = xml.replace("</xml>", f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>")
    return query, body.encode()
