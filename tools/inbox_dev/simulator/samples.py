"""Sample pushes of every kind, in Chinese, correctly signed (and encrypted) for one account of each platform.

`inbox-dev simulate` sends them to a running stack; each carries what the webhook should answer.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from shared.accounts import Account

from . import alipay, weibo
from .wechat import WeChatAccount, message_xml, push, signed_query, text_xml


@dataclass(frozen=True)
class Sample:
    channel: str
    label: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect_status: int = 200
    expect_in_body: str | None = None  # a fragment the answer must contain


def _msg_id() -> str:
    return str(random.randint(10**18, 9 * 10**18))


def wechat_samples(account: Account, *, original_id: str | None = None) -> list[Sample]:
    """Every message and event type in plaintext; text and an event in compatible and safe mode too; pushes to the
    account's original id (the accounts file's, else the wechat.md sample's)."""
    sim = WeChatAccount(
        token=account.token or "",
        app_id=account.app_id or "",
        encoding_aes_key=account.encoding_aes_key,
        original_id=original_id or account.original_id or "gh_47bd9550a0a1",
    )
    path = f"/webhooks/wechat/{account.id}"
    citizen = f"oSim{random.randint(10**6, 10**7)}Citizen"
    now = int(time.time())

    def sample(label: str, xml: str, mode: str = "plaintext") -> Sample:
        query, body = push(sim, xml, mode=mode)
        return Sample("wechat", label, "POST", path, query, body, expect_in_body="success")

    def message(msg_type: str, fields: dict[str, str]) -> str:
        return message_xml(sim, sender=citizen, msg_type=msg_type, fields=fields | {"MsgId": _msg_id()})

    def event(name: str, fields: dict[str, str] | None = None) -> str:
        return message_xml(sim, sender=citizen, msg_type="event", fields={"Event": name} | (fields or {}))

    first = sample("text", text_xml(sim, sender=citizen, text="小区门口垃圾三天没人清运，臭气熏天"))
    samples = [
        Sample("wechat", "URL handshake", "GET", path, signed_query(sim) | {"echostr": "8837"}, expect_in_body="8837"),
        first,
        replace(first, label="text, retried by the platform"),  # acknowledged, and dropped as a duplicate
        sample("image", message("image", {"PicUrl": "http://mmbiz.qpic.cn/sim/0", "MediaId": "sim_media_image_1"})),
        sample(
            "voice (with recognition)",
            message(
                "voice",
                {"MediaId": "sim_media_voice_1", "Format": "amr", "Recognition": "我家楼下的路灯坏了一个星期了"},
            ),
        ),
        sample("video", message("video", {"MediaId": "sim_media_video_1", "ThumbMediaId": "sim_thumb_1"})),
        sample("shortvideo", message("shortvideo", {"MediaId": "sim_media_svideo_1", "ThumbMediaId": "sim_thumb_2"})),
        sample(
            "location",
            message(
                "location",
                {
                    "Location_X": "30.657420",
                    "Location_Y": "104.065840",
                    "Scale": "15",
                    "Label": "四川省成都市锦江区红星路",
                },
            ),
        ),
        sample(
            "link",
            message(
                "link",
                {
                    "Title": "市民反映：某小区违章搭建",
                    "Description": "顶楼违建已三个月",
                    "Url": "https://example.com/a",
                },
            ),
        ),
        sample("event subscribe", event("subscribe", {"EventKey": ""})),
        sample("event CLICK", event("CLICK", {"EventKey": "MENU_COMPLAINT"})),
        sample("event VIEW", event("VIEW", {"EventKey": "https://example.com/progress"})),
        sample("event SCAN", event("SCAN", {"EventKey": "1001", "Ticket": "gQH47joAAAAAAAAAASxodHRw"})),
        sample(
            "event LOCATION",
            event("LOCATION", {"Latitude": "30.657420", "Longitude": "104.065840", "Precision": "65.000000"}),
        ),
        sample("event unsubscribe", event("unsubscribe", {"EventKey": ""})),
    ]
    if sim.encoding_aes_key:
        samples += [
            sample("text, compatible mode", text_xml(sim, sender=citizen, text="公司拖欠工资三个月了"), "compatible"),
            sample("text, safe mode (AES)", text_xml(sim, sender=citizen, text="幼儿园门口早晚高峰乱停车严重"), "safe"),
            sample(
                "event CLICK, safe mode (AES)",
                message_xml(
                    sim,
                    sender=citizen + "2",
                    msg_type="event",
                    fields={"Event": "CLICK", "EventKey": "MENU_PROGRESS"},
                    create_time=now,
                ),
                "safe",
            ),
        ]
    forged_query, forged_body = push(sim, text_xml(sim, sender=citizen, text="伪造的消息"))
    samples.append(
        Sample(
            "wechat",
            "forged signature",
            "POST",
            path,
            forged_query | {"signature": "0" * 40},
            forged_body,
            expect_status=403,
        )
    )
    if account.original_id:
        elsewhere = replace(sim, original_id="gh_000000000000")
        query, body = push(elsewhere, text_xml(elsewhere, sender=citizen, text="发给另一个公众号的消息"))
        samples.append(Sample("wechat", "for another official account", "POST", path, query, body, expect_status=403))
    return samples


def weibo_samples(account: Account, *, receiver_id: int | None = None) -> list[Sample]:
    """Pushes to the account's uid (the accounts file's, else the weibo.md sample's)."""
    receiver_id = receiver_id or int(account.uid or 1902538057)
    secret = account.app_secret or ""
    path = f"/webhooks/weibo/{account.id}"
    citizen = random.randint(10**9, 9 * 10**9)

    def sample(label: str, msg_type: str, text: str = "", data: dict[str, object] | None = None) -> Sample:
        body = weibo.push_body(msg_type=msg_type, sender_id=citizen, receiver_id=receiver_id, text=text, data=data)
        return Sample("weibo", label, "POST", path, weibo.signed_query(secret), body)

    text = sample("text", "text", "文华北路修路，早上堵车严重")
    samples = [
        Sample(
            "weibo",
            "URL handshake",
            "GET",
            path,
            weibo.signed_query(secret) | {"echostr": "4417"},
            expect_in_body="4417",
        ),
        text,
        Sample("weibo", "text, retried by the platform", "POST", path, weibo.signed_query(secret), text.body),
        sample("position", "position", "我在这里", {"longitude": "114.305392", "latitude": "30.593098"}),
        sample("voice", "voice", "", {"vfid": 821804459, "tovfid": 821804469}),
        sample("image", "image", "", {"vfid": 821804479, "tovfid": 821804489}),
    ]
    for subtype, key in [
        ("follow", ""),
        ("subscribe", ""),
        ("scan", "qrscene_1001"),
        ("scan_follow", "qrscene_1002"),
        ("click", "MENU_COMPLAINT"),
        ("view", "https://example.com/progress"),
        ("unsubscribe", ""),
        ("unfollow", ""),
    ]:
        data: dict[str, object] = {"subtype": subtype, "key": key}
        if subtype.startswith("scan"):
            data["ticket"] = "sim-ticket"
        samples.append(sample(f"event {subtype}", "event", "", data))
    samples += [
        sample(
            "mention in a status",
            "mention",
            "@城市服务 小区电梯坏了一周没人修",
            {"subtype": "status", "key": "3424883176420210"},
        ),
        sample(
            "mention in a comment",
            "mention",
            "@城市服务 路口红绿灯不亮",
            {"subtype": "comment", "key": "3424883176420211"},
        ),
    ]
    forged = weibo.signed_query(secret) | {"signature": "0" * 40}
    samples.append(Sample("weibo", "forged signature", "POST", path, forged, text.body, expect_status=403))
    if account.uid:
        body = weibo.push_body(
            msg_type="text", sender_id=citizen, receiver_id=int(account.uid) + 1, text="发给另一个账号的消息"
        )
        query = weibo.signed_query(secret)
        samples.append(Sample("weibo", "for another account", "POST", path, query, body, expect_status=403))
    return samples


def alipay_samples(account: Account, *, platform_key: RSAPrivateKey) -> list[Sample]:
    app_id = account.app_id or ""
    path = f"/webhooks/alipay/{account.id}"
    user = f"2088{random.randint(10**11, 10**12 - 1)}"
    from_user = f"2088{random.randint(10**27, 10**28 - 1)}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    ack = "<MsgType><![CDATA[ack]]></MsgType>"

    def message(label: str, biz: str, *, charset: str = "GBK", sign_type: str = "RSA2") -> Sample:
        body = alipay.message_notify(
            biz, app_id=app_id, platform_key=platform_key, charset=charset, sign_type=sign_type
        )
        return Sample("alipay", label, "POST", path, body=body, headers=form, expect_in_body=ack)

    def text(content: str) -> str:
        return alipay.text_biz_content(
            app_id=app_id, alipay_user_id=user, from_user_id=from_user, text=content, msg_id=_msg_id()[:18]
        )

    def event(event_type: str, action_param: str = "") -> str:
        return alipay.event_biz_content(
            app_id=app_id,
            alipay_user_id=user,
            from_user_id=from_user,
            event_type=event_type,
            action_param=action_param,
        )

    first = message("text (GBK, RSA2)", text("你好，我想投诉小区物业乱收费"))
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    samples = [
        Sample(
            "alipay",
            "gateway verification",
            "POST",
            path,
            body=alipay.gateway_check(app_id=app_id, platform_key=platform_key),
            headers=form,
            expect_in_body="<success>true</success>",
        ),
        first,
        Sample(
            "alipay", "text, retried by the platform", "POST", path, body=first.body, headers=form, expect_in_body=ack
        ),
        message("text (UTF-8, RSA)", text("公交站台的遮雨棚破了，下雨天没法等车"), charset="UTF-8", sign_type="RSA"),
        message("event follow", event("follow")),
        message("event click", event("click", "MENU_REPORT")),
        message("event enter", event("enter", json.dumps({"scene": {"sceneId": "1234"}}))),
        message("event unfollow", event("unfollow")),
        Sample(
            "alipay",
            "forged signature",
            "POST",
            path,
            body=alipay.message_notify(text("伪造的消息"), app_id=app_id, platform_key=forger),
            headers=form,
            expect_status=403,
        ),
    ]
    return samples
