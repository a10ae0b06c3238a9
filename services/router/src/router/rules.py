"""Keyword and regex rules: the first, explainable stage of routing.

Every category's keywords go into one alternation regex per category set, so a message is scanned once per
category with C-speed matching instead of one Python `in` per keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.contracts.v1 import Candidate, DecidedBy, RoutingDecision
from shared.taxonomy import Taxonomy


@dataclass(frozen=True)
class _CompiledCategory:
    id: str
    regex: re.Pattern[str]


class RuleEngine:
    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._categories: list[_CompiledCategory] = []
        for category in taxonomy.categories.values():
            # The same regex the taxonomy's validation compiled, so a taxonomy that loads can always be served.
            regex = category.rule_regex()
            if regex is not None:
                self._categories.append(_CompiledCategory(category.id, regex))
        self._request_types = [
            (rule.type, re.compile("|".join(re.escape(k) for k in rule.keywords)))
            for rule in taxonomy.doc.request_types.rules
            if rule.keywords
        ]

    def request_type(self, text: str) -> str | None:
        for name, regex in self._request_types:
            if regex.search(text):
                return name
        return self.taxonomy.doc.request_types.default

    def decide(self, text: str) -> RoutingDecision:
        scored: list[tuple[int, str, list[str]]] = []
        for compiled in self._categories:
            matched = [m.group(0) for m in compiled.regex.finditer(text)]
            if matched:
                scored.append((sum(len(m) for m in matched), compiled.id, matched))
        if not scored:
            return RoutingDecision(
                request_type=self.request_type(text),
                decided_by=DecidedBy.NONE,
                explanation="no rule matched; an operator classifies this message",
                taxonomy_version=self.taxonomy.version,
            )
        scored.sort(key=lambda s: (-s[0], s[1]))
        top_score, top_id, matched = scored[0]
        runner_score = scored[1][0] if len(scored) > 1 else 0
        # A margin-based heuristic: one short keyword alone is weak evidence, a clear lead over the runner-up
        # is strong. The learned model replaces this with calibrated probabilities.
        confidence = round(top_score / (top_score + runner_score + 2), 3)
        category = self.taxonomy.categories[top_id]
        department = self.taxonomy.departments[category.department]
        keywords = "、".join(dict.fromkeys(matched))
        runner_up = None
        if len(scored) > 1:
            runner_up = Candidate(
                category=scored[1][1], confidence=round(runner_score / (top_score + runner_score + 2), 3)
            )
        return RoutingDecision(
            category=category.id,
            category_name=category.name,
            department=department.id,
            department_name=department.name,
            request_type=self.request_type(text),
            confidence=confidence,
            runner_up=runner_up,
            explanation=f"keyword rule {category.id}: {keywords}",
            decided_by=DecidedBy.RULE,
            rule_id=f"{category.id}@{self.taxonomy.version}",
            taxonomy_version=self.taxonomy.version,
        )
