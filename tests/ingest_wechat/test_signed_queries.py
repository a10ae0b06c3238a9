"""The memory of accepted signed queries behind WeChat's and Weibo's webhooks: it forgets a query once its timestamp
has left the window, and stays bounded under a flood without refusing a new push."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from shared.accounts import Account
from shared.contracts.v1 import Channel
from shared.webhooks import SignedQueries, UsedQuery, signed_at

ACCOUNT = Account(id="city", channel=Channel.WECHAT, name="城市服务", token="tok", app_id="wx1")
NOW = 1_800_000_000.0


def admit(queries: SignedQueries, nonce: str, body: bytes, *, now: float = NOW, timestamp: float = NOW) -> None:
    """A push admitted and stored."""
    with queries.holding(checked(queries, nonce, body, now=now, timestamp=timestamp)):
        pass


def checked(queries: SignedQueries, nonce: str, body: bytes, *, now: float = NOW, timestamp: float = NOW) -> UsedQuery:
    return queries.admit(ACCOUNT, timestamp=str(int(timestamp)), nonce=nonce, body=body, now=now)


def refused(queries: SignedQueries, nonce: str, body: bytes, *, now: float = NOW, timestamp: float = NOW) -> bool:
    try:
        admit(queries, nonce, body, now=now, timestamp=timestamp)
    except HTTPException as exc:
        assert exc.status_code == 403
        return True
    return False


@pytest.mark.parametrize(
    ("timestamp", "seconds"),
    [("1800000000", 1_800_000_000.0), ("1800000000123", 1_800_000_000.123), ("0", 0.0)],
    ids=["seconds", "milliseconds", "zero"],
)
def test_a_timestamp_is_read_in_seconds_or_milliseconds(timestamp: str, seconds: float) -> None:
    assert signed_at(timestamp) == seconds


@pytest.mark.parametrize("timestamp", [None, "", "-1", "1.5", "１８００", "1" * 17])
def test_a_timestamp_that_is_no_unix_time_is_none(timestamp: str | None) -> None:
    assert signed_at(timestamp) is None


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("1799996400", "push timestamp is 3600 s behind this server's clock, outside the 300 s window by 3300 s"),
        ("1800000302000", "push timestamp is 302 s ahead of this server's clock, outside the 300 s window by 2 s"),
    ],
    ids=["stale", "future-milliseconds"],
)
def test_a_refusal_says_how_far_outside_the_window(timestamp: str, reason: str) -> None:
    with pytest.raises(HTTPException) as refused:
        SignedQueries(channel=Channel.WECHAT, window_s=300).refuse_stale(ACCOUNT, timestamp, now=NOW)
    assert (refused.value.status_code, refused.value.detail) == (403, reason)


def test_an_unreadable_timestamp_is_refused_with_the_reason() -> None:
    with pytest.raises(HTTPException, match="'soon' is not a unix time"):
        SignedQueries(channel=Channel.WECHAT, window_s=300).refuse_stale(ACCOUNT, "soon", now=NOW)


def test_a_query_is_forgotten_once_its_timestamp_has_left_the_window() -> None:
    queries = SignedQueries(channel=Channel.WECHAT, window_s=300)
    admit(queries, "1", b"first")
    assert refused(queries, "1", b"forged", now=NOW + 299)
    # By then the query itself is refused as stale: no memory is needed to refuse it.
    assert refused(queries, "1", b"forged", now=NOW + 301)
    admit(queries, "2", b"later", now=NOW + 301, timestamp=NOW + 301)
    assert len(queries) == 1


def test_a_full_memory_forgets_its_oldest_query_rather_than_refuse_a_new_push() -> None:
    queries = SignedQueries(channel=Channel.WECHAT, window_s=300, capacity=3)
    for nonce in "1234":
        admit(queries, nonce, b"genuine")
    assert len(queries) == 3
    assert not refused(queries, "1", b"forged")  # forgotten: only the window bounds its replay now
    assert [refused(queries, nonce, b"forged") for nonce in "34"] == [True, True]


def test_a_query_admitted_but_never_remembered_stays_usable() -> None:
    # The push was refused or could not be stored after its query was checked: the platform must be able to retry.
    queries = SignedQueries(channel=Channel.WECHAT, window_s=300)
    queries.admit(ACCOUNT, timestamp=str(int(NOW)), nonce="1", body=b"unstored", now=NOW)
    assert not refused(queries, "1", b"retried")


def test_a_copy_with_another_body_is_refused_while_the_first_is_being_stored() -> None:
    # Both would pass `admit` while the first push awaits the broker; only one body may go through.
    queries = SignedQueries(channel=Channel.WECHAT, window_s=300)
    first = checked(queries, "1", b"genuine")
    forged = checked(queries, "1", b"forged")  # admitted too: nothing was held yet
    with queries.holding(first):
        with pytest.raises(HTTPException) as refusal, queries.holding(forged):
            pass
        assert refusal.value.status_code == 403
        assert refused(queries, "1", b"forged too")
        assert not refused(queries, "1", b"genuine")  # the platform's retry of the same push
    assert refused(queries, "1", b"forged")


def test_a_push_that_could_not_be_stored_lets_its_query_go() -> None:
    queries = SignedQueries(channel=Channel.WECHAT, window_s=300)
    with pytest.raises(ConnectionError), queries.holding(checked(queries, "1", b"unstored")):
        raise ConnectionError("broker away")
    assert len(queries) == 0
    admit(queries, "1", b"retried")
    assert refused(queries, "1", b"unstored")
