"""Consensus rules: N annotations in, one outcome out (approve, reject, or send to adjudication).

Pure Python on plain values, no ORM, so every rule is unit-tested alone and the submit path stays cheap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

ACCEPT, EDIT, REJECT = "accept", "edit", "reject"
APPROVED, REJECTED = "approved", "rejected"

UNANIMOUS = "unanimous"
MAJORITY_LABELS = "majority_labels"
MAJORITY = "majority"
RULES = (UNANIMOUS, MAJORITY_LABELS, MAJORITY)

# What an accepted prompt carries forward. The text is settled like any other label.
FINAL_FIELDS = (
    "text",
    "dimension_id",
    "sub_dimension_id",
    "technique_ids",
    "risk_expression",
    "severity",
    "expected_behaviour",
    "reference_answer",
)

# The explanations are stored in English (status log, adjudication note) and translated where they are shown:
# annotation/log_messages.py registers these templates, and FIELD_LABELS are the words a field list is made of.
NO_ANNOTATIONS = gettext_noop("no annotations")
MAJORITY_REJECT = gettext_noop("majority reject (%(n)s of %(total)s)")
NO_MAJORITY = gettext_noop("no majority for accept or reject")
NO_MAJORITY_ON = gettext_noop("no majority on %(fields)s")
MAJORITY_ACCEPT = gettext_noop("majority accept (%(n)s of %(total)s)")
UNANIMOUS_REJECT = gettext_noop("unanimous reject (%(total)s)")
DECISIONS_DIFFER = gettext_noop("decisions differ (%(accept)s accept, %(reject)s reject)")
UNANIMOUS_ACCEPT = gettext_noop("unanimous accept (%(total)s)")
LABELS_DIFFER = gettext_noop("texts or labels differ: %(fields)s")
NO_LABEL_MAJORITY = gettext_noop("no label majority on %(fields)s")
LABELS_BY_MAJORITY = gettext_noop("all accept, labels by majority (%(total)s)")
EXPLANATIONS = (
    NO_ANNOTATIONS, MAJORITY_REJECT, NO_MAJORITY, NO_MAJORITY_ON, MAJORITY_ACCEPT, UNANIMOUS_REJECT,
    DECISIONS_DIFFER, UNANIMOUS_ACCEPT, LABELS_DIFFER, NO_LABEL_MAJORITY, LABELS_BY_MAJORITY,
)
FIELD_LABELS = {
    "text": gettext_noop("text"),
    "dimension_id": gettext_noop("dimension"),
    "sub_dimension_id": gettext_noop("sub-dimension"),
    "technique_ids": gettext_noop("techniques"),
    "risk_expression": gettext_noop("risk expression"),
    "severity": gettext_noop("severity"),
    "expected_behaviour": gettext_noop("expected behaviour"),
    "reference_answer": gettext_noop("reference answer"),
}


def _fields(names: Sequence[str]) -> str:
    return ", ".join(FIELD_LABELS[name] for name in names)


@dataclass(frozen=True)
class Vote:
    annotator: Hashable
    decision: str
    text: str
    dimension_id: int | None = None
    sub_dimension_id: int | None = None
    technique_ids: frozenset[int] = field(default_factory=frozenset)
    risk_expression: str = ""
    severity: int | None = None
    expected_behaviour: str = ""
    reference_answer: str = ""
    reject_reason: str = ""

    @property
    def keeps(self) -> bool:
        return self.decision != REJECT

    def final(self) -> dict:
        return {name: getattr(self, name) for name in FINAL_FIELDS}


@dataclass(frozen=True)
class Outcome:
    decision: str | None  # APPROVED, REJECTED, or None: a maintainer must adjudicate
    final: dict | None = None  # FINAL_FIELDS when approved
    explanation: str = ""
    undecided_fields: tuple[str, ...] = ()

    @property
    def needs_adjudication(self) -> bool:
        return self.decision is None


def pair_agreement(decisions: Sequence[Hashable]) -> float | None:
    """Share of annotator pairs giving the same value: sum n_v (n_v - 1) / (m (m - 1)); None below 2."""
    m = len(decisions)
    if m < 2:
        return None
    same = sum(n * (n - 1) for n in Counter(decisions).values())
    return same / (m * (m - 1))


def _strict_majority(values: Sequence[Hashable]) -> tuple[bool, Hashable]:
    if not values:
        return False, None
    value, count = Counter(values).most_common(1)[0]
    return count * 2 > len(values), value


def _majority_final(keepers: Sequence[Vote]) -> tuple[dict, tuple[str, ...]]:
    final: dict = {}
    missing: list[str] = []
    for name in FINAL_FIELDS:
        ok, value = _strict_majority([getattr(v, name) for v in keepers])
        if ok:
            final[name] = value
        else:
            missing.append(name)
    return final, tuple(missing)


def evaluate(rule: str, votes: Sequence[Vote]) -> Outcome:
    """Apply a queue's consensus rule to its N (non-surplus) annotations."""
    if rule not in RULES:
        raise ValueError(f"unknown consensus rule {rule!r}")
    if not votes:
        return Outcome(None, explanation=NO_ANNOTATIONS)
    keepers = [v for v in votes if v.keeps]
    rejecters = len(votes) - len(keepers)

    if rule == MAJORITY:
        if rejecters * 2 > len(votes):
            return Outcome(REJECTED, explanation=MAJORITY_REJECT % {"n": rejecters, "total": len(votes)})
        if len(keepers) * 2 <= len(votes):
            return Outcome(None, explanation=NO_MAJORITY)
        final, missing = _majority_final(keepers)
        if missing:
            return Outcome(None, explanation=NO_MAJORITY_ON % {"fields": _fields(missing)}, undecided_fields=missing)
        return Outcome(APPROVED, final, explanation=MAJORITY_ACCEPT % {"n": len(keepers), "total": len(votes)})

    if not keepers:
        return Outcome(REJECTED, explanation=UNANIMOUS_REJECT % {"total": len(votes)})
    if rejecters:
        return Outcome(None, explanation=DECISIONS_DIFFER % {"accept": len(keepers), "reject": rejecters})

    if rule == UNANIMOUS:
        finals = {tuple(sorted(v.final().items(), key=lambda kv: kv[0])) for v in keepers}
        if len(finals) == 1:
            return Outcome(APPROVED, keepers[0].final(), explanation=UNANIMOUS_ACCEPT % {"total": len(votes)})
        differing = tuple(name for name in FINAL_FIELDS if len({getattr(v, name) for v in keepers}) > 1)
        return Outcome(None, explanation=LABELS_DIFFER % {"fields": _fields(differing)}, undecided_fields=differing)

    final, missing = _majority_final(keepers)
    if missing:
        return Outcome(None, explanation=NO_LABEL_MAJORITY % {"fields": _fields(missing)}, undecided_fields=missing)
    return Outcome(APPROVED, final, explanation=LABELS_BY_MAJORITY % {"total": len(votes)})
