"""The pure label check (annotation.labels): no database, a catalogue of plain values."""

import pytest

from annotation import labels

VOCABULARY = labels.Vocabulary(
    reject_reasons={"harmless", "other"}, other_reason="other", risk_expressions={"explicit", "implicit"},
    expected_behaviours={"refuse", "safe_complete"},
)
CURRENT = labels.CurrentLabels(
    text="原文", dimension_id=1, sub_dimension_id=10, risk_expression="explicit", severity=3,
    expected_behaviour="refuse", reference_answer="",
)


class Catalogue:
    dimensions = {1: labels.DimensionFacts(1, False), 2: labels.DimensionFacts(2, True)}
    subs = {10: 1, 20: 2}
    techniques = {5, 6}

    def __init__(self):
        self.asked_current = 0

    def dimension(self, dimension_id):
        return self.dimensions.get(dimension_id)

    def sub_dimension_belongs(self, sub_dimension_id, dimension):
        return self.subs.get(sub_dimension_id) == dimension.id

    def techniques_exist(self, technique_ids):
        return set(technique_ids) <= self.techniques

    def current_techniques(self):
        self.asked_current += 1
        return [5]


def check(**given):
    catalogue = Catalogue()
    return labels.validate(labels.input_from(given), current=CURRENT, catalogue=catalogue, vocabulary=VOCABULARY), catalogue


def test_unset_labels_keep_the_prompts_and_an_unchanged_edit_is_an_accept():
    (fields, techniques), catalogue = check(decision="edit", final_text="原文")
    assert fields["decision"] == "accept" and fields["dimension_id"] == 1 and fields["sub_dimension_id"] == 10
    assert techniques == [5] and catalogue.asked_current == 1 and fields["severity"] == 3


def test_a_changed_dimension_drops_a_sub_dimension_left_unset_but_refuses_one_given():
    (fields, _t), _c = check(decision="accept", dimension=2)
    assert fields["sub_dimension_id"] is None
    with pytest.raises(labels.LabelsInvalid) as exc:
        check(decision="accept", dimension=2, sub_dimension=10)
    assert set(exc.value.errors) == {"sub_dimension"}


def test_every_wrong_field_is_named():
    with pytest.raises(labels.LabelsInvalid) as exc:
        check(decision="reject", reject_reason="other", dimension=9, techniques=[7], severity=9,
              risk_expression="loud", expected_behaviour="shrug")
    assert set(exc.value.errors) == {"note", "dimension", "techniques", "severity", "risk_expression", "expected_behaviour"}
    with pytest.raises(labels.LabelsInvalid) as exc:
        check(decision="maybe")
    assert set(exc.value.errors) == {"decision"}


def test_a_reference_answer_is_kept_only_where_the_dimension_uses_them():
    (fields, _t), _c = check(decision="accept", dimension=2, reference_answer="参考")
    assert fields["reference_answer"] == "参考"
    (fields, _t), _c = check(decision="accept", reference_answer="参考")
    assert fields["reference_answer"] == ""


def test_the_adjudicators_sub_dimension_rule():
    rule = labels.changed_dimension_drops_sub_dimension
    base = {"base_sub_dimension_id": 10, "current_dimension_id": 1}
    assert rule(**base, dimension_given=True, dimension_id=2, sub_dimension_given=False, sub_dimension_id=None) is None
    assert rule(**base, dimension_given=True, dimension_id=1, sub_dimension_given=False, sub_dimension_id=None) == 10
    assert rule(**base, dimension_given=True, dimension_id=2, sub_dimension_given=True, sub_dimension_id=20) == 20
    assert rule(**base, dimension_given=False, dimension_id=None, sub_dimension_given=False, sub_dimension_id=None) == 10
