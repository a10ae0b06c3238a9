"""/admin on the router: only staff signed in to case-api, and only administrators change anything."""

from __future__ import annotations

from pathlib import Path

from router.main import create_app
from router.settings import Settings
from shared.settings import KafkaSettings
from tests.asgi import serving
from tests.router.signed_in import case_api


async def test_admin_needs_a_case_api_sign_in_with_the_right_role(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    async with case_api(kafka_settings, tmp_path) as staff:
        admin, supervisor, operator = [await staff.token(r) for r in ("admin", "supervisor", "operator")]
        app = create_app(Settings(kafka=kafka_settings), case_api_transport=staff.transport)
        async with serving(app) as router:
            anonymous = await router.get("/admin/model")
            assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
            forged = await router.get("/admin/model", headers={"Authorization": "Bearer not-a-token"})
            assert forged.status_code == 401 and "invalid or expired" in forged.json()["detail"]

            refused = await router.get("/admin/model", headers=operator)
            assert refused.status_code == 403 and "role operator" in refused.json()["detail"]
            assert (await router.get("/admin/model", headers=supervisor)).json()["mode"] == "rules-only"
            assert (await router.post("/admin/retrain", headers=supervisor)).status_code == 403
            correction = {"text": "路灯坏了", "label": "transport"}
            assert (await router.post("/admin/corrections", json=correction, headers=supervisor)).status_code == 403

            # Blank training data is refused with the reason, not a 500 from the store.
            blank = await router.post("/admin/corrections", json={"text": "   ", "label": "housing"}, headers=admin)
            assert blank.status_code == 422 and "must not be blank" in blank.text

            # An administrator gets through to the operation itself (this router has no model to retrain).
            retrain = await router.post("/admin/retrain", headers=admin)
            assert retrain.status_code == 409 and "rules only" in retrain.json()["detail"]


async def test_admin_says_so_when_case_api_cannot_be_asked(kafka_settings: KafkaSettings) -> None:
    settings = Settings(kafka=kafka_settings, case_api_url="http://127.0.0.1:9")  # nothing listens on port 9
    async with serving(create_app(settings)) as router:
        answer = await router.get("/admin/model", headers={"Authorization": "Bearer whatever"})
    assert answer.status_code == 503 and "unreachable" in answer.json()["detail"]
