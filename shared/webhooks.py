"""The HTTP side every ingest service shares: body limits, signed queries' freshness and single use, and the app
with its producer, health checks and, when the channel provides a sender, the delivery of replies (shared.outbound)."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, NamedTuple, NoReturn, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .accounts import RECIPIENT_FIELDS, Account, AccountRegistry, load_accounts
from .contracts.v1 import Channel
from .health import Check, health_router
from .ingest import InboundPublisher
from .kafka import broker_reachable, make_producer, stop_quietly
from .logging import configure_logging
from .outbound import SenderFactory, running_delivery
from .ratelimit import RateLimiter
from .settings import CommonSettings, KafkaSettings, Mode, OutboundSettings

log = structlog.get_logger(__name__)


class IngestSettings(Protocol):
    service_name: str
    max_body_bytes: int
    kafka: KafkaSettings


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) anything over `limit` bytes before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"body exceeds the {limit}-byte limit")
            chunks.append(chunk)
    except ClientDisconnect as exc:  # nobody to answer; a 400 keeps it out of the error log as a traceback
        raise HTTPException(400, "the client disconnected before sending the whole body") from exc
    return b"".join(chunks)


class AccountRateLimit:
    """Answers 429 with Retry-After once an account's token bucket is empty.

    The bucket is only looked at on the way in, and charged when the answer starts unless it is a 4xx: a flood of
    forged requests must not use it up and get the platform's genuine pushes refused. Every 4xx, not only 403:
    413 and 400 (body too big or unreadable) come before the signature could be checked (WeChat and Weibo read
    the body first; Alipay signs it). Genuine pushes refused after their check (400 malformed, 403 for another
    account) go uncharged too, which is harmless; 2xx and 5xx are charged. A slow body holds no token.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` (BaseHTTPMiddleware) costs an extra task and
    memory streams per request, which halved the throughput of the whole webhook (benchmarks/NOTES.md)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, channel: Channel) -> None:
        self.app = app
        self.limiter = limiter
        self.channel = channel

    def _known(self, scope: Scope, account_id: str) -> bool:
        # Only configured accounts get a bucket: one per made-up path would grow without end (the app 404s them).
        accounts: AccountRegistry | None = getattr(scope["app"].state, "accounts", None)
        return accounts is not None and accounts.get(self.channel, account_id) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parts = scope["path"].split("/")  # /webhooks/<channel>/<account>
        if len(parts) != 4 or parts[1] != "webhooks" or not self._known(scope, parts[3]):
            await self.app(scope, receive, send)
            return
        account_id, limiter = parts[3], self.limiter
        if wait := limiter.peek(account_id):
            seconds = max(1, int(wait + 0.999))
            response = JSONResponse(
                {"detail": f"too many requests for this account; retry in {seconds} s"},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
            await response(scope, receive, send)
            return

        async def charging_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not 400 <= message["status"] < 500:
                limiter.charge(account_id)
            await send(message)

        await self.app(scope, receive, charging_send)


def refuse_other_recipient(account: Account, named: str, *, what: str = "push") -> NoReturn:
    """403 for a correctly signed push naming another of the centre's accounts. Logged: a wrong `original_id` or
    `uid` in the accounts file refuses every genuine push, and the platform gives up after its retries."""
    log.warning("push_for_another_account", channel=account.channel.value, account=account.id, named=named)
    raise HTTPException(403, f"this {what} is for {named}, not this account's")


# A signed `timestamp` this large is milliseconds: as seconds it would be the year 5138, as milliseconds it is 1973.
_MILLISECONDS_FROM = 10**11


def signed_at(timestamp: str | None) -> float | None:
    """The unix time (seconds) a platform's signed `timestamp` names, or None when it names none. WeChat signs
    seconds; Weibo's unit is undocumented (a public SDK's sample push has milliseconds), so both are read."""
    if not timestamp or len(timestamp) > 16 or not (timestamp.isascii() and timestamp.isdigit()):
        return None
    value = int(timestamp)
    return value / 1000 if value >= _MILLISECONDS_FROM else float(value)


class UsedQuery(NamedTuple):
    """A push's signed query (hashed) and what it carried (the account and body, hashed), until it is held."""

    key: bytes
    carried: bytes
    expires: float  # unix time when the query's timestamp leaves the window
    account: Account
    nonce: str | None


def _digest(*parts: str | bytes | None) -> bytes:
    blake = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part or b""
        blake.update(len(data).to_bytes(4, "big") + data)  # length-prefixed: no two part lists hash alike
    return blake.digest()


class SignedQueries:
    """Freshness and single use of the query string a platform signs (signature, timestamp, nonce).

    WeChat's plaintext `signature` and Weibo's cover neither the body nor the request's age (WeChat's safe-mode
    `msg_signature` covers the body, not the age): a captured query would be accepted for ever, with any body.
    So a request whose timestamp is more than `window_s` from our clock, either way, is refused; and within the
    window a query that was accepted once is accepted again only with the same account and body, which is how a
    platform retries. A query is held while its push is stored (`holding`), so a copy with another body arriving
    meanwhile is refused too; a refused or unstored push lets it go, so the platform's retry is accepted.

    One process's memory: another replica or a restart forgets (the window still bounds a replay). An entry is kept
    until its timestamp leaves the window, after which the query is refused as stale anyway, and at most `capacity`
    entries (about 280 bytes each). Beyond that the oldest is forgotten, not the new push refused: that would lose
    genuine messages in a burst, while a forgotten query is the one closest to being refused as stale."""

    def __init__(self, *, channel: Channel, window_s: float, capacity: int = 100_000) -> None:
        self.channel = channel
        self.window_s = window_s
        self.capacity = capacity
        self._accepted: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self._full_logged_at = float("-inf")

    def __len__(self) -> int:
        return len(self._accepted)

    def refuse_stale(self, account: Account, timestamp: str | None, *, now: float, what: str = "push") -> float:
        """403 unless the (correctly signed) `timestamp` is within the window of `now`; else the time it names."""
        at = signed_at(timestamp)
        if at is None:
            self._refuse(account, "timestamp_unreadable", f"timestamp {timestamp!r} is not a unix time", timestamp)
        skew = now - at
        if abs(skew) > self.window_s:
            side = "behind" if skew > 0 else "ahead of"
            self._refuse(
                account,
                "timestamp_outside_window",
                f"{what} timestamp is {abs(skew):.0f} s {side} this server's clock, "
                f"outside the {self.window_s:g} s window by {abs(skew) - self.window_s:.0f} s",
                timestamp,
                what=what,
                skew_s=round(skew, 1),
                window_s=self.window_s,
            )
        return at

    def admit(
        self, account: Account, *, timestamp: str | None, nonce: str | None, body: bytes, now: float
    ) -> UsedQuery:
        """403 for a stale push (refuse_stale) or a query accepted before with another account or body; else what to
        hold while the push is stored (`holding`).

        A query is known by what its signature signs besides the secret, the timestamp and nonce, not by the
        signature's spelling: signatures are compared without regard to case, and a plaintext push carries an
        unchecked `msg_signature` as it likes, so either would make a replay look new. (Two genuine pushes with one
        timestamp and nonce would need the platform's random nonce to repeat within the same second.)"""
        expires = self.refuse_stale(account, timestamp, now=now) + self.window_s
        self._expire(now)
        used = UsedQuery(_digest(timestamp, nonce), _digest(account.id, body), expires, account, nonce)
        self._refuse_other_use(used, timestamp)
        return used

    @contextmanager
    def holding(self, used: UsedQuery) -> Iterator[None]:
        """Around storing an admitted push. From the start its query is refused with anything else: `admit` alone
        would let a copy with another body through while this one awaits the broker. If storing fails, the query
        is let go (unless an earlier acceptance holds it), so the platform's retry is accepted."""
        self._refuse_other_use(used, None)
        mine = used.key not in self._accepted  # else: a retry, whose first acceptance stands
        if mine:
            self._remember(used)
        try:
            yield
        except BaseException:
            if mine and self._accepted.get(used.key) == (used.carried, used.expires):
                del self._accepted[used.key]
            raise
        if used.key not in self._accepted:  # the first copy failed and let go while this retry was stored
            self._remember(used)

    def _refuse_other_use(self, used: UsedQuery, timestamp: str | None) -> None:
        accepted = self._accepted.get(used.key)
        if accepted is not None and accepted[0] != used.carried:
            detail = "this signed query was already used for another push"
            self._refuse(used.account, "signed_query_replayed", detail, timestamp, nonce=used.nonce)

    def _remember(self, used: UsedQuery) -> None:
        if len(self._accepted) >= self.capacity:
            self._accepted.popitem(last=False)
            now = time.monotonic()
            if now - self._full_logged_at > self.window_s:  # once a window, not once a push
                self._full_logged_at = now
                log.warning("signed_queries_full", channel=self.channel.value, capacity=self.capacity)
        self._accepted[used.key] = (used.carried, used.expires)

    def _refuse(self, account: Account, event: str, detail: str, timestamp: str | None, **fields: Any) -> NoReturn:
        # Logged: a platform whose clock is off, or someone replaying what they captured.
        log.warning(event, channel=self.channel.value, account=account.id, signed_timestamp=timestamp, **fields)
        raise HTTPException(403, detail)

    def _expire(self, now: float) -> None:
        # Oldest first. One with a timestamp ahead of our clock may hold later ones a little longer: bounded anyway.
        accepted = self._accepted
        while accepted and next(iter(accepted.values()))[1] < now:
            accepted.popitem(last=False)


def query_parameters(*names: str) -> dict[str, Any]:
    """OpenAPI for the optional string query parameters a push handler reads from `request.query_params` itself:
    FastAPI's per-parameter validation was a fifth of a push's time (benchmarks/NOTES.md)."""
    return {
        "parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in names]
    }


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# The example's recipient ids: kept, they would refuse every genuine push to a real account (403), and the
# platforms give up after their retries.
_DEMO_RECIPIENTS = {"original_id": "gh_47bd9550a0a1", "uid": "1902538057"}
_PLACEHOLDER_MARKS = ("demo-", "change-me", "CHANGE-ME", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")


def refuse_placeholders(accounts: list[Account]) -> None:
    """Outside local mode the example's demo credentials would let anyone forge this city's messages."""
    fields = ("token", "app_secret", "encoding_aes_key", "access_token")
    bad = [
        f"{a.channel}:{a.id}.{f}"
        for a in accounts
        for f in fields
        if any(mark in str(getattr(a, f) or "") for mark in _PLACEHOLDER_MARKS)
    ]
    bad += [f"{a.channel}:{a.id}.{f}" for a in accounts for f, v in _DEMO_RECIPIENTS.items() if getattr(a, f) == v]
    # The example's fake platform APIs: replies would go nowhere, every one reported failed.
    bad += [f"{a.channel}:{a.id}.api_base" for a in accounts if urlsplit(a.api_base or "").hostname in _LOCAL_HOSTS]
    if bad:
        raise RuntimeError("refusing to start in production mode with example credentials: " + ", ".join(bad))


def log_unchecked_recipients(accounts: list[Account]) -> None:
    """One line naming the accounts that take correctly signed pushes meant for another account (the field that
    would tie them is optional): enough to notice, once per start."""
    if not accounts:
        return
    field = RECIPIENT_FIELDS[accounts[0].channel]
    unchecked = [a.id for a in accounts if not getattr(a, field)]
    if unchecked:
        log.info("recipient_not_checked", accounts=unchecked, set_in_accounts_file=field)


def create_ingest_app(
    *,
    settings: CommonSettings,
    channel: Channel,
    webhook_router: APIRouter,
    sender: SenderFactory | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The ingest app. With a `sender` (and `outbound.enabled`), it also delivers this channel's replies;
    `transport` goes under the platform HTTP client (tests may pass an `httpx.MockTransport`)."""
    ingest: IngestSettings = settings  # type: ignore[assignment]
    outbound: OutboundSettings | None = getattr(settings, "outbound", None)
    delivering = sender is not None and outbound is not None and outbound.enabled

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(ingest.service_name, level=settings.log_level, fmt=settings.log_format)
        accounts = load_accounts(settings.accounts_file)
        if settings.mode is Mode.PRODUCTION:
            refuse_placeholders(accounts.for_channel(channel))
        producer = make_producer(ingest.kafka, client_id=ingest.service_name)
        await producer.start()
        app.state.accounts = accounts
        app.state.producer = producer
        app.state.delivery = None
        app.state.publisher = InboundPublisher(
            producer,
            topic=ingest.kafka.topics.inbox_messages,
            source=ingest.service_name,
            timeout_s=ingest.kafka.request_timeout_ms / 1000,
        )
        try:
            async with AsyncExitStack() as stack:
                if delivering:
                    assert sender is not None and outbound is not None
                    app.state.delivery = await stack.enter_async_context(
                        running_delivery(
                            channel=channel,
                            service=ingest.service_name,
                            accounts=accounts,
                            sender=sender,
                            producer=producer,
                            kafka=ingest.kafka,
                            settings=outbound,
                            transport=transport,
                        )
                    )
                log.info(
                    "started",
                    accounts=len(accounts.for_channel(channel)),
                    topic=ingest.kafka.topics.inbox_messages,
                    delivering=delivering,
                )
                log_unchecked_recipients(accounts.for_channel(channel))
                yield
        finally:
            # After the delivery consumer stopped: it publishes receipts through this producer.
            await stop_quietly(producer)

    async def delivering_alive() -> bool:
        return app.state.delivery is not None and bool(app.state.delivery.alive)

    def checks() -> dict[str, Check]:
        named: dict[str, Check] = {"broker": lambda: broker_reachable(app.state.producer.client)}
        if delivering:
            named["delivery"] = delivering_alive
        return named

    app = FastAPI(title=ingest.service_name, lifespan=lifespan)
    app.state.settings = settings
    limiter = app.state.limiter = RateLimiter(
        rate=settings.webhook_rate_per_account, burst=settings.webhook_burst_per_account
    )

    app.add_middleware(AccountRateLimit, limiter=limiter, channel=channel)
    app.include_router(webhook_router)
    app.include_router(health_router(checks))
    return app
