"""Live queues (server-sent events) stay open for a shift: many must not starve other requests, none may skip an
event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from case_api.auth.models import Role
from case_api.auth.service import issue_token
from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from case_api.main import create_app
from case_api.outbox.models import OutboxRecord
from case_api.outbox.signal import OutboxSignal
from case_api.queue import router as queue_router
from case_api.queue.hub import OutboxHub
from case_api.queue.live import GRACE_S, Held, LiveCursor, seen_by, visible_to
from case_api.settings import Settings
from inbox_dev.ports import free_port
from shared.contracts.v1 import RoutedMessageRecord, utcnow
from shared.settings import DatabaseSettings, KafkaSettings
from shared.topics import CASE_EVENTS
from tests.case_api.factories import POLICY, bearer, routed

OPERATORS = 30  # more than the database pool holds (10 + 10 overflow on PostgreSQL, 5 + 10 on SQLite)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """case-api on a real port (streams need a real server): a client and an administrator's headers."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, {"Authorization": await bearer(client, "admin", "admin")}
    finally:
        server.should_exit = True
        await task


async def test_thirty_open_live_queues_leave_the_api_answering(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    async with serving(settings) as (client, headers), contextlib.AsyncExitStack() as streams:
        for _ in range(OPERATORS):
            live = await streams.enter_async_context(client.stream("GET", "/api/v1/queue/events", headers=headers))
            assert live.status_code == 200
        # Every stream is open; an operator's next page still loads at once.
        page = await client.get("/api/v1/queue", headers=headers, timeout=5)
        assert page.status_code == 200 and page.json()["items"] == []


def _event_row(name: str, department_id: str | None = None) -> dict[str, object]:
    value = json.dumps({"type": "gov.inbox.case.created", "subject": name})
    return {"topic": CASE_EVENTS, "key": name, "value": value, "case_id": None, "department_id": department_id} | {
        "created_at": utcnow()
    }


async def _insert(database_url: str, rows: list[dict[str, object]]) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for row in rows:  # one at a time: each takes the next id
                await conn.execute(insert(OutboxRecord.__table__).values(row))
    finally:
        await engine.dispose()


async def test_thirty_live_queues_share_one_reader_of_the_outbox(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """A shift's worth of open queues must not each query the database: one reader per process serves them."""
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url), outbox_idle_s=0.5)
    outbox_reads = 0

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal outbox_reads
        outbox_reads += statement.lstrip().upper().startswith("SELECT") and "FROM OUTBOX" in statement.upper()

    async with serving(settings) as (client, headers), contextlib.AsyncExitStack() as streams:
        lives = [
            _events(await streams.enter_async_context(client.stream("GET", "/api/v1/queue/events", headers=headers)))
            for _ in range(OPERATORS)
        ]
        await asyncio.sleep(1)  # every stream has started from the newest id
        event.listen(Engine, "before_cursor_execute", count)
        try:
            await _insert(database_url, [_event_row("burst pipe")])
            received = await asyncio.wait_for(asyncio.gather(*(anext(live) for live in lives)), 10)
            await asyncio.sleep(2)
        finally:
            event.remove(Engine, "before_cursor_execute", count)
    assert [json.loads(e["data"])["subject"] for e in received] == ["burst pipe"] * OPERATORS
    # Each stream reading for itself made at least one query per stream per poll (0.5 s): over 120 here.
    assert outbox_reads < OPERATORS


def _subject(frame: bytes) -> str:
    [data] = [line for line in frame.decode().splitlines() if line.startswith("data: ")]
    return str(json.loads(data.removeprefix("data: "))["subject"])


async def test_a_stream_further_back_than_the_hub_holds_reads_the_database_and_then_the_hub(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        hub = OutboxHub(sessions, OutboxSignal(), poll_s=0.1, keep=4)
        await hub.start()
        start = hub.floor
        assert start is not None
        await _insert(database_url, [_event_row(f"e{i}", "roads" if i % 2 else "water") for i in range(1, 9)])
        await hub.read()
        assert hub.floor == start + 4  # holds the newest four only

        # A water handler's screen reconnecting from before all eight: the database first, then the hub.
        cursor, water = LiveCursor(start), visible_to(Role.HANDLER, "water")
        assert not hub.serves(cursor)
        async with sessions() as session:
            events, _ = await cursor.read(session, water)
        assert hub.serves(cursor)
        await _insert(database_url, [_event_row("e9", "roads"), _event_row("e10", "water")])
        await hub.read()
        more, _ = hub.take(cursor, seen_by(Role.HANDLER, "water"))
        assert [_subject(f) for _, _, f in events + more] == ["e2", "e4", "e6", "e8", "e10"]

        # An administrator's screen opened after e6 sees everything after it, from memory alone.
        admin = LiveCursor(start + 6)
        assert hub.serves(admin)
        seen, _ = hub.take(admin, seen_by(Role.ADMIN, None))
        assert [_subject(f) for _, _, f in seen] == ["e7", "e8", "e9", "e10"]
        assert hub.take(LiveCursor(start + 6), seen_by(Role.HANDLER, None))[0] == []  # a handler without a department
    finally:
        await engine.dispose()


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                yield current
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            current[field] = value.strip()


async def _outbox_end(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return (await conn.scalar(select(func.max(OutboxRecord.id)))) or 0
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def slow_then_quick(database_url: str) -> AsyncIterator[AsyncConnection]:
    """Two transactions committing out of order: "slow" takes an outbox id and stays open while "quick" takes
    the next id and commits. Yields the slow one's connection, for the test to commit."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as slow, engine.connect() as quick:
            await slow.begin()
            await slow.execute(insert(OutboxRecord.__table__).values(_event_row("slow")))
            await quick.execute(insert(OutboxRecord.__table__).values(_event_row("quick")))
            await quick.commit()
            yield slow
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite commits one writer at a time
async def test_an_event_whose_transaction_commits_late_still_reaches_the_live_queue(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """Intake's batch takes outbox ids first but commits after an operator's quicker action: the live queue
    shows the action at once and the batch's new case when it commits, not never."""
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    start = await _outbox_end(database_url)
    async with (
        serving(settings) as (client, headers),
        client.stream("GET", f"/api/v1/queue/events?after={start}", headers=headers) as live,
    ):
        events = _events(live)
        async with slow_then_quick(database_url) as slow:
            first = await asyncio.wait_for(anext(events), 5)
            assert json.loads(first["data"])["subject"] == "quick"
            await slow.commit()
        second = await asyncio.wait_for(anext(events), 5)
        assert json.loads(second["data"])["subject"] == "slow"
        # A screen reconnecting after "quick" resumes below "slow"; after "slow", past both.
        assert (int(first["id"]), int(second["id"])) == (start, start + 2)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite commits one writer at a time
async def test_a_live_queue_opened_while_a_transaction_runs_still_gets_its_event(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """A screen opened just after an operator's action, while intake's batch (lower ids) is still committing."""
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    async with slow_then_quick(database_url) as slow, serving(settings) as (client, headers):
        async with client.stream("GET", "/api/v1/queue/events", headers=headers) as live:  # from now on
            events = _events(live)
            await asyncio.sleep(0.5)  # the stream has started from the newest id ("quick")
            await slow.commit()
            event = await asyncio.wait_for(anext(events), 5)
            assert json.loads(event["data"])["subject"] == "slow"


async def test_a_new_case_wakes_the_live_queue_without_waiting_for_its_poll(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    # A poll so slow that only the wake-up on intake's commit can bring the event in time.
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url), outbox_idle_s=60)
    start = await _outbox_end(database_url)
    async with (
        serving(settings) as (client, headers),
        client.stream("GET", f"/api/v1/queue/events?after={start}", headers=headers) as live,
    ):
        events = _events(live)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            item = routed("m1", sender="live", text="路灯坏了")
            record = RoutedMessageRecord.wrap(item, source="router")
            await producer.send_and_wait(
                kafka_settings.topics.inbox_routed, record.to_bytes(), key=item.message.contact_key.encode()
            )
        finally:
            await producer.stop()
        event = await asyncio.wait_for(anext(events), 20)
        assert event["event"] == "gov.inbox.case.created"
        assert json.loads(event["data"])["data"]["case"]["subject"] == "路灯坏了"


def test_the_cursor_sends_each_event_once_and_gives_up_on_rolled_back_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = LiveCursor(10)
    # 11 and 12 are not committed yet; 13 is, but belongs to another department (no value): no event, no gap.
    # A client reconnecting after e14 must resume below the gaps (10), or it would never get 11 and 12.
    assert cursor.advance([], [(13, None), (14, b"e14")]) == [(10, 14, b"e14")]
    assert sorted(cursor.gaps) == [11, 12]
    assert cursor.advance([(12, b"e12")], [(14, b"e14")]) == [(10, 12, b"e12")]  # 14 again: not sent twice
    assert sorted(cursor.gaps) == [11]
    assert cursor.advance([], [(15, b"e15")]) == [(10, 15, b"e15")]
    clock = time.monotonic() + GRACE_S + 1
    monkeypatch.setattr(time, "monotonic", lambda: clock)
    assert cursor.advance([], []) == [] and cursor.gaps == {}  # 11 rolled back: no longer asked for
    assert cursor.advance([], [(16, b"e16")]) == [(16, 16, b"e16")]  # nothing waited for: resume from here


def test_a_late_row_below_the_hubs_floor_never_lowers_it() -> None:
    """The hub holds everything above 100. Row 95, awaited since it started, commits late and is let go in its
    turn: a stream that has seen only up to 97 must still read the database (98-100 are not held)."""
    hub = OutboxHub(None, OutboxSignal(), poll_s=0.1, keep=2)  # type: ignore[arg-type]  # no reads here
    hub.floor = 100
    for row_id in (101, 102, 95):
        hub._hold(row_id, Held(None, b"event: x\ndata: {}\n\n"))
        hub._trim()
    assert hub.floor == 100
    assert not hub.serves(LiveCursor(97))


def test_the_hub_opens_a_stream_where_it_can_tell_what_is_missing() -> None:
    hub = OutboxHub(None, OutboxSignal(), poll_s=0.1)  # type: ignore[arg-type]  # no reads here
    assert hub.open(None) is None  # not started: the stream asks the database
    hub.floor, hub._cursor = 100, LiveCursor(110, {105: time.monotonic(), 108: time.monotonic()})
    fresh = hub.open(None)
    assert fresh is not None and fresh.last == 110 and sorted(fresh.gaps) == [105, 108]
    resumed = hub.open(106)  # a reconnect: 105 is still awaited, 108 comes as a new row
    assert resumed is not None and resumed.last == 106 and sorted(resumed.gaps) == [105]
    assert hub.open(99) is None  # further back than the hub holds
    assert hub.open(111) is None  # past what the hub has read


@pytest.fixture
def rechecking(database_url: str, kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """case-api whose live queues re-read their user every 0.2 s instead of every 30 s."""
    monkeypatch.setattr(queue_router, "USER_RECHECK_S", 0.2)
    return Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))


async def test_a_live_queue_ends_when_its_user_is_disabled(rechecking: Settings) -> None:
    async with serving(rechecking) as (client, admin):
        body = {"username": "screen", "password": "correct-horse-9", "role": "operator"}
        assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
        operator = {"Authorization": await bearer(client, "screen", "correct-horse-9")}
        async with client.stream("GET", "/api/v1/queue/events", headers=operator) as live:
            assert live.status_code == 200
            disabled = await client.patch("/api/v1/users/screen", json={"active": False}, headers=admin)
            assert disabled.status_code == 200
            # The server closes the stream: reading it to the end returns instead of waiting for events.
            await asyncio.wait_for(live.aread(), 10)
        reconnect = await client.get("/api/v1/queue/events", headers=operator)
        assert reconnect.status_code == 401


async def test_a_live_queue_ends_when_its_token_expires(rechecking: Settings) -> None:
    async with serving(rechecking) as (client, admin):
        [me] = [u for u in (await client.get("/api/v1/users", headers=admin)).json() if u["username"] == "admin"]
        user = SimpleNamespace(id=me["id"], role="admin")
        token = issue_token(user, secret=rechecking.secret_key, ttl=timedelta(seconds=2))  # type: ignore[arg-type]
        async with client.stream("GET", "/api/v1/queue/events", headers={"Authorization": f"Bearer {token}"}) as live:
            assert live.status_code == 200
            await asyncio.wait_for(live.aread(), 15)  # closed by the server once the token is past its time


async def test_a_co_handling_department_sees_the_case_live(database_url: str, kafka_settings: KafkaSettings) -> None:
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await intake_batch(session, [routed("m1", text="噪音扰民")], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    await engine.dispose()
    start = await _outbox_end(database_url)
    async with serving(settings) as (client, admin):
        for name, department in [("h-env", "environment"), ("h-health", "health")]:
            body = {"username": name, "password": "correct-horse-9", "role": "handler", "department_id": department}
            assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
        env = {"Authorization": await bearer(client, "h-env", "correct-horse-9")}
        [case] = (await client.get("/api/v1/cases", headers=admin)).json()["items"]
        act = f"/api/v1/cases/{case['id']}"
        async with client.stream("GET", f"/api/v1/queue/events?after={start}", headers=env) as live:
            events = _events(live)
            await client.post(f"{act}/accept", json={}, headers=admin)
            await client.post(f"{act}/classify", json={"category_id": "housing-property"}, headers=admin)
            helper = {"co_handlers": [{"department_id": "environment", "part": "检测噪音"}]}
            assert (await client.post(f"{act}/dispatch", json=helper, headers=admin)).status_code == 200
            await client.post(f"{act}/reply", json={"text": "已处理"}, headers=admin)
            # The co-handling department learns it was brought in, and follows the case from then on.
            first, second = [await asyncio.wait_for(anext(events), 10) for _ in range(2)]
            assert (first["event"], second["event"]) == ("gov.inbox.case.co-handler-added", "gov.inbox.case.replied")
            # Its part done, the case is no longer the department's to follow: it is told so, and no more.
            await client.post(f"{act}/co-handlers/environment/complete", json={"note": "达标"}, headers=env)
            await client.post(f"{act}/close", json={}, headers=admin)
            done = await asyncio.wait_for(anext(events), 10)
            assert (done["event"], json.loads(done["data"])["data"]["cause"]) == (
                "gov.inbox.case.left",
                "gov.inbox.case.part-completed",
            )
    # Read from the database too (a stream resuming from further back than the hub holds): the same events, and
    # none for another department.
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session:
        # Environment's two: added and replied; not the completion it left by (a notice apart), nor the closing.
        for department, expected in [("environment", 2), ("health", 0)]:
            visible = visible_to(Role.HANDLER, department)
            rows = await session.scalars(select(OutboxRecord.id).where(OutboxRecord.id > start, visible))
            assert len(rows.all()) == expected, department
    await engine.dispose()


async def test_a_department_the_case_left_cannot_replay_it(database_url: str, kafka_settings: KafkaSettings) -> None:
    """A handler's stream resumed from the start (a new handler, a screen's old resume id) replays only the cases
    that are still the department's: of one transferred away, which the department can no longer open, it gets
    only the notice that the case left (id and number, none of its contents), whether its events are further back
    than the hub holds (read from the database) or held by it."""
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))

    async def dispatched(client: httpx.AsyncClient, admin: dict[str, str], sender: str, *, leaves: bool) -> str:
        engine = make_engine(database_url)
        async with make_sessionmaker(engine)() as session, session.begin():
            text = f"{sender}：身份证110101199003071234，举报物业"
            await intake_batch(
                session, [routed(sender, sender=sender, text=text)], tz=ZoneInfo("Asia/Shanghai"), policy=POLICY
            )
        await engine.dispose()
        [case] = [
            c for c in (await client.get("/api/v1/cases", headers=admin)).json()["items"] if sender in c["subject"]
        ]
        act = f"/api/v1/cases/{case['id']}"
        assert (await client.post(f"{act}/confirm", json={}, headers=admin)).json()["department_id"] == "housing"
        if leaves:
            body = {"department_id": "market", "reason": "属于市场监管"}
            assert (await client.post(f"{act}/transfer", json=body, headers=admin)).status_code == 200
        return case["id"]

    async with serving(settings) as (client, admin):  # a first run: these events end up behind the next hub
        stays = await dispatched(client, admin, "m1", leaves=False)
        left_long_ago = await dispatched(client, admin, "m2", leaves=True)
    async with serving(settings) as (client, admin):
        hub_start = await _outbox_end(database_url)  # the new process's hub holds what comes after
        left_just_now = await dispatched(client, admin, "m3", leaves=True)
        stays_too = await dispatched(client, admin, "m4", leaves=False)
        body = {"username": "h-new", "password": "correct-horse-9", "role": "handler", "department_id": "housing"}
        assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
        housing = {"Authorization": await bearer(client, "h-new", "correct-horse-9")}
        assert (await client.get(f"/api/v1/cases/{left_just_now}", headers=housing)).status_code == 404

        async def replayed(after: int) -> dict[str, set[str]]:
            seen: dict[str, set[str]] = {}
            async with client.stream("GET", f"/api/v1/queue/events?after={after}", headers=housing) as live:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(3):
                        async for e in _events(live):
                            seen.setdefault(json.loads(e["data"])["subject"], set()).add(e["event"])
                            if e["event"] == "gov.inbox.case.left":
                                assert "110101199003071234" not in e["data"] and "举报" not in e["data"]
            return seen

        names = {left_long_ago: "left before the hub", left_just_now: "left while the hub held it"}
        left = {"gov.inbox.case.left"}
        from_start = await replayed(0)  # from the database, then the hub
        assert from_start.keys() == {stays, stays_too, left_long_ago, left_just_now}, names
        assert from_start[left_long_ago] == from_start[left_just_now] == left
        assert not left & (from_start[stays] | from_start[stays_too])
        from_hub = await replayed(hub_start)  # from the hub alone
        assert from_hub.keys() == {stays_too, left_just_now} and from_hub[left_just_now] == left, names


async def test_a_case_leaving_a_department_leaves_its_live_queue(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """A screen that shows a department's cases is told when one leaves it (transferred, returned to the
    operators, a co-handler's part withdrawn): the case's id and number, so it can drop the case, and no more."""
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url))
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        items = [routed(f"m{i}", sender=f"s{i}", text="小区物业乱收费") for i in (1, 2)]
        await intake_batch(session, items, tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    await engine.dispose()
    async with serving(settings) as (client, admin):
        for name, department in [("h-housing", "housing"), ("h-env", "environment")]:
            body = {"username": name, "password": "correct-horse-9", "role": "handler", "department_id": department}
            assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
        handlers = [{"Authorization": await bearer(client, n, "correct-horse-9")} for n in ("h-housing", "h-env")]
        transferred, returned = sorted(
            (await client.get("/api/v1/cases", headers=admin)).json()["items"], key=lambda c: c["number"]
        )
        helper = {"co_handlers": [{"department_id": "environment", "part": "检测噪音"}]}
        for case in (transferred, returned):
            await client.post(f"/api/v1/cases/{case['id']}/confirm", json={}, headers=admin)
        await client.post(f"/api/v1/cases/{returned['id']}/co-handlers", json=helper["co_handlers"][0], headers=admin)
        start = await _outbox_end(database_url)
        async with (
            client.stream("GET", f"/api/v1/queue/events?after={start}", headers=handlers[0]) as housing,
            client.stream("GET", f"/api/v1/queue/events?after={start}", headers=handlers[1]) as env,
        ):
            housing_events, env_events = _events(housing), _events(env)
            move = {"department_id": "market", "reason": "属于市场监管"}
            assert (
                await client.post(f"/api/v1/cases/{transferred['id']}/transfer", json=move, headers=admin)
            ).is_success
            back = {"reason": "不属于我局"}
            assert (
                await client.post(f"/api/v1/cases/{returned['id']}/return", json=back, headers=handlers[0])
            ).is_success
            told = [await asyncio.wait_for(anext(housing_events), 10) for _ in range(2)]
            env_told = await asyncio.wait_for(anext(env_events), 10)
    assert [e["event"] for e in told] == ["gov.inbox.case.left"] * 2
    shown = [json.loads(e["data"]) for e in told]
    assert [(s["subject"], s["data"]) for s in shown] == [
        (transferred["id"], {"number": transferred["number"], "cause": "gov.inbox.case.transferred"}),
        (returned["id"], {"number": returned["number"], "cause": "gov.inbox.case.returned"}),
    ]
    assert env_told["event"] == "gov.inbox.case.left" and json.loads(env_told["data"])["subject"] == returned["id"]
