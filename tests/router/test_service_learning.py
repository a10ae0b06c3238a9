"""The router with a learned model, as a service on a real broker: the model routes what no rule recognises,
and an operator's corrections change later decisions once a retrain went live."""

from __future__ import annotations

from pathlib import Path

from aiokafka import AIOKafkaProducer

from router.main import create_app
from router.model import bootstrap
from router.settings import Settings
from shared.contracts.v1 import (
    Channel,
    DecidedBy,
    InboundMessage,
    InboundMessageRecord,
    MessageKind,
    RoutedMessageRecord,
    RoutingDecision,
    utcnow,
)
from shared.settings import KafkaSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic
from tests.router.signed_in import case_api
from tests.router.synthetic import messages

# The taxonomy's ids are the model's labels; its keywords appear in none of the test messages, so every
# decision below is the model's.
TAXONOMY = """
version: "learn-1"
departments:
  - {id: transport, name: 交通运输局}
  - {id: hr-social, name: 人力资源和社会保障局}
  - {id: environment, name: 生态环境局}
  - {id: housing, name: 住房和城乡建设局}
request_types: {default: 投诉/求助}
categories:
  - {id: transport, name: 交通运输, department: transport, keywords: [规则甲]}
  - {id: labour, name: 劳动保障, department: hr-social, keywords: [规则乙]}
  - {id: noise, name: 噪音, department: environment, keywords: [规则丙]}
  - {id: housing, name: 住房, department: housing, keywords: [规则丁]}
"""
PROBE = "共享单车乱停放，严重影响生活。"


def inbound(text: str, msg_id: str) -> bytes:
    message = InboundMessage(
        channel=Channel.WECHAT,
        account_id="city",
        platform_message_id=msg_id,
        sender_id="citizen",
        sent_at=utcnow(),
        kind=MessageKind.TEXT,
        text=text,
    )
    return InboundMessageRecord.wrap(message, source="test").to_bytes()


async def route(kafka: KafkaSettings, text: str, msg_id: str, *, seen: int) -> RoutingDecision:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(kafka.topics.inbox_messages, value=inbound(text, msg_id), key=b"citizen")
    finally:
        await producer.stop()
    records = await read_topic(kafka, kafka.topics.inbox_routed, expect=seen + 1)
    routed = [RoutedMessageRecord.from_bytes(r.value).data for r in records]
    (latest,) = [r for r in routed if r.message.platform_message_id == msg_id]
    return latest.decision


async def test_a_correction_changes_later_decisions_after_retraining(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(TAXONOMY, encoding="utf-8")
    model_dir = tmp_path / "model"
    bootstrap(messages(200), model_dir, holdout=0.2)
    settings = Settings(kafka=kafka_settings, taxonomy_file=taxonomy, router_model_dir=model_dir, taxonomy_reload_s=0.0)
    async with (
        case_api(kafka_settings, tmp_path) as staff,
        serving(create_app(settings, case_api_transport=staff.transport)) as client,
    ):
        client.headers.update(await staff.token("admin"))
        known = await route(kafka_settings, "公司拖欠工资，社保没交。", "m1", seen=0)
        assert known.decided_by is DecidedBy.MODEL and known.category == "labour"
        assert known.department_name == "人力资源和社会保障局" and known.model_version
        assert "工资" in known.explanation

        before = await route(kafka_settings, PROBE, "m2", seen=1)
        wanted = "housing" if before.category != "housing" else "noise"

        first_version = (await client.get("/admin/model")).json()["version"]
        for text in ("共享单车乱停放挡住小区门口", "共享单车乱停放占用人行道", "共享单车乱停放几天没人管"):
            response = await client.post("/admin/corrections", json={"text": text, "label": wanted})
            assert response.status_code == 201
        retrained = await client.post("/admin/retrain")
        assert retrained.status_code == 200, retrained.text
        outcome = retrained.json()
        assert outcome["promoted"] is True and outcome["corrections_used"] == 3

        live = (await client.get("/admin/model")).json()
        assert live["version"] == outcome["live_version"] != first_version and live["corrections"] == 3

        after = await route(kafka_settings, PROBE, "m3", seen=2)
    assert after.decided_by is DecidedBy.MODEL
    assert after.category == wanted != before.category
    assert after.model_version == outcome["live_version"]


async def test_without_a_model_directory_the_router_runs_rules_only(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    settings = Settings(kafka=kafka_settings, taxonomy_file=Path("config/taxonomy.yaml"))
    async with (
        case_api(kafka_settings, tmp_path) as staff,
        serving(create_app(settings, case_api_transport=staff.transport)) as client,
    ):
        client.headers.update(await staff.token("admin"))
        assert (await client.get("/admin/model")).json()["mode"] == "rules-only"
        refused = await client.post("/admin/retrain")
        assert refused.status_code == 409 and "rules only" in refused.json()["detail"]
        assert (await client.post("/admin/corrections", json={"text": "x", "label": "y"})).status_code == 409
