"""Administrators keep the staff list true: people leave, move department, forget passwords."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from case_api.db import make_engine
from tests.case_api.factories import bearer, routed
from tests.case_api.test_cases_http import Api, api  # noqa: F401 - the fixture


async def _sign_in(api: Api, username: str, password: str) -> int:  # noqa: F811
    form = {"username": username, "password": password}
    return (await api.client.post("/api/v1/auth/token", data=form)).status_code


async def test_a_disabled_user_is_shut_out_at_once(api: Api) -> None:  # noqa: F811
    operator = await api.as_user("leaver", "operator")
    assert (await api.client.get("/api/v1/queue", headers=operator)).status_code == 200
    disabled = await api.client.patch("/api/v1/users/leaver", json={"active": False})
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    # The token still in their browser stops working, and they cannot sign in again.
    assert (await api.client.get("/api/v1/queue", headers=operator)).status_code == 401
    assert await _sign_in(api, "leaver", "correct-horse-9") == 401
    assert (await api.client.patch("/api/v1/users/leaver", json={"active": True})).json()["active"] is True
    assert await _sign_in(api, "leaver", "correct-horse-9") == 200
    # Back at work, with a new token: the one issued before they left (perhaps copied meanwhile) stays dead.
    assert (await api.client.get("/api/v1/queue", headers=operator)).status_code == 401
    fresh = {"Authorization": await bearer(api.client, "leaver", "correct-horse-9")}
    assert (await api.client.get("/api/v1/queue", headers=fresh)).status_code == 200


async def test_a_handler_moved_to_another_department_sees_that_department_only(api: Api) -> None:  # noqa: F811
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")  # housing
    handler = await api.as_user("mover", "handler", "housing")
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=handler)).status_code == 200
    moved = await api.client.patch("/api/v1/users/mover", json={"department_id": "health"})
    assert moved.json()["department_id"] == "health"
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=handler)).status_code == 404
    # Made an operator: the department goes with the old role.
    promoted = await api.client.patch("/api/v1/users/mover", json={"role": "operator"})
    assert (promoted.json()["role"], promoted.json()["department_id"]) == ("operator", None)
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=handler)).status_code == 200


async def test_changes_that_make_no_sense_are_refused_and_change_nothing(api: Api) -> None:  # noqa: F811
    operator = await api.as_user("op", "operator")
    await api.as_user("hh", "handler", "housing")
    closed = {"id": "old-bureau", "name": "已撤销的局", "active": False}
    assert (await api.client.put("/api/v1/departments/old-bureau", json=closed)).status_code == 200
    joining = {"username": "newcomer", "password": "correct-horse-9", "role": "handler", "department_id": "old-bureau"}
    refused = await api.client.post("/api/v1/users", json=joining)
    assert refused.status_code == 422 and "no active department 'old-bureau'" in refused.text
    for username, body, status, reason in [
        ("hh", {"department_id": "old-bureau"}, 422, "no active department"),
        ("hh", {"role": "handler", "department_id": None}, 422, "must belong to a department"),
        ("op", {"role": "handler"}, 422, "must belong to a department"),
        ("op", {"department_id": "housing"}, 422, "only handlers"),
        ("hh", {"department_id": "atlantis"}, 422, "no active department"),
        ("hh", {"password": "short"}, 422, "at least 8"),
        ("hh", {"superuser": True}, 422, "extra"),
        ("nobody", {"active": False}, 404, "no user"),
        ("admin", {"active": False}, 409, "cannot disable or demote themselves"),
        ("admin", {"role": "operator"}, 409, "cannot disable or demote themselves"),
    ]:
        response = await api.client.patch(f"/api/v1/users/{username}", json=body)
        assert response.status_code == status and reason in response.text, (username, body, response.text)
    refused = await api.client.patch("/api/v1/users/hh", json={"active": False}, headers=operator)
    assert refused.status_code == 403
    users = {u["username"]: u for u in (await api.client.get("/api/v1/users")).json()}
    assert (users["hh"]["role"], users["hh"]["department_id"], users["hh"]["active"]) == ("handler", "housing", True)
    assert (users["op"]["role"], users["admin"]["role"], users["admin"]["active"]) == ("operator", "admin", True)


async def test_passwords_are_reset_by_an_administrator_or_changed_by_their_owner(api: Api) -> None:  # noqa: F811
    leaked = await api.as_user("forgetful", "operator")
    assert (await api.client.patch("/api/v1/users/forgetful", json={"password": "brand-new-1"})).status_code == 200
    assert await _sign_in(api, "forgetful", "correct-horse-9") == 401
    # A reset revokes the tokens issued before it (the old password may have leaked with one of them).
    revoked = await api.client.get("/api/v1/queue", headers=leaked)
    assert revoked.status_code == 401 and "password changed" in revoked.json()["detail"]
    headers = {"Authorization": await bearer(api.client, "forgetful", "brand-new-1")}
    other_browser = {"Authorization": await bearer(api.client, "forgetful", "brand-new-1")}
    wrong = {"current_password": "guess-guess", "new_password": "mine-only-2"}
    assert (await api.client.post("/api/v1/auth/password", json=wrong, headers=headers)).status_code == 403
    right = {"current_password": "brand-new-1", "new_password": "mine-only-2"}
    changed = await api.client.post("/api/v1/auth/password", json=right, headers=headers)
    assert changed.status_code == 200
    # The one who changed it stays signed in with the token the answer carries; other sessions are signed out.
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await api.client.get("/api/v1/queue", headers=fresh)).status_code == 200
    assert (await api.client.get("/api/v1/queue", headers=other_browser)).status_code == 401
    assert await _sign_in(api, "forgetful", "brand-new-1") == 401
    assert await _sign_in(api, "forgetful", "mine-only-2") == 200


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_administrators_demoting_each_other_leave_one(api: Api) -> None:  # noqa: F811
    """Each request alone is allowed (nobody demotes themselves); at the same moment they would leave none."""
    first = await api.as_user("admin-a", "admin")
    second = await api.as_user("admin-b", "admin")
    await api.client.patch("/api/v1/users/admin", json={"active": False}, headers=first)
    # Another transaction holds the administrators' rows, so both requests are in flight together.
    engine = make_engine(api.database_url)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT id FROM users WHERE role = 'admin' FOR UPDATE"))
        both = asyncio.gather(
            api.client.patch("/api/v1/users/admin-b", json={"role": "operator"}, headers=first),
            api.client.patch("/api/v1/users/admin-a", json={"role": "operator"}, headers=second),
        )
        await asyncio.sleep(0.5)
        await conn.commit()
    responses = await both
    await engine.dispose()
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert "no longer an active administrator" in next(r.text for r in responses if r.status_code == 409)
    users = (await api.client.get("/api/v1/users", headers=first if responses[0].status_code == 200 else second)).json()
    assert [u["username"] for u in users if u["role"] == "admin" and u["active"]] in (["admin-a"], ["admin-b"])


async def test_creating_a_user_with_unknown_fields_is_refused(api: Api) -> None:  # noqa: F811
    # {"active": false} silently dropped would create an active account: the opposite of what was asked.
    body = {"username": "not-yet", "password": "correct-horse-9", "role": "operator", "active": False}
    created = await api.client.post("/api/v1/users", json=body)
    assert created.status_code == 422 and "active" in created.text
    assert "not-yet" not in {u["username"] for u in (await api.client.get("/api/v1/users")).json()}


async def test_guessing_the_current_password_with_a_stolen_token_is_throttled(api: Api) -> None:  # noqa: F811
    stolen = await api.as_user("victim", "operator")
    guesses = [{"current_password": f"guess-{i:04d}", "new_password": "attacker-owns-it"} for i in range(6)]
    codes = [(await api.client.post("/api/v1/auth/password", json=g, headers=stolen)).status_code for g in guesses]
    assert codes == [403] * 5 + [429]
    # Even the right password waits now: the guesser cannot tell it from a wrong one.
    right = {"current_password": "correct-horse-9", "new_password": "attacker-owns-it"}
    blocked = await api.client.post("/api/v1/auth/password", json=right, headers=stolen)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert await _sign_in(api, "victim", "correct-horse-9") == 200
