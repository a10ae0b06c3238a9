"""The citizen's side: acknowledgement with the tracking number, progress on request, rating after closure."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.auth.models import Role, User
from case_api.cases.actions import CaseActions
from case_api.cases.models import Case, Message
from case_api.cases.numbers import tracking_code
from case_api.citizen.notices import Notices, progress_query, rating
from case_api.intake.service import intake_batch
from case_api.outbox.models import OutboxRecord
from case_api.replies.models import Reply
from shared.accounts import load_accounts
from shared.contracts.v1 import Channel, PlatformEvent, RoutedMessage, utcnow
from tests.case_api.factories import POLICY, routed

Sessions = async_sessionmaker[AsyncSession]
NOTICES = Notices()


async def intake(sessions: Sessions, *items: RoutedMessage, notices: Notices = NOTICES) -> None:
    async with sessions() as session, session.begin():
        await intake_batch(
            session,
            list(items),
            tz=ZoneInfo("Asia/Shanghai"),
            policy=POLICY,
            notices=notices,
        )


async def cases(sessions: Sessions) -> list[Case]:
    async with sessions() as session:
        return list((await session.scalars(select(Case).order_by(Case.number))).all())


async def commands(sessions: Sessions) -> list[dict]:
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxRecord.value).where(OutboxRecord.topic == "outbound.replies.v1").order_by(OutboxRecord.id)
            )
        ).all()
    return [json.loads(v)["data"] for v in rows]


async def close_all(sessions: Sessions, *, ago: timedelta = timedelta(minutes=5), answered: bool = True) -> None:
    """Close every case as an operator would: answered, or (answered=False) discarded as spam."""
    closed_at = utcnow() - ago
    async with sessions() as session, session.begin():
        await session.execute(
            update(Case).values(
                status="closed",
                closed_at=closed_at,
                replied_at=closed_at if answered else None,
                rating_requested_at=closed_at if answered else None,  # as close() asks for a rating
                due_at=None,
            )
        )


def test_commands_are_recognised_strictly() -> None:
    assert progress_query("查询") == (True, None)
    assert progress_query("进度 20261124-00042") == (True, "20261124-00042")
    assert progress_query("查询编号：20261124-00042。") == (True, "20261124-00042")
    assert progress_query("查询一下为什么停水") == (False, None)
    assert [rating(t) for t in ("5", " 4分", "3星。", "6", "55", "5个问题")] == [5, 4, 3, None, None, None]
    # As Chinese input methods type them: full-width digits and punctuation.
    assert [rating(t) for t in ("５", "４分！", "６")] == [5, 4, None]
    assert progress_query("进度查询：２０２６１１２４-０００４２") == (True, "20261124-00042")


async def test_a_new_case_is_acknowledged_with_its_tracking_number(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"))
    [case] = await cases(sessions)
    [command] = await commands(sessions)
    assert command["recipient_id"] == "oA" and case.number in command["text"]
    # With the code the public tracking page asks for: only the citizen learns it.
    assert f"查询码{tracking_code(case.number, NOTICES.secret)}" in command["text"]
    async with sessions() as session:
        reply = (await session.scalars(select(Reply))).one()
    assert reply.automatic and reply.created_by == "system"
    assert case.first_responded_at is None  # an automatic acknowledgement is not a person's answer


async def test_an_account_can_switch_the_acknowledgement_off(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n  - {id: city-wechat, channel: wechat, name: c, token: t, app_id: a, acknowledge: false}\n",
        encoding="utf-8",
    )
    await intake(sessions, routed("m1"), notices=Notices(accounts=load_accounts(path)))
    assert len(await cases(sessions)) == 1 and await commands(sessions) == []


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ('acknowledge: "false"', "acknowledge must be true or false, not 'false'"),
        ("acknowledge_template: '编号{number}，部门{department}'", "can use only {number} and {code}"),
    ],
    ids=["quoted-false", "unknown-field"],
)
def test_a_wrong_acknowledgement_setting_fails_start_up_naming_the_account(
    tmp_path: Path, setting: str, complaint: str
) -> None:
    # Else a quoted "false" reads as on, and an unknown field fails every intake batch of that account.
    path = tmp_path / "accounts.yaml"
    path.write_text(
        f"accounts:\n  - {{id: city-wechat, channel: wechat, name: c, token: t, app_id: a, {setting}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="wechat account 'city-wechat'") as refused:
        Notices(accounts=load_accounts(path))
    assert complaint in str(refused.value)


async def test_a_progress_query_gets_the_status_back_and_opens_nothing(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await intake(sessions, routed("m2", sender="oA", text="查询"), notices=Notices(acknowledge=False))
    [case] = await cases(sessions)
    [command] = await commands(sessions)
    assert command["text"] == f"编号{case.number}：已收到"
    async with sessions() as session:
        query = (await session.scalars(select(Message).where(Message.text == "查询"))).one()
    assert query.case_id == case.id and query.event == {"name": "progress-query"}
    assert case.message_count == 1


async def test_a_query_naming_an_older_case_is_filed_and_answered_on_that_case(sessions: Sessions) -> None:
    quiet = Notices(acknowledge=False)
    await intake(sessions, routed("m1", sender="oA"), notices=quiet)
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="另外，路灯不亮"), notices=quiet)
    older, _newer = await cases(sessions)
    await intake(sessions, routed("m3", sender="oA", text=f"查询{older.number}"), notices=quiet)
    async with sessions() as session:
        query = (await session.scalars(select(Message).where(Message.text.startswith("查询")))).one()
        [answer] = (await session.scalars(select(Reply).where(Reply.automatic.is_(True)))).all()
    assert query.case_id == older.id and answer.case_id == older.id
    assert answer.text == f"编号{older.number}：已办结"
    assert [c.message_count for c in await cases(sessions)] == [1, 1]  # a question about the case, not a message


async def test_a_query_from_someone_without_cases_is_an_ordinary_message(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oNew", text="查询"), notices=Notices(acknowledge=False))
    assert len(await cases(sessions)) == 1


async def test_a_score_after_closure_is_the_rating_not_a_new_case(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="5"), notices=Notices(acknowledge=False))
    [case] = await cases(sessions)
    assert (case.rating, case.status) == (5, "closed")
    async with sessions() as session:
        types = [
            json.loads(v)["type"]
            for v in (
                await session.scalars(select(OutboxRecord.value).where(OutboxRecord.topic == "case.events.v1"))
            ).all()
        ]
    assert types[-1] == "gov.inbox.case.rated"


async def test_a_score_rates_the_case_whose_rating_request_came_last(sessions: Sessions) -> None:
    """Two cases closed within the window: the citizen answers the latest rating request, the one sent when the
    last of them closed, whichever case was opened first."""
    quiet = Notices(acknowledge=False)
    await intake(sessions, routed("m1", sender="oA"), notices=quiet)
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="另外，路灯不亮"), notices=quiet)  # a second case
    first, second = await cases(sessions)
    now = utcnow()
    async with sessions() as session, session.begin():
        for case, ago in ((second, timedelta(minutes=30)), (first, timedelta(minutes=1))):  # the first closes last
            closed = now - ago
            await session.execute(
                update(Case)
                .where(Case.id == case.id)
                .values(status="closed", closed_at=closed, replied_at=closed, rating_requested_at=closed, due_at=None)
            )
    await intake(sessions, routed("m3", sender="oA", text="4"), notices=quiet)
    first, second = await cases(sessions)
    assert (first.rating, second.rating) == (4, None)
    # Sent again because nothing answered: the same request's answer, not one for the older case.
    await intake(sessions, routed("m4", sender="oA", text="4"), notices=quiet)
    assert [(c.rating, c.status) for c in await cases(sessions)] == [(4, "closed"), (None, "closed")]


async def test_a_score_never_rates_a_case_whose_closing_asked_for_none(sessions: Sessions) -> None:
    """The first case's closing asked for a rating; the second, closed later with a reason (answered by phone),
    did not: the citizen's score answers the first case's request."""
    quiet = Notices(acknowledge=False)
    await intake(sessions, routed("m1", sender="oA"), notices=quiet)
    await close_all(sessions, ago=timedelta(minutes=30))
    await intake(sessions, routed("m2", sender="oA", text="另外，路灯不亮"), notices=quiet)
    async with sessions() as session, session.begin():
        _, second = (await session.scalars(select(Case).order_by(Case.number))).all()
        actions = CaseActions(session, user=User(username="op1", role=Role.ADMIN.value), now=utcnow(), policy=POLICY)
        await actions.confirm(second)
        await actions.reply(second, text="已处理")
        await actions.close(second, reason="已电话答复市民")  # the answer is still on its way
        assert second.rating_requested_at is None
    await intake(sessions, routed("m3", sender="oA", text="4"), notices=quiet)
    assert [(c.rating, c.status) for c in await cases(sessions)] == [(4, "closed"), (None, "closed")]


async def test_a_low_rating_reopens_the_case(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="1分"), notices=Notices(acknowledge=False))
    [case] = await cases(sessions)
    assert (case.rating, case.status, case.reopen_count) == (1, "accepted", 1)


async def test_after_a_reopening_the_next_score_rates_the_new_answer(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions, ago=timedelta(minutes=10))
    await intake(sessions, routed("m2", sender="oA", text="1"), notices=Notices(acknowledge=False))  # reopens
    await close_all(sessions, ago=timedelta(0))  # answered again, after the rating
    await intake(sessions, routed("m3", sender="oA", text="5"), notices=Notices(acknowledge=False))
    [case] = await cases(sessions)  # no new case opened by "5"
    assert (case.rating, case.reopen_count, case.status) == (5, 1, "closed")


async def test_a_discarded_case_takes_no_rating(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions, answered=False)
    await intake(sessions, routed("m2", sender="oA", text="1"), notices=Notices(acknowledge=False))
    discarded, new = await cases(sessions)
    assert (discarded.status, discarded.rating, discarded.reopen_count) == ("closed", None, 0)
    assert new.status == "new" and new.subject == "1"


async def test_scores_outside_the_window_or_with_an_open_case_are_ordinary_messages(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await intake(sessions, routed("m2", sender="oA", text="5"), notices=Notices(acknowledge=False))
    [open_case] = await cases(sessions)
    assert open_case.message_count == 2 and open_case.rating is None
    await close_all(sessions, ago=timedelta(days=30))
    await intake(sessions, routed("m3", sender="oA", text="4"), notices=Notices(acknowledge=False))
    assert len(await cases(sessions)) == 2


async def test_a_rating_is_thanked_and_sending_it_again_opens_no_case(sessions: Sessions) -> None:
    """Without an answer the citizen sends the score again; each copy used to open a case and acknowledge it."""
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="５"))
    await intake(sessions, routed("m3", sender="oA", text="5"))
    [case] = await cases(sessions)
    assert (case.rating, case.status) == (5, "closed")
    assert [c["text"] for c in await commands(sessions)] == ["感谢您的评价！"]
    async with sessions() as session:
        tags = (await session.scalars(select(Message.event).where(Message.case_id == case.id))).all()
    assert [t and t["name"] for t in tags] == [None, "rating", "rating-again"]


async def test_a_low_rating_and_what_follows_it_in_one_batch_share_the_reopened_case(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="1"), routed("m3", sender="oA", text="路灯还是不亮"))
    [case] = await cases(sessions)
    assert (case.status, case.reopen_count, case.message_count) == ("accepted", 1, 2)
    [thanks] = await commands(sessions)  # no acknowledgement of a new case
    assert thanks["text"] == f"感谢您的评价。编号{case.number}的诉求将重新办理，我们会尽快答复您。"


async def test_without_rating_requests_a_digit_is_an_ordinary_message(sessions: Sessions) -> None:
    quiet = Notices(acknowledge=False, request_rating=False)
    await intake(sessions, routed("m1", sender="oA"), notices=quiet)
    await close_all(sessions)
    await intake(sessions, routed("m2", sender="oA", text="2"), notices=quiet)
    closed, new = await cases(sessions)
    assert (closed.status, closed.rating, closed.reopen_count) == ("closed", None, 0)
    assert (new.status, new.subject) == ("new", "2")


async def test_a_weibo_mention_is_not_acknowledged_so_its_one_reply_is_left_for_the_answer(sessions: Sessions) -> None:
    mention = routed("m1", sender="u1", channel=Channel.WEIBO, account="city-weibo", text="@市政府 路灯坏了")
    mention = mention.model_copy(
        update={"message": mention.message.model_copy(update={"event": PlatformEvent(name="mention:status", key="1")})}
    )
    await intake(sessions, mention, routed("m2", sender="u2", channel=Channel.WEIBO, account="city-weibo"))
    mentioned, written = await cases(sessions)
    assert [c["recipient_id"] for c in await commands(sessions)] == ["u2"]
    assert (mentioned.status, written.status) == ("new", "new")


async def test_a_discarded_case_is_not_called_handled_to_the_citizen(sessions: Sessions) -> None:
    await intake(sessions, routed("m1", sender="oA"), notices=Notices(acknowledge=False))
    await close_all(sessions, answered=False)  # discarded as a duplicate: nobody answered it
    await intake(sessions, routed("m2", sender="oA", text="查询"), notices=Notices(acknowledge=False))
    [case] = await cases(sessions)
    [progress] = await commands(sessions)
    assert progress["text"] == f"编号{case.number}：已关闭"
