"""`/webhooks/weibo/{account_id}`: the URL handshake (GET) and JSON pushes (POST), signed with the app secret."""

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

from .errors import MalformedPush
from .parse import parse_push
from .signature import verify_signature

router = APIRouter(prefix="/webhooks/weibo", tags=["webhooks"])


async def get_account(request: Request, account_id: str) -> Account:
    # async although it awaits nothing: FastAPI runs a plain `def` dependency on a worker thread, per push.
    account = request.app.state.accounts.get(Channel.WEIBO, account_id)
    if account is None:
        raise HTTPException(404, f"no Weibo account {account_id!r} is configured")
    return account


AccountDep = Annotated[Account, Depends(get_account)]


def check_signature(account: Account, sig: str | None, timestamp: str | None, nonce: str | None) -> None:
    if not verify_signature(account.app_secret or "", sig, timestamp, nonce):
        raise HTTPException(403, "signature does not match this account's app secret")


@router.get("/{account_id}", response_class=PlainTextResponse, summary="URL verification handshake")
async def handshake(
    request: Request,
    account: AccountDep,
    signature: Annotated[str | None, Query()] = None,
    timestamp: str | None = None,
    nonce: str | None = None,
    echostr: str | None = None,
) -> PlainTextResponse:
    check_signature(account, signature, timestamp, nonce)
    signed_queries: SignedQueries = request.app.state.signed_queries
    signed_queries.refuse_stale(account, timestamp, now=time.time(), what="handshake")
    if echostr is None:
        raise HTTPException(400, "echostr is missing")
    return PlainTextResponse(echostr)


@router.post(
    "/{account_id}",
    response_class=PlainTextResponse,
    summary="Message and event pushes",
    openapi_extra=query_parameters("signature", "timestamp", "nonce"),
)
async def push(request: Request, account_id: str) -> Response:
    received_at = datetime.now(UTC)
    account = await get_account(request, account_id)
    query = request.query_params
    signature, timestamp, nonce = query.get("signature"), query.get("timestamp"), query.get("nonce")
    body = await read_limited_body(request, request.app.state.settings.max_body_bytes)
    check_signature(account, signature, timestamp, nonce)
    # The signature covers neither the push's age nor its body.
    signed_queries: SignedQueries = request.app.state.signed_queries
    used = signed_queries.admit(account, timestamp=timestamp, nonce=nonce, body=body, now=received_at.timestamp())
    try:
        message = parse_push(body, account_id=account.id, received_at=received_at)
    except MalformedPush as exc:
        raise HTTPException(400, f"malformed Weibo push: {exc}") from exc
    if account.uid and message.recipient_id != account.uid:
        # Correctly signed, but for another Weibo account (one app secret can serve several): taking it here would
        # file it under the wrong account and answer the citizen from it.
        refuse_other_recipient(account, f"uid {message.recipient_id}")
    publisher: InboundPublisher = request.app.state.publisher
    try:
        with signed_queries.holding(used):
            await publisher.publish(message, trace=request.headers.get("traceparent"))
    except BrokerUnavailable as exc:
        raise HTTPException(503, "message could not be stored, retry later") from exc
    # An empty answer means "received, no passive reply" (weibo.md).
    return PlainTextResponse("")
