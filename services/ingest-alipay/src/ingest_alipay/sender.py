"""Replies to Alipay citizens through `alipay.open.public.message.custom.send`; the loop is shared.outbound.

Replies go to the command's recipient, the 2088… Alipay user id inbound stores as the sender (notify.py).
"""

from __future__ import annotations

import asyncio

import httpx

from shared.accounts import Account
from shared.contracts.v1 import ReplyCommand, ReplyKind
from shared.outbound import Send, SenderFactory, SendFailed

from .client import DEFAULT_API_BASE, AlipayClient
from .keys import AccountKeysError, keys_for


def alipay_sender(*, chat: bool = True) -> SenderFactory:
    def make(http: httpx.AsyncClient) -> Send:
        clients: dict[str, AlipayClient] = {}

        async def client_for(account: Account) -> AlipayClient:
            client = clients.get(account.id)
            if client is None:
                try:
                    # Reading and parsing the key files blocks; once per account, off the event loop.
                    keys = await asyncio.to_thread(keys_for, account)
                except AccountKeysError as exc:
                    raise SendFailed("account_keys", str(exc), transient=False) from exc
                client = clients[account.id] = AlipayClient(
                    http,
                    app_id=account.app_id or "",
                    private_key=keys.app_private,
                    alipay_public_key=keys.alipay_public,
                    api_base=account.api_base or DEFAULT_API_BASE,
                    chat=chat,
                    timeout=http.timeout.read or 10.0,
                )
            return client

        async def send(account: Account, command: ReplyCommand) -> None:
            if command.kind is not ReplyKind.TEXT:
                # custom.send takes text and image-text articles; a bare media id has no equivalent.
                raise SendFailed(
                    "unsupported_kind", f"Alipay replies cannot carry {command.kind.value}", transient=False
                )
            client = await client_for(account)
            await client.send_text(to_user_id=command.recipient_id, text=command.text)

        return send

    return make
