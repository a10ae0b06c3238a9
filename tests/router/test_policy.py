"""Rules first, then the model: how a rule decision and a model prediction combine."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.classifier import Classifier
from router.live_model import LiveModel
from router.model import Prediction, save_model, train
from router.policy import ModelPolicy, combine, model_label_for
from router.rules import RuleEngine
from shared.contracts.v1 import DecidedBy, RoutingDecision
from shared.taxonomy import Taxonomy, load_taxonomy
from tests.router.synthetic import messages
from tests.router.test_rules import TAXONOMY, message, write

POLICY = ModelPolicy(min_confidence=0.5, override_confidence=0.98)


@pytest.fixture
def taxonomy(tmp_path: Path) -> Taxonomy:
    return load_taxonomy(write(tmp_path, TAXONOMY))


def guess(label: str, confidence: float, runner_up: str = "noise") -> Prediction:
    return Prediction(label, confidence, runner_up, (1 - confidence) / 2, [("地铁", 0.4)])


def decide(taxonomy: Taxonomy, text: str, prediction: Prediction) -> RoutingDecision:
    rule = RuleEngine(taxonomy).decide(text)
    return combine(rule, prediction, taxonomy=taxonomy, model_version="m1", policy=POLICY)


def test_no_rule_fired_so_the_model_decides(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "地铁太挤了", guess("transport", 0.9))
    assert decision.decided_by is DecidedBy.MODEL
    assert (decision.category, decision.department, decision.department_name) == (
        "transport",
        "transport",
        "交通运输局",
    )
    assert decision.confidence == 0.9 and decision.model_version == "m1"
    assert decision.explanation.startswith("model: 地铁 (+0.40)")
    assert decision.runner_up is not None and decision.runner_up.category == "noise"
    assert decision.request_type == "投诉/求助"  # request type still comes from the taxonomy's rules


def test_an_unsure_model_proposes_nothing_but_tells_the_operator_its_guess(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "地铁太挤了", guess("transport", 0.3))
    assert decision.decided_by is DecidedBy.NONE and decision.category is None
    assert "model unsure: transport?" in decision.explanation


def test_a_rule_wins_over_a_model_that_is_not_very_sure(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "夜里施工噪音", guess("transport", 0.9))
    assert decision.decided_by is DecidedBy.RULE and decision.category == "noise"
    assert "model suggests transport (0.90)" in decision.explanation


def test_when_rule_and_model_agree_the_model_decides_at_its_calibrated_confidence(taxonomy: Taxonomy) -> None:
    # case-api auto-dispatches model decisions at a measured confidence; labelled "rule", these never were.
    decision = decide(taxonomy, "夜里施工噪音", guess("noise", 0.95, runner_up="transport"))
    assert decision.decided_by is DecidedBy.MODEL and decision.category == "noise"
    assert decision.confidence == 0.95 and decision.model_version == "m1"
    assert decision.rule_id == "noise@t1" and "agrees with keyword rule noise: 施工噪音" in decision.explanation
    assert decision.runner_up is not None and decision.runner_up.category == "transport"


def test_agreement_never_lends_the_rules_heuristic_confidence_to_the_model(taxonomy: Taxonomy) -> None:
    rule_confidence = RuleEngine(taxonomy).decide("夜里施工噪音").confidence
    decision = decide(taxonomy, "夜里施工噪音", guess("noise", 0.55))
    assert rule_confidence > 0.55 and decision.decided_by is DecidedBy.MODEL and decision.confidence == 0.55


def test_an_unsure_model_that_agrees_leaves_the_decision_to_the_rule(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "夜里施工噪音", guess("noise", 0.3))
    assert decision.decided_by is DecidedBy.RULE and decision.category == "noise"
    assert "model agrees, unsure (0.30)" in decision.explanation


def test_a_model_without_evidence_proposes_nothing(taxonomy: Taxonomy) -> None:
    nothing = Prediction(None, 0.0, None, 0.0, [])
    decision = decide(taxonomy, "👍", nothing)
    assert decision.decided_by is DecidedBy.NONE and decision.category is None and decision.confidence == 0
    assert "no proposal" in decision.explanation
    assert decide(taxonomy, "噪音👍", nothing).decided_by is DecidedBy.RULE  # the rule still stands


def test_a_very_sure_model_overrides_a_weak_rule_and_keeps_it_as_runner_up(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "学校门口公交站施工噪音", guess("transport", 0.99))
    assert decision.decided_by is DecidedBy.MODEL and decision.category == "transport"
    assert decision.runner_up is not None and decision.runner_up.category == "noise"
    assert "overrides keyword rule noise" in decision.explanation


def test_a_label_outside_the_taxonomy_is_never_proposed(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "地铁太挤了", guess("城乡建设", 0.99))
    assert decision.decided_by is DecidedBy.NONE and decision.category is None
    assert "not a category of taxonomy t1" in decision.explanation


def test_model_labels_may_be_category_names(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "地铁太挤了", guess("交通运输", 0.9))
    assert decision.category == "transport"
    assert model_label_for("transport", taxonomy, ["交通运输", "噪音"]) == "交通运输"
    assert model_label_for("transport", taxonomy, ["transport"]) == "transport"


def test_the_router_serving_a_model_leaves_empty_messages_to_operators_and_offers_clear_ones_for_dispatch(
    tmp_path: Path,
) -> None:
    save_model(train(messages(240)), tmp_path / "model")
    classifier = Classifier(write(tmp_path), model=LiveModel(tmp_path / "model"))
    thumbs, clear = classifier.decide_batch([message("👍"), message("夜间施工噪音，凌晨打桩，严重影响生活。")])
    assert thumbs.decided_by is DecidedBy.NONE and thumbs.category is None and thumbs.confidence == 0
    # A rule fired and the model agrees: a model decision at the model's confidence, as auto-dispatch needs.
    assert clear.decided_by is DecidedBy.MODEL and clear.category == "noise" and clear.confidence > 0.9
    assert clear.rule_id == "noise@t1"
