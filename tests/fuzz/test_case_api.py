"""Hostile bodies, parameters and paths against case-api: always a 4xx with a reason, never a 5xx, and nothing
changes."""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from urllib.parse import quote

from tests.case_api.factories import routed
from tests.case_api.test_cases_http import Api, api  # noqa: F401 - the fixture

ACTIONS = [
    "accept",
    "classify",
    "dispatch",
    "confirm",
    "reply",
    "interim-reply",
    "transfer",
    "escalate",
    "close",
    "reopen",
    "discard",
    "co-handlers",
    "claim",
    "release",
]
NASTY = [
    "",
    " ",
    "null",
    "'; DROP TABLE cases; --",
    "<script>alert(1)</script>",
    "\u0000",
    "💥" * 50,
    "9" * 400,
    "../../etc/passwd",
    "%00",
    "2026-13-45T99:99:99Z",
    "-1e309",
    "housing\nX-Injected: 1",
]


def hostile_value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.choice(NASTY)
    if choice == 1:
        return rng.randint(-(10**20), 10**20)
    if choice == 2:
        return rng.choice([None, True, False, 1e308, -0.0])
    if choice == 3:
        return "".join(rng.choice(string.printable + "中文繁體") for _ in range(rng.randrange(40)))
    if choice == 4:
        return rng.choice(["housing", "market", "housing-property", "2030-01-01T00:00:00Z", "因为"])
    if choice == 5:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["text", "reason", "department_id", "category_id", "promised_at", "co_handlers", "part", "note", "x"]
    return {rng.choice(keys): hostile_value(rng, depth + 1) for _ in range(rng.randrange(5))}


async def test_hostile_action_bodies_never_cause_a_server_error(api: Api) -> None:  # noqa: F811
    [case_id] = await api.seed(routed("m1"))
    rng = random.Random(20261124)
    statuses: set[int] = set()
    for _ in range(250):
        action = rng.choice(ACTIONS)
        body = hostile_value(rng)
        raw = json.dumps(body) if rng.random() < 0.9 else rng.choice(["{", "[1,", "\xff", "true", '{"a":' * 200])
        response = await api.client.post(
            f"/api/v1/cases/{case_id}/{action}", content=raw, headers={"content-type": "application/json"}
        )
        statuses.add(response.status_code)
        assert response.status_code < 500, (action, raw[:200], response.text[:300])
        if response.status_code >= 400:
            assert "detail" in response.json()
    assert statuses & {409, 422}


async def test_hostile_query_parameters_and_paths_never_cause_a_server_error(api: Api) -> None:  # noqa: F811
    rng = random.Random(7)
    for _ in range(150):
        params = {
            rng.choice(["q", "status", "cursor", "limit", "channel", "overdue", "from", "to", "department_id"]): str(
                hostile_value(rng)
            )[:500]
            for _ in range(rng.randrange(4))
        }
        path = rng.choice(
            [
                "/api/v1/queue",
                "/api/v1/cases",
                "/api/v1/stats/departments",
                "/api/v1/reports/weekly",
                f"/api/v1/cases/{quote(rng.choice(NASTY), safe='')}",
                f"/api/v1/track/{quote(rng.choice(NASTY), safe='')}",
            ]
        )
        response = await api.client.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text[:300])


async def test_edge_values_a_review_found_are_refused_with_a_reason(api: Api) -> None:  # noqa: F811
    """Each of these was a 500 (or a template that failed at every use) before; now a 4xx that says why."""
    [case_id] = await api.seed(routed("m1"))
    naive = base64.urlsafe_b64encode(f"2026-01-01T00:00:00|{uuid.uuid4()}".encode()).decode().rstrip("=")
    for path, params in [
        ("/api/v1/public/stats/departments", {"to": "9999-12-31"}),
        ("/api/v1/stats/departments", {"from": "0001-01-01", "to": "0001-01-02"}),
        ("/api/v1/reports/monthly", {"date": "9999-12-20"}),
        ("/api/v1/reports/weekly", {"date": "9999-12-31"}),
        ("/api/v1/cases", {"cursor": naive}),
        ("/api/v1/queue", {"cursor": naive}),
        ("/api/v1/queue/events", {"after": str(10**20)}),
    ]:
        response = await api.client.get(path, params=params)
        assert 400 <= response.status_code < 500 and response.json()["detail"], (path, params, response.text[:300])
    await api.act(case_id, "accept")
    odd_type = await api.act(case_id, "classify", {"category_id": "housing-property", "request_type": "x" * 40})
    assert odd_type.status_code == 422 and "咨询" in odd_type.json()["detail"]
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["status"] == "accepted"  # nothing changed
    template = {"name": "编号", "body": "您的编号{number:d}"}
    refused = await api.client.post("/api/v1/reply-templates", json=template)
    assert refused.status_code == 422 and "format" in refused.text
