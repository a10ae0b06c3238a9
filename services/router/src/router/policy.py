"""Rules first, then the model: how a keyword-rule decision and a model prediction become one decision.

- A rule fired and the model agrees with confidence ≥ `min_confidence`: the decision is the model's, at the
  model's calibrated confidence, and names the rule (`rule_id`, explanation). Only that confidence is backed by
  a measured precision, so only it may reach case-api's auto-dispatch threshold (which acts on model decisions)
  and it is what `evaluate`'s coverage counts. Labelled as rule decisions, these messages (most of those a
  model is sure about) were never auto-dispatched. The price: `decided_by` no longer tells that a rule fired
  (`rule_id` does), and the rule's heuristic confidence is dropped, not combined: a maximum of a heuristic and
  a probability is neither.
- A rule fired and the model agrees but is unsure, or suggests something else: the rule decides.
- A rule fired and the model disagrees with confidence ≥ `override_confidence` (calibrated: at the default 0.98
  it is measured to be right about that often), and the rule was less sure: the model decides and the rule's
  category becomes the runner-up. Keyword rules match substrings out of context ("学校门口堵车" is traffic,
  not education); a very sure model is the better judge there, and the explanation names both.
- No rule fired: the model decides when its confidence is at least `min_confidence`; below that its guess is
  written into the explanation for the operator, and nothing is proposed.
- The text holds nothing the model knows ("👍", "ok"): the model proposes nothing; a rule that fired decides alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.v1 import Candidate, DecidedBy, RoutingDecision
from shared.taxonomy import Category, Taxonomy

from .model import Prediction


@dataclass(frozen=True)
class ModelPolicy:
    min_confidence: float = 0.5
    override_confidence: float = 0.98


def category_for(label: str | None, taxonomy: Taxonomy) -> Category | None:
    """A model label is a taxonomy category id (or its exact name, as a city's ledger may have it)."""
    if label is None:
        return None
    if label in taxonomy.categories:
        return taxonomy.categories[label]
    return next((c for c in taxonomy.categories.values() if c.name == label), None)


def model_label_for(category_id: str, taxonomy: Taxonomy, labels: list[str]) -> str:
    """The other direction: an operator's category id in the label space the live model was trained with."""
    if category_id in labels:
        return category_id
    category = taxonomy.categories.get(category_id)
    if category is not None and category.name in labels:
        return category.name
    return category_id


def _model_decision(
    prediction: Prediction, category: Category, rule: RoutingDecision, taxonomy: Taxonomy, version: str, note: str
) -> RoutingDecision:
    department = taxonomy.departments[category.department]
    runner_up = None
    if rule.decided_by is DecidedBy.RULE and rule.category and rule.category != category.id:
        runner_up = Candidate(category=rule.category, confidence=min(rule.confidence, 1 - prediction.confidence))
    else:
        second = category_for(prediction.runner_up, taxonomy)
        if second is not None:
            runner_up = Candidate(category=second.id, confidence=prediction.runner_up_confidence)
    return RoutingDecision(
        category=category.id,
        category_name=category.name,
        department=department.id,
        department_name=department.name,
        request_type=rule.request_type,
        confidence=prediction.confidence,
        runner_up=runner_up,
        explanation=f"model: {prediction.explanation}{note}",
        decided_by=DecidedBy.MODEL,
        rule_id=rule.rule_id if rule.category == category.id else None,
        model_version=version,
        taxonomy_version=taxonomy.version,
    )


def combine(
    rule: RoutingDecision,
    prediction: Prediction | None,
    *,
    taxonomy: Taxonomy,
    model_version: str,
    policy: ModelPolicy,
) -> RoutingDecision:
    if prediction is None:
        return rule
    if prediction.label is None:
        note = f"; model: {prediction.explanation}"
        return rule.model_copy(update={"explanation": rule.explanation + note, "model_version": model_version})
    category = category_for(prediction.label, taxonomy)
    if category is None:
        note = f"; model label {prediction.label!r} is not a category of taxonomy {taxonomy.version}"
        return rule.model_copy(update={"explanation": rule.explanation + note})
    if rule.decided_by is DecidedBy.RULE:
        if category.id == rule.category and prediction.confidence >= policy.min_confidence:
            note = f"; agrees with {rule.explanation}"
            return _model_decision(prediction, category, rule, taxonomy, model_version, note)
        if category.id == rule.category:
            return rule.model_copy(
                update={
                    "explanation": f"{rule.explanation}; model agrees, unsure ({prediction.confidence:.2f})",
                    "model_version": model_version,
                }
            )
        if prediction.confidence >= policy.override_confidence and prediction.confidence > rule.confidence:
            note = f" (overrides {rule.explanation})"
            return _model_decision(prediction, category, rule, taxonomy, model_version, note)
        return rule.model_copy(
            update={
                "explanation": f"{rule.explanation}; model suggests {category.id} ({prediction.confidence:.2f})",
                "model_version": model_version,
            }
        )
    if prediction.confidence >= policy.min_confidence:
        return _model_decision(prediction, category, rule, taxonomy, model_version, "")
    note = f"; model unsure: {category.id}? ({prediction.confidence:.2f}: {prediction.explanation})"
    return rule.model_copy(update={"explanation": rule.explanation + note, "model_version": model_version})
