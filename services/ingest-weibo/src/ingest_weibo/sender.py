"""Replies to Weibo citizens through `messages/reply.json`; the loop itself is shared.outbound."""

from __future__ import annotations

import httpx

from shared.accounts import Account
from shared.contracts.v1 import ReplyCommand, ReplyKind
from shared.outbound import Send, SenderFactory, SendFailed

from .client import DEFAULT_API_BASE, WeiboClient

_API_VERSION_PATH = "/2"


def reply_api_base(account: Account) -> str:
    """The account's `api_base` is the host (config/accounts.example.yaml: `https://m.api.weibo.com`); the
    client's base includes the API version path."""
    if not account.api_base:
        return DEFAULT_API_BASE
    base = account.api_base.rstrip("/")
    return base if base.endswith(_API_VERSION_PATH) else base + _API_VERSION_PATH


def weibo_sender(*, save_sender_box: bool = True) -> SenderFactory:
    def make(http: httpx.AsyncClient) -> Send:
        clients: dict[str, WeiboClient] = {}

        async def send(account: Account, command: ReplyCommand) -> None:
            if command.kind is not ReplyKind.TEXT:
                # weibo.md: reply.json takes text, articles and position; no uploaded images.
                raise SendFailed(
                    "unsupported_kind", f"Weibo replies cannot carry {command.kind.value}", transient=False
                )
            if not account.access_token:
                raise SendFailed(
                    "no_access_token",
                    f"Weibo account {account.id!r} has no access_token: copy it from the platform console",
                    transient=False,
                )
            base = reply_api_base(account)
            client = clients.get(base)
            if client is None:
                client = clients[base] = WeiboClient(http, api_base=base, timeout=http.timeout)
            await client.send_text(
                access_token=account.access_token,
                receiver_id=command.recipient_id,
                text=command.text,
                save_sender_box=save_sender_box,
            )

        return send

    return make
