"""One reply from command to receipt: consult the ledger, send with retries, record each step, publish the receipt.

See ledger.py for why the ledger makes delivery at most once per reply id, and what it cannot cover.

A reply has a time to live: no platform call starts after the command's `expires_at`, which case-api set from its
own INBOX_REPLY_TTL_S when it queued the reply (so this service's setting cannot disagree with it; commands from
before that field existed fall back to this service's setting, counted from the envelope's `occurred_at`).
A command that arrives too late (delivery was stopped or far behind), or whose retries would run past it, is
reported failed with code `expired` instead: an answer arriving hours late is worse than none, the operator may
have phoned the citizen meanwhile. case-api marks replies it heard nothing about the same way (replies/expiry.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import UUID

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from ..accounts import Account, AccountRegistry
from ..contracts.v1 import (
    REPLY_EXPIRED,
    Channel,
    DeliveryReceipt,
    DeliveryReceiptRecord,
    DeliveryStatus,
    ReplyCommand,
    ReplyKind,
    expired_reason,
    utcnow,
)
from .ledger import Delivery, DeliveryLedger, LedgerStatus
from .platform import Send, SendFailed
from .retry import RetryPolicy

log = structlog.get_logger(__name__)

REPLIES = Counter("inbox_outbound_replies_total", "Replies finished, by outcome", ["channel", "outcome"])
ATTEMPTS = Counter("inbox_outbound_attempts_total", "Platform calls made for replies", ["channel", "result"])

OUTCOME_UNKNOWN = "outcome_unknown"
_OUTCOME_UNKNOWN_REASON = (
    "the service stopped while this reply was being sent, so whether the citizen received it is unknown; "
    "it was not sent again to avoid a duplicate: check the platform's back end or send it again"
)


class ReplyDeliverer:
    def __init__(
        self,
        *,
        channel: Channel,
        accounts: AccountRegistry,
        send: Send,
        ledger: DeliveryLedger,
        producer: AIOKafkaProducer,
        receipts_topic: str,
        source: str,
        policy: RetryPolicy,
        shutdown_grace_s: float = 5.0,
        publish_timeout_s: float = 10.0,
        ttl: timedelta | None = None,  # for commands that carry no `expires_at`
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.channel = channel
        self._accounts = accounts
        self._send = send
        self._ledger = ledger
        self._producer = producer
        self._receipts_topic = receipts_topic
        self._source = source
        self._policy = policy
        self._grace_s = shutdown_grace_s
        self._publish_timeout_s = publish_timeout_s
        self._ttl = ttl  # None: no time limit for commands without their own
        self._now = now
        self._sleep = sleep
        # Retries left for a later batch: reply id → when the next attempt is due (time.monotonic). Lost on a
        # restart, which only makes that attempt come sooner.
        self._not_before: dict[UUID, float] = {}

    async def deliver(
        self, command: ReplyCommand, *, trace: str | None = None, deadline: float, queued_at: datetime
    ) -> Delivery:
        """Deliver (or fail) `command` once and publish its receipt; a reply id seen before is not sent again.

        `deadline` (time.monotonic) bounds the waits in this batch: a retry due after it is left for the batch's
        next poll, and the row comes back unfinished (no receipt yet).
        `queued_at` (the command envelope's `occurred_at`) is when case-api queued it; the reply's time to live
        ends at the command's `expires_at`, or for a command without one this service's TTL after `queued_at`.
        Raises only for our own infrastructure (ledger, broker): the batch is then retried, and the ledger makes
        the retry safe.
        """
        log_ = log.bind(reply_id=str(command.reply_id), case_number=command.case_number, account=command.account_id)
        row = await self._ledger.get(command.reply_id)
        if row is None:
            row = Delivery.new(command.reply_id, self._now())
        elif row.status is LedgerStatus.SENDING:
            log_.warning("delivery_outcome_unknown", attempts=row.attempts)
            REPLIES.labels(self.channel.value, OUTCOME_UNKNOWN).inc()
            row = await self._ledger.save(
                row.finish(LedgerStatus.FAILED, OUTCOME_UNKNOWN, _OUTCOME_UNKNOWN_REASON, self._now())
            )
        elif row.finished and row.receipt_published:
            REPLIES.labels(self.channel.value, "duplicate").inc()
            log_.info("reply_already_handled", status=row.status.value)
            return row
        if not row.finished:
            if time.monotonic() < self._not_before.get(command.reply_id, 0.0):
                return row  # its retry is not due yet
            self._not_before.pop(command.reply_id, None)
            row = await self._attempt(command, row, deadline, queued_at, log_)
            if not row.finished:
                return row
            outcome = REPLY_EXPIRED if row.platform_code == REPLY_EXPIRED else row.status.value
            REPLIES.labels(self.channel.value, outcome).inc()
            log_.info("reply_" + outcome, attempts=row.attempts, platform_code=row.platform_code, reason=row.reason)
        await self._publish_receipt(command, row, trace)
        return await self._ledger.save(row.published(self._now()))

    async def _attempt(
        self,
        command: ReplyCommand,
        row: Delivery,
        deadline: float,
        queued_at: datetime,
        log_: structlog.typing.FilteringBoundLogger,
    ) -> Delivery:
        expires_at = self._expires_at(command, queued_at)
        account = self._accounts.get(self.channel, command.account_id)
        if account is None:
            where = f"no {self.channel.value} account {command.account_id!r} is configured in this service"
            return await self._fail(row, SendFailed("unknown_account", where, transient=False))
        if (invalid := _invalid(command)) is not None:
            return await self._fail(row, invalid)
        while True:
            if expires_at is not None and self._now() >= expires_at:
                return await self._fail(row, self._expired(row, queued_at, expires_at, last=row.reason))
            # Written (durably) before the call: if we die during it, the restart knows not to send again.
            row = await self._ledger.save(row.sending(self._now()))
            failure = await self._call(account, command, row)
            if failure is None:
                ATTEMPTS.labels(self.channel.value, "delivered").inc()
                return await self._ledger.save(row.finish(LedgerStatus.DELIVERED, None, None, self._now()))
            ATTEMPTS.labels(self.channel.value, "transient" if failure.transient else "permanent").inc()
            if not failure.transient:
                return await self._fail(row, failure)
            delay = self._policy.delay(row.attempts)
            if not self._policy.may_retry(row.attempts, delay=delay, remaining_s=self._remaining_s(row)):
                reason = f"gave up after {row.attempts} attempt{'s' if row.attempts > 1 else ''}: {failure.reason}"
                return await self._fail(row, SendFailed(failure.code, reason, transient=True))
            if expires_at is not None and self._now() + timedelta(seconds=delay) >= expires_at:
                # No point waiting for a retry the time to live forbids.
                return await self._fail(row, self._expired(row, queued_at, expires_at, last=failure.reason))
            log_.info("reply_retry_scheduled", attempts=row.attempts, code=failure.code, delay_s=round(delay, 2))
            row = await self._ledger.save(row.waiting(failure.code, failure.reason, self._now()))
            if delay >= deadline - time.monotonic():
                # The batch must end before then; its next poll takes the retry up. Giving up here failed the
                # replies late in a long batch after one attempt during a platform's rate limit.
                self._not_before[command.reply_id] = time.monotonic() + delay
                return row
            await self._sleep(delay)

    def _expires_at(self, command: ReplyCommand, queued_at: datetime) -> datetime | None:
        if command.expires_at is not None:
            return command.expires_at
        return queued_at + self._ttl if self._ttl is not None else None

    def _expired(self, row: Delivery, queued_at: datetime, expires_at: datetime, *, last: str | None) -> SendFailed:
        if row.attempts:
            tries = f"{row.attempts} attempt{'s' if row.attempts > 1 else ''}"
            detail = f"not tried again after {tries}, the last one: {last}"
        else:
            late = max(0, round((self._now() - queued_at).total_seconds() / 60))
            detail = (
                f"it reached the {self.channel.value} service {late} min after it was queued (delivery was stopped "
                "or behind), so it was not sent"
            )
        # The command's own time to live, whoever decided it.
        return SendFailed(REPLY_EXPIRED, expired_reason(expires_at - queued_at, detail), transient=False)

    async def _fail(self, row: Delivery, failure: SendFailed) -> Delivery:
        return await self._ledger.save(row.finish(LedgerStatus.FAILED, failure.code, failure.reason, self._now()))

    def _remaining_s(self, row: Delivery) -> float:
        # The ledger's first attempt keeps the bound across restarts and batches.
        return self._policy.max_total_s - (self._now() - row.first_attempt_at).total_seconds()

    async def _call(self, account: Account, command: ReplyCommand, row: Delivery) -> SendFailed | None:
        """One platform call. On shutdown a call under way may finish (bounded) and have its outcome recorded:
        cancelling it mid-request would leave an unknown outcome, and so a reply reported failed for nothing."""
        call = asyncio.ensure_future(self._send_once(account, command))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            done, _ = await asyncio.wait({call}, timeout=self._grace_s)
            if call in done:
                failure = call.result()
                if failure is None:
                    await self._ledger.save(row.finish(LedgerStatus.DELIVERED, None, None, self._now()))
                elif failure.transient:
                    await self._ledger.save(row.waiting(failure.code, failure.reason, self._now()))
                else:
                    await self._fail(row, failure)
            else:
                call.cancel()  # the row stays `sending`: the restart reports the outcome as unknown
            raise

    async def _send_once(self, account: Account, command: ReplyCommand) -> SendFailed | None:
        try:
            await self._send(account, command)
        except SendFailed as failure:
            return failure
        except Exception as exc:
            # A bug or a misconfiguration in our own code, not the platform's answer: retrying blindly could
            # send twice if the request went out, so it fails and the operator sees why.
            log.exception("send_raised", reply_id=str(command.reply_id))
            return SendFailed("internal_error", f"{type(exc).__name__}: {exc}"[:500], transient=False)
        return None

    async def _publish_receipt(self, command: ReplyCommand, row: Delivery, trace: str | None) -> None:
        receipt = DeliveryReceipt(
            reply_id=command.reply_id,
            case_id=command.case_id,
            channel=command.channel,
            account_id=command.account_id,
            status=DeliveryStatus.DELIVERED if row.status is LedgerStatus.DELIVERED else DeliveryStatus.FAILED,
            attempts=row.attempts,
            platform_code=row.platform_code,
            reason=row.reason,
            finished_at=row.updated_at,
        )
        record = DeliveryReceiptRecord.wrap(receipt, source=self._source, trace=trace)
        async with asyncio.timeout(self._publish_timeout_s):  # not wait_for: see consume_batches
            await self._producer.send_and_wait(
                self._receipts_topic, value=record.to_bytes(), key=str(command.case_id).encode()
            )


def _invalid(command: ReplyCommand) -> SendFailed | None:
    """Commands no platform could deliver, refused before any call."""
    if command.kind is ReplyKind.TEXT and not command.text.strip():
        return SendFailed("empty_reply", "the reply has no text", transient=False)
    if command.kind is ReplyKind.IMAGE and not command.media_id:
        return SendFailed("missing_media_id", "an image reply needs the platform's media id", transient=False)
    return None
