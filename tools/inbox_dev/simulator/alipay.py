"""Alipay life-account gateway notifies as Alipay sends them: form-encoded in GBK, signed with Alipay's key."""

from __future__ import annotations

import time
from urllib.parse import quote_from_bytes

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ingest_alipay.notify import SERVICE_CHECK, SERVICE_MESSAGE
from ingest_alipay.signature import sign, signing_content


def text_biz_content(
    *,
    app_id: str,
    alipay_user_id: str,
    from_user_id: str,
    text: str,
    msg_id: str,
    create_time_ms: int | None = None,
) -> str:
    return (
        f"<XML><Text><Content><![CDATA[{text}]]></Content></Text>"
        f"<FromAlipayUserId><![CDATA[{alipay_user_id}]]></FromAlipayUserId><AppId><![CDATA[{app_id}]]></AppId>"
        f"<MsgType><![CDATA[text]]></MsgType><CreateTime><![CDATA[{create_time_ms or int(time.time() * 1000)}]]>"
        f"</CreateTime><FromUserId><![CDATA[{from_user_id}]]></FromUserId><MsgId><![CDATA[{msg_id}]]></MsgId>"
        f'<UserInfo><![CDATA[{{"user_name":"*市民"}}]]></UserInfo></XML>'
    )


def event_biz_content(
    *,
    app_id: str,
    alipay_user_id: str,
    from_user_id: str,
    event_type: str,
    action_param: str = "",
    create_time_ms: int | None = None,
) -> str:
    """follow, unfollow, click (ActionParam = menu key), enter (ActionParam = JSON with `scene`)."""
    return (
        f"<XML><AppId><![CDATA[{app_id}]]></AppId><FromUserId><![CDATA[{from_user_id}]]></FromUserId>"
        f"<FromAlipayUserId><![CDATA[{alipay_user_id}]]></FromAlipayUserId>"
        f"<CreateTime><![CDATA[{create_time_ms or int(time.time() * 1000)}]]></CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><EventType><![CDATA[{event_type}]]></EventType>"
        f"<ActionParam><![CDATA[{action_param}]]></ActionParam><AgreementId><![CDATA[]]></AgreementId></XML>"
    )


def notify_body(
    params: dict[str, str], *, platform_key: RSAPrivateKey, charset: str = "GBK", sign_type: str = "RSA2"
) -> bytes:
    """The form body, signed over the sorted parameters (sign_type kept) and percent-encoded in `charset`."""
    params = {**params, "charset": charset, "sign_type": sign_type}
    params["sign"] = sign(
        signing_content(params, exclude_sign_type=False), platform_key, sign_type=sign_type, charset=charset
    )
    return "&".join(
        f"{quote_from_bytes(k.encode(charset))}={quote_from_bytes(v.encode(charset), safe='')}"
        for k, v in params.items()
    ).encode("ascii")


def message_notify(
    biz_content: str, *, app_id: str, platform_key: RSAPrivateKey, charset: str = "GBK", sign_type: str = "RSA2"
) -> bytes:
    return notify_body(
        {"service": SERVICE_MESSAGE, "app_id": app_id, "biz_content": biz_content},
        platform_key=platform_key,
        charset=charset,
        sign_type=sign_type,
    )


def gateway_check(*, app_id: str, platform_key: RSAPrivateKey, charset: str = "GBK") -> bytes:
    biz = f"<XML><AppId><![CDATA[{app_id}]]></AppId><EventType><![CDATA[verifygw]]></EventType></XML>"
    return notify_body(
        {"service": SERVICE_CHECK, "app_id": app_id, "biz_content": biz},
        platform_key=platform_key,
        charset=charset,
    )
