"""Rules first, then the model: how a rule decision and a model prediction combine."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.model import Prediction
from router.policy import ModelPolicy, combine, model_label_for
from router.rules import RuleEngine
from shared.contracts.v1 import DecidedBy, RoutingDecision
from shared.taxonomy import Taxonomy, load_taxonomy
from tests.router.test_rules import TAXONOMY, write

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


def test_agreement_raises_the_rules_confidence(taxonomy: Taxonomy) -> None:
    decision = decide(taxonomy, "夜里施工噪音", guess("noise", 0.95, runner_up="transport"))
    assert decision.decided_by is DecidedBy.RULE and decision.confidence == 0.95
    assert "model agrees" in decision.explanation


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
