"""Replies to WeChat citizens: ReplyCommand → customer-service message; the loop itself is shared.outbound."""

from __future__ import annotations

import httpx

from shared.accounts import Account
from shared.contracts.v1 import ReplyCommand, ReplyKind
from shared.outbound import Send, SenderFactory

from .client import WeChatClient
from .token import AccessTokens


def wechat_sender(*, token_refresh_margin_s: float = 300.0) -> SenderFactory:
    def make(http: httpx.AsyncClient) -> Send:
        # One token cache per process: it must be the only place that refreshes each account's token.
        client = WeChatClient(http, AccessTokens(http, refresh_margin_s=token_refresh_margin_s))

        async def send(account: Account, command: ReplyCommand) -> None:
            if command.kind is ReplyKind.IMAGE:
                await client.send_image(account, openid=command.recipient_id, media_id=command.media_id or "")
            else:
                await client.send_text(account, openid=command.recipient_id, text=command.text)

        return send

    return make
