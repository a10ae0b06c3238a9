"""Operators' classifications in case events become corrections (the assumed event shape is in learning.py)."""

from __future__ import annotations

from router.learning import correction_from_case_event
from shared.contracts.v1 import CaseChange, CaseEvent


def event(action: str, details: dict[str, object], case: dict[str, object] | None = None) -> CaseEvent:
    change = CaseChange(action=action, from_status="accepted", to_status="classified", actor="op1", details=details)
    return CaseEvent.for_change("c-1", change, case or {"id": "c-1", "subject": "案件标题"})


def test_a_corrected_classification_becomes_a_correction() -> None:
    e = event("classified", {"category_id": "labour", "corrected": True, "text": "公司拖欠工资", "via": "classify"})
    correction = correction_from_case_event(e)
    assert correction is not None
    assert (correction.text, correction.label, correction.source) == ("公司拖欠工资", "labour", "correction")
    assert correction.ref == str(e.id)


def test_a_confirmation_is_kept_as_such_and_the_case_subject_stands_in_for_a_missing_text() -> None:
    correction = correction_from_case_event(event("classified", {"category_id": "labour", "via": "confirm"}))
    assert correction is not None and correction.source == "confirm" and correction.text == "案件标题"


def test_reclassified_events_count_and_take_the_category_from_the_snapshot() -> None:
    e = event("reclassified", {"text": "噪音扰民"}, {"id": "c-1", "category_id": "noise"})
    correction = correction_from_case_event(e)
    assert correction is not None and correction.label == "noise"


def test_other_events_and_classifications_without_text_teach_nothing() -> None:
    assert correction_from_case_event(event("dispatched", {"text": "x", "category_id": "labour"})) is None
    assert correction_from_case_event(event("classified", {"category_id": "labour"}, {"id": "c-1"})) is None
