"""The policy file: defaults, matching by category and request type, and errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from case_api.sla import Clock, PolicyError, SlaCalculator, SlaSettings, Span, load_policies
from shared.taxonomy import load_taxonomy

from .helpers import ROOT, write

TAXONOMY = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
CATEGORIES = set(TAXONOMY.categories)
REQUEST_TYPES = {r.type for r in TAXONOMY.doc.request_types.rules}

RULES = """
version: test-1
defaults:
  first_response:
    in_working_time: {working_hours: 2}
  transfer: {min_remaining: {working_hours: 4}}
policies:
  - category: public-security
    first_response: {outside_working_time: {hours: 4}}
  - category: housing-property
    request_type: 咨询
    resolution: {working_hours: 12}
  - request_type: 咨询
    resolution: {working_days: 2}
"""


def test_the_shipped_policy_file_holds_the_design_defaults() -> None:
    policies = load_policies(ROOT / "config" / "sla.yaml", categories=CATEGORIES, request_types=REQUEST_TYPES)
    key, policy = policies.policy_for("housing-property", "投诉/求助")
    assert key == "default"
    assert policy.first_response.in_working_time == Span(working_hours=1)
    assert policy.first_response.outside_working_time == Span(hours=8)
    assert policy.first_response.outside_working_time.clock is Clock.WALL
    assert policy.resolution == Span(working_days=5)
    assert policy.pause_while_waiting_on_citizen is True
    assert policy.transfer.resolution == "keep"
    assert policy.promise.extends_resolution is False


def test_the_shipped_files_build_a_calculator_from_default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    calc = SlaCalculator.from_settings(SlaSettings(), categories=CATEGORIES, request_types=REQUEST_TYPES)
    assert calc.policies.version


def test_the_most_specific_policy_wins_and_overrides_only_what_it_names(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, "sla.yaml", RULES), categories=CATEGORIES, request_types=REQUEST_TYPES)
    assert policies.version == "test-1"

    key, both = policies.policy_for("housing-property", "咨询")
    assert key == "housing-property/咨询"
    assert both.resolution == Span(working_hours=12)  # a span is replaced whole, not merged with working_days
    assert both.first_response.in_working_time == Span(working_hours=2)  # from the file's defaults

    key, by_type = policies.policy_for("labour", "咨询")
    assert key == "*/咨询"
    assert by_type.resolution == Span(working_days=2)

    key, by_category = policies.policy_for("public-security", "咨询")
    assert key == "public-security/*"  # category before request type
    assert by_category.first_response.outside_working_time == Span(hours=4)
    assert by_category.first_response.in_working_time == Span(working_hours=2)  # sections merge key by key
    assert by_category.transfer.min_remaining == Span(working_hours=4)

    key, fallback = policies.policy_for(None, None)
    assert key == "default"
    assert fallback.resolution == Span(working_days=5)  # built-in default where the file is silent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults: {}\n", "version: Field required"),
        ("version: x\npolicies:\n  - category: housing\n", "policies[0] (housing/*): unknown category 'housing'"),
        ("version: x\npolicies:\n  - request_type: 投诉\n", "unknown request_type '投诉'; known: 咨询"),
        ("version: x\npolicies:\n  - resolution: {working_days: 3}\n", "policies[0]: a policy needs a category"),
        (
            "version: x\npolicies:\n  - {category: labour}\n  - {category: labour, warn_when_used: 0.5}\n",
            "policies[1] (labour/*): a policy for labour/* is already given above",
        ),
        (
            "version: x\ndefaults:\n  resolution: {working_days: 5, hours: 8}\n",
            "defaults.resolution: give exactly one of working_hours, working_days or hours",
        ),
        (
            "version: x\ndefaults:\n  resolution: {days: 5}\n",
            "defaults.resolution.days: Extra inputs are not permitted",
        ),
        ("version: x\ndefaults:\n  resolution: {working_days: 2.5}\n", "defaults.resolution.working_days"),
        ("version: x\ndefaults:\n  warn_when_used: 1.5\n", "defaults.warn_when_used: Input should be less than 1"),
        (
            "version: x\ndefaults:\n  first_response: {outside_rule_applies: weekends}\n",
            "defaults.first_response.outside_rule_applies: Input should be 'outside_working_time' or 'rest_days'",
        ),
        (
            # Each half is fine; together (defaults restart, the policy a minimum) they contradict each other.
            "version: x\ndefaults:\n  transfer: {resolution: restart}\n"
            "policies:\n  - category: labour\n    transfer: {min_remaining: {working_hours: 4}}\n",
            "policies[0] (labour/*): transfer: min_remaining applies only when resolution is keep",
        ),
        ("version: x\ndefaults:\n  resolution: [\n", "not valid YAML"),
    ],
)
def test_bad_policy_files_fail_with_a_readable_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "sla.yaml", text)
    with pytest.raises(PolicyError) as excinfo:
        load_policies(path, categories=CATEGORIES, request_types=REQUEST_TYPES)
    assert str(excinfo.value).startswith(f"{path}: ")
    assert message in str(excinfo.value)


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"sla\.yaml: no such file"):
        load_policies(tmp_path / "sla.yaml")


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (Span(working_hours=1), "1 working hour"),
        (Span(working_hours=0.5), "0.5 working hours"),
        (Span(working_days=5), "5 working days"),
        (Span(hours=8), "8 hours"),
    ],
)
def test_spans_read_as_people_say_them(span: Span, text: str) -> None:
    assert str(span) == text
