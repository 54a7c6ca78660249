"""The consensus rules on plain votes (no database)."""

import pytest

from annotation.consensus import (
    APPROVED,
    MAJORITY,
    MAJORITY_LABELS,
    REJECTED,
    UNANIMOUS,
    Vote,
    evaluate,
    pair_agreement,
)


def vote(who, decision="accept", text="原文", **labels):
    base = {"dimension_id": 1, "sub_dimension_id": 2, "technique_ids": frozenset({5}), "severity": 3}
    base.update(labels)
    return Vote(annotator=who, decision=decision, text=text, **base)


def test_unanimous_accept_with_identical_text_and_labels_approves_with_them():
    outcome = evaluate(UNANIMOUS, [vote(1), vote(2), vote(3)])
    assert outcome.decision == APPROVED
    assert outcome.final["text"] == "原文"
    assert outcome.final["technique_ids"] == frozenset({5})


def test_unanimous_reject_rejects():
    votes = [vote(i, "reject", reject_reason="unclear") for i in range(3)]
    assert evaluate(UNANIMOUS, votes).decision == REJECTED


@pytest.mark.parametrize(
    "third",
    [
        vote(3, "reject"),
        vote(3, "edit", text="改过的文本"),
        vote(3, severity=4),
        vote(3, technique_ids=frozenset({5, 6})),
        vote(3, dimension_id=9),
    ],
)
def test_unanimous_sends_any_difference_to_adjudication(third):
    outcome = evaluate(UNANIMOUS, [vote(1), vote(2), third])
    assert outcome.needs_adjudication
    assert outcome.explanation


def test_identical_edits_are_a_unanimous_accept_of_the_edited_text():
    votes = [vote(i, "edit", text="更好的问法") for i in range(3)]
    outcome = evaluate(UNANIMOUS, votes)
    assert outcome.decision == APPROVED and outcome.final["text"] == "更好的问法"


def test_majority_labels_approves_when_all_accept_and_each_label_has_a_majority():
    outcome = evaluate(MAJORITY_LABELS, [vote(1, severity=4), vote(2, severity=4), vote(3, severity=2)])
    assert outcome.decision == APPROVED
    assert outcome.final["severity"] == 4


def test_majority_labels_needs_a_strict_majority_on_every_label():
    outcome = evaluate(MAJORITY_LABELS, [vote(1, severity=4), vote(2, severity=2)])
    assert outcome.needs_adjudication
    assert outcome.undecided_fields == ("severity",)


def test_majority_labels_still_needs_the_decisions_to_agree():
    assert evaluate(MAJORITY_LABELS, [vote(1), vote(2), vote(3, "reject")]).needs_adjudication
    assert evaluate(MAJORITY_LABELS, [vote(i, "reject") for i in range(3)]).decision == REJECTED


def test_majority_rule_decides_by_majority_and_takes_labels_from_the_acceptors():
    assert evaluate(MAJORITY, [vote(1, "reject"), vote(2, "reject"), vote(3)]).decision == REJECTED
    outcome = evaluate(MAJORITY, [vote(1, severity=5), vote(2, severity=5), vote(3, "reject")])
    assert outcome.decision == APPROVED and outcome.final["severity"] == 5
    split = evaluate(MAJORITY, [vote(1, severity=5), vote(2, severity=1), vote(3, "reject")])
    assert split.needs_adjudication
    assert evaluate(MAJORITY, [vote(1), vote(2, "reject")]).needs_adjudication


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError):
        evaluate("coin_flip", [vote(1)])


def test_pair_agreement_is_the_share_of_agreeing_pairs():
    assert pair_agreement(["accept", "accept", "accept"]) == 1.0
    assert pair_agreement(["accept", "accept", "reject"]) == pytest.approx(1 / 3)
    assert pair_agreement(["accept", "edit", "reject"]) == 0.0
    assert pair_agreement(["accept"]) is None


def test_pair_agreement_matches_the_agreement_module():
    import pandas as pd

    from annotation.agreement import per_item_agreement

    decisions = ["accept", "reject", "accept", "accept", "edit"]
    frame = pd.DataFrame({"item": [1] * 5, "annotator": range(5), "value": decisions})
    assert pair_agreement(decisions) == pytest.approx(per_item_agreement(frame).iloc[0])
