"""`/webhooks/alipay/{account_id}`: the life-account gateway (form-encoded, RSA2/RSA signed, often GBK)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from shared.contracts.v1 import Channel
from shared.ingest import BrokerUnavailable, InboundPublisher
from shared.webhooks import read_limited_body, refuse_other_recipient

from .errors import BadSignature, MalformedNotify
from .gateway import ack_response, verification_response
from .keys import AccountKeysError, keys_for
from .notify import (
    SERVICE_CHECK,
    SERVICE_MESSAGE,
    decode_form,
    notify_charset,
    parse_content_type_charset,
    parse_message,
)
from .signature import verify_notify

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/webhooks/alipay", tags=["webhooks"])


def _xml(body: bytes, charset: str) -> Response:
    return Response(body, media_type=f"text/xml;charset={charset}")


@router.post("/{account_id}", summary="Gateway notifies: verification, citizen messages and events")
async def notify(request: Request, account_id: str) -> Response:
    received_at = datetime.now(UTC)
    account = request.app.state.accounts.get(Channel.ALIPAY, account_id)
    if account is None:
        raise HTTPException(404, f"no Alipay account {account_id!r} is configured")
    body = await read_limited_body(request, request.app.state.settings.max_body_bytes)
    try:
        keys = keys_for(account)
    except AccountKeysError as exc:
        log.error("alipay_keys_unusable", account=account.id, error=str(exc))
        raise HTTPException(503, "this account's keys are not configured correctly") from exc
    header_charset = parse_content_type_charset(request.headers.get("content-type", ""))
    try:
        params = decode_form(body, header_charset)
        # The charset the body was decoded in is the one it was signed in: the header's when the form has none.
        # Its canonical name is also the one the answer declares, in its XML declaration and its Content-Type.
        charset = notify_charset(params, header_charset)
        verify_notify(params, keys.alipay_public, charset=charset)
    except MalformedNotify as exc:
        raise HTTPException(400, f"malformed Alipay notify: {exc}") from exc
    except BadSignature as exc:
        raise HTTPException(403, str(exc)) from exc

    sign_type = params.get("sign_type") or "RSA2"
    if sign_type not in {"RSA", "RSA2"}:
        sign_type = "RSA2"
    service = params["service"]
    if service == SERVICE_CHECK:
        # Gateway verification: answer with our app public key, signed.
        return _xml(
            verification_response(
                app_public_key_b64=keys.app_public_b64,
                private_key=keys.app_private,
                sign_type=sign_type,
                charset=charset,
            ),
            charset,
        )
    if service != SERVICE_MESSAGE:
        raise HTTPException(400, f"unsupported service {service!r}")
    try:
        message = parse_message(params.get("biz_content", ""), account_id=account.id, received_at=received_at)
    except MalformedNotify as exc:
        raise HTTPException(400, f"malformed Alipay notify: {exc}") from exc
    if message.recipient_id and account.app_id and message.recipient_id != account.app_id:
        # Correctly signed, but for another life account (a centre may run several on one Alipay key): taking
        # it here would file it under the wrong account and answer the citizen from it.
        refuse_other_recipient(account, f"app {message.recipient_id}", what="notify")
    publisher: InboundPublisher = request.app.state.publisher
    try:
        await publisher.publish(message, trace=request.headers.get("traceparent"))
    except BrokerUnavailable as exc:
        raise HTTPException(503, "message could not be stored, retry later") from exc
    return _xml(
        ack_response(
            to_user_id=message.sender_id,
            app_id=account.app_id or "",
            private_key=keys.app_private,
            sign_type=sign_type,
            charset=charset,
        ),
        charset,
    )
