"""`/webhooks/wechat/{account_id}`: the URL handshake (GET) and message pushes (POST)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response

from shared.accounts import Account
from shared.contracts.v1 import Channel
from shared.ingest import BrokerUnavailable, InboundPublisher
from shared.webhooks import SignedQueries, query_parameters, read_limited_body, refuse_other_recipient

from . import signature
from .crypto import WeChatCrypto
from .errors import BadSignature, MalformedPush
from .parse import parse_xml, to_inbound

router = APIRouter(prefix="/webhooks/wechat", tags=["webhooks"])


async def get_account(request: Request, account_id: str) -> Account:
    # async although it awaits nothing: FastAPI runs a plain `def` dependency on a worker thread, per push.
    account = request.app.state.accounts.get(Channel.WECHAT, account_id)
    if account is None:
        raise HTTPException(404, f"no WeChat account {account_id!r} is configured")
    return account


AccountDep = Annotated[Account, Depends(get_account)]


def check_signature(account: Account, sig: str | None, timestamp: str | None, nonce: str | None) -> None:
    if not signature.verify(sig, account.token, timestamp, nonce):
        raise HTTPException(403, "signature does not match this account's token")


def check_recipient(account: Account, fields: dict[str, str]) -> None:
    to_user = fields.get("ToUserName")
    if to_user and account.original_id and to_user != account.original_id:
        # Correctly signed, but for another official account (a centre may give several the same token): taking it
        # here would file it under the wrong account and answer the citizen from it.
        refuse_other_recipient(account, f"official account {to_user}")


@router.get("/{account_id}", response_class=PlainTextResponse, summary="URL verification handshake")
async def handshake(
    request: Request,
    account: AccountDep,
    signature_: Annotated[str | None, Query(alias="signature")] = None,
    timestamp: str | None = None,
    nonce: str | None = None,
    echostr: str | None = None,
) -> PlainTextResponse:
    check_signature(account, signature_, timestamp, nonce)
    signed_queries: SignedQueries = request.app.state.signed_queries
    signed_queries.refuse_stale(account, timestamp, now=time.time(), what="handshake")
    if echostr is None:
        raise HTTPException(400, "echostr is missing")
    return PlainTextResponse(echostr)


@router.post(
    "/{account_id}",
    response_class=PlainTextResponse,
    summary="Message and event pushes",
    openapi_extra=query_parameters("signature", "timestamp", "nonce", "encrypt_type", "msg_signature"),
)
async def push(request: Request, account_id: str) -> Response:
    received_at = datetime.now(UTC)
    account = await get_account(request, account_id)
    query = request.query_params
    signature_, timestamp, nonce = query.get("signature"), query.get("timestamp"), query.get("nonce")
    encrypt_type, msg_signature = query.get("encrypt_type"), query.get("msg_signature")
    body = await read_limited_body(request, request.app.state.settings.max_body_bytes)
    check_signature(account, signature_, timestamp, nonce)
    # Neither signature covers the push's age, and the plaintext one not its body either.
    signed_queries: SignedQueries = request.app.state.signed_queries
    used = signed_queries.admit(account, timestamp=timestamp, nonce=nonce, body=body, now=received_at.timestamp())
    try:
        fields = parse_xml(body)
        check_recipient(account, fields)  # the outer XML's; in safe mode only the encrypted one is signed
        encrypted = bool(encrypt_type and encrypt_type.lower() == "aes")
        if account.message_mode == "safe" and not encrypted:
            # Correctly signed, but the plaintext signature covers no body: in safe mode WeChat always encrypts.
            raise HTTPException(403, "this account is in safe mode (message_mode: safe): a push must be encrypted")
        if encrypted:
            if not account.encoding_aes_key:
                raise HTTPException(400, "encrypted push, but this account has no encoding_aes_key configured")
            crypto = WeChatCrypto(
                token=account.token or "",
                encoding_aes_key=account.encoding_aes_key,
                app_id=account.app_id or "",
            )
            if "Encrypt" not in fields:
                raise MalformedPush("encrypt_type=aes but no <Encrypt> element")
            raw = crypto.decrypt(
                msg_signature=msg_signature,
                timestamp=timestamp or "",
                nonce=nonce or "",
                encrypted=fields["Encrypt"],
            )
            fields = parse_xml(raw)
            check_recipient(account, fields)
        else:
            raw = body.decode("utf-8")
        message = to_inbound(fields, account_id=account.id, raw=raw, received_at=received_at)
    except BadSignature as exc:
        raise HTTPException(403, str(exc)) from exc
    except (MalformedPush, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"malformed WeChat push: {exc}") from exc
    publisher: InboundPublisher = request.app.state.publisher
    try:
        with signed_queries.holding(used):
            await publisher.publish(message, trace=request.headers.get("traceparent"))
    except BrokerUnavailable as exc:
        # Not stored: a 5xx makes WeChat retry instead of the citizen's message being lost.
        raise HTTPException(503, "message could not be stored, retry later") from exc
    # "success" acknowledges without a passive reply, in plaintext and in safe mode alike.
    return PlainTextResponse("success")
