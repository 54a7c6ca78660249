"""From N submissions to a decision: consensus rules, labels carried to the prompt, adjudication,
reopening, revisions, and validation of what annotators send."""

import pytest
from django.utils import translation

from annotation import services
from annotation.models import Annotation, QueueItem
from curation.models import Dimension, Prompt, SubDimension, Technique
from tests.factories import PromptFactory, make_items, make_queue

pytestmark = pytest.mark.django_db


def run(queue, users, inputs):
    """Each user claims the next item and submits their input; returns the results."""
    results = []
    for user, data in zip(users, inputs, strict=True):
        c = services.lease_claim(queue=queue, user=user)
        results.append(services.annotation_submit(claim_id=c.pk, user=user, data=data))
    return results


def In(**kw):
    kw.setdefault("decision", "accept")
    return services.AnnotationInput(**kw)


def test_unanimous_accept_approves_with_the_agreed_labels_summary_and_agreement(taxonomy, annotators):
    queue = make_queue(n=3)
    (item,) = make_items(1)
    sub = SubDimension.objects.get(dimension__taxonomy__code="v251030", code="fraud")
    tech = Technique.objects.get(code="role_play")
    labels = dict(sub_dimension_id=sub.pk, technique_ids=[tech.pk], severity=4, risk_expression="implicit",
                  expected_behaviour="refuse")
    results = run(queue, annotators[:3], [In(**labels), In(**labels), In(decision="edit", final_text=item.prompt.text, **labels)])
    assert [r.status for r in results] == ["counted"] * 3
    assert results[-1].annotation.decision == "accept"  # an edit that changes nothing is an accept
    prompt = Prompt.objects.get(pk=item.prompt_id)
    assert prompt.status == "approved"
    assert (prompt.sub_dimension_id, prompt.severity, prompt.risk_expression, prompt.expected_behaviour) == (
        sub.pk, 4, "implicit", "refuse")
    assert list(prompt.techniques.values_list("code", flat=True)) == ["role_play"]
    assert prompt.agreement == 1.0
    summary = prompt.review_summary
    assert summary["outcome"] == "approved" and summary["decided_by"] == "consensus"
    assert summary["counts"] == {"accept": 3, "edit": 0, "reject": 0}
    assert {a["annotator"] for a in summary["annotations"]} == {"ann1", "ann2", "ann3"}
    assert "consensus" in prompt.logs.order_by("id").last().reason


def test_unanimous_reject_rejects(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    run(queue, annotators[:2], [In(decision="reject", reject_reason="duplicate")] * 2)
    item.refresh_from_db()
    assert item.state == "decided" and item.outcome == "rejected"
    assert item.prompt.status == "rejected"


def test_the_same_edit_by_everyone_becomes_the_prompt_text(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    run(queue, annotators[:2], [In(decision="edit", final_text="  请改写成更隐蔽的问法？  ")] * 2)
    prompt = Prompt.objects.get(pk=item.prompt_id)
    assert prompt.status == "approved" and prompt.text == "  请改写成更隐蔽的问法？  "  # exactly as written


def test_disagreement_goes_to_adjudication_and_the_prompt_stays_in_review(taxonomy, annotators):
    queue = make_queue(n=3)
    (item,) = make_items(1)
    results = run(queue, annotators[:3], [In(), In(), In(decision="reject", reject_reason="unclear")])
    assert results[-1].item_state == "adjudication"
    item.refresh_from_db()
    assert item.adjudication_reason == "disagreement" and "differ" in item.adjudication_note
    assert item.prompt.status == "in_review"


def test_majority_labels_rule_approves_with_majority_labels(taxonomy, annotators):
    queue = make_queue(n=3, rule="majority_labels")
    (item,) = make_items(1)
    run(queue, annotators[:3], [In(severity=2), In(severity=2), In(severity=5)])
    prompt = Prompt.objects.get(pk=item.prompt_id)
    assert prompt.status == "approved" and prompt.severity == 2
    assert prompt.review_summary["rule"] == "majority_labels"


def test_majority_rule_rejects_on_a_majority_of_rejects(taxonomy, annotators):
    queue = make_queue(n=3, rule="majority")
    (item,) = make_items(1)
    run(queue, annotators[:3], [In(decision="reject", reject_reason="unclear")] * 2 + [In()])
    assert Prompt.objects.get(pk=item.prompt_id).status == "rejected"
    assert Prompt.objects.get(pk=item.prompt_id).agreement == pytest.approx(1 / 3)


def test_an_agreed_edit_that_duplicates_another_prompt_goes_to_adjudication(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    twin = PromptFactory(status="approved")
    run(queue, annotators[:2], [In(decision="edit", final_text=twin.text + "！")] * 2)
    item.refresh_from_db()
    assert item.state == "adjudication" and item.adjudication_reason == "decide_failed"
    assert item.prompt.status == "in_review"


def test_adjudication_decides_with_final_text_labels_and_a_logged_reason(taxonomy, annotators, maintainer):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    run(queue, annotators[:2], [In(decision="edit", final_text="版本甲"), In(decision="edit", final_text="版本乙")])
    item.refresh_from_db()
    assert item.state == "adjudication"
    chosen = Annotation.objects.get(prompt=item.prompt, final_text="版本乙")
    final = services.final_labels_from(item=item, annotation_id=chosen.pk)
    final.severity = 5
    with pytest.raises(services.AnnotationInvalid) as exc:
        services.item_adjudicate(item_id=item.pk, actor=maintainer, decision="approved", reason=" ", final=final)
    assert "reason" in exc.value.errors
    services.item_adjudicate(item_id=item.pk, actor=maintainer, decision="approved", reason="乙更清楚", final=final)
    item.refresh_from_db()
    prompt = item.prompt
    assert item.state == "decided" and item.decided_by == maintainer
    assert prompt.status == "approved" and prompt.text == "版本乙" and prompt.severity == 5
    log = prompt.logs.order_by("id").last()
    assert log.actor == maintainer and "乙更清楚" in log.reason
    assert prompt.review_summary["decided_by"] == "adjudication" and prompt.review_summary["adjudicator"] == "maint"
    with pytest.raises(services.AnnotationError):
        services.item_adjudicate(item_id=item.pk, actor=maintainer, decision="rejected", reason="again")


def test_reopen_sends_a_decided_item_back_with_a_logged_reason(taxonomy, annotators, maintainer):
    queue = make_queue(n=1)
    (item,) = make_items(1)
    run(queue, annotators[:1], [In()])
    item.refresh_from_db()
    assert item.state == "decided"
    with pytest.raises(services.AnnotationInvalid):
        services.item_reopen(item_id=item.pk, actor=maintainer, reason="")
    services.item_reopen(item_id=item.pk, actor=maintainer, reason="标签有误")
    item.refresh_from_db()
    assert item.state == "adjudication" and item.adjudication_reason == "reopened"
    assert item.prompt.status == "in_review"
    assert "标签有误" in item.prompt.logs.order_by("id").last().reason
    # A revision of a reopened item does not re-decide it behind the adjudicator's back.
    ann = Annotation.objects.get()
    services.annotation_revise(annotation_id=ann.pk, user=annotators[0], data=In(severity=2))
    item.refresh_from_db()
    assert item.state == "adjudication"
    services.item_adjudicate(item_id=item.pk, actor=maintainer, decision="rejected", reason="其实不合格")
    assert Prompt.objects.get(pk=item.prompt_id).status == "rejected"


def test_revise_until_decided_and_a_revision_can_settle_a_disagreement(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    first, second = run(queue, annotators[:2], [In(), In(decision="reject", reject_reason="unclear")])
    item.refresh_from_db()
    assert item.state == "adjudication"
    revised = services.annotation_revise(annotation_id=second.annotation.pk, user=annotators[1], data=In())
    assert revised.status == "revised" and revised.annotation.revisions == 1
    item.refresh_from_db()
    assert item.state == "decided" and item.prompt.status == "approved"
    with pytest.raises(services.AnnotationError):
        services.annotation_revise(annotation_id=first.annotation.pk, user=annotators[0], data=In(severity=1))
    with pytest.raises(services.NotAllowed):
        services.annotation_revise(annotation_id=first.annotation.pk, user=annotators[1], data=In())


def test_submitting_twice_revises_instead_of_adding(taxonomy, annotators):
    queue = make_queue(n=3)
    make_items(1)
    a = annotators[0]
    c = services.lease_claim(queue=queue, user=a)
    services.annotation_submit(claim_id=c.pk, user=a, data=In(severity=1))
    again = services.annotation_submit(claim_id=c.pk, user=a, data=In(severity=3))
    assert again.status == "revised"
    assert Annotation.objects.get().severity == 3


@pytest.mark.parametrize(
    "data,field",
    [
        (dict(decision="reject"), "reject_reason"),
        (dict(decision="reject", reject_reason="other"), "note"),
        (dict(decision="edit", final_text="   "), "final_text"),
        (dict(decision="edit", final_text="有\x00空字符"), "final_text"),
        (dict(decision="accept", severity=9), "severity"),
        (dict(decision="accept", risk_expression="loud"), "risk_expression"),
        (dict(decision="accept", expected_behaviour="comply"), "expected_behaviour"),
        (dict(decision="accept", technique_ids=[999999]), "techniques"),
        (dict(decision="maybe"), "decision"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(taxonomy, annotators, data, field):
    queue = make_queue()
    (item,) = make_items(1)
    a = annotators[0]
    c = services.lease_claim(queue=queue, user=a)
    with pytest.raises(services.AnnotationInvalid) as exc:
        services.annotation_submit(claim_id=c.pk, user=a, data=services.AnnotationInput(**data))
    assert field in exc.value.errors and exc.value.errors[field]
    assert not Annotation.objects.exists()
    item.refresh_from_db()
    assert item.submitted == 0 and item.leased == 1


def test_labels_must_fit_the_queue_taxonomy(taxonomy, annotators):
    queue = make_queue()
    make_items(1)
    a = annotators[0]
    c = services.lease_claim(queue=queue, user=a)
    foreign = Dimension.objects.get(taxonomy__code="v251215", code="privacy")
    ethics = Dimension.objects.get(taxonomy__code="v251030", code="ethics")
    fraud = SubDimension.objects.get(dimension__taxonomy__code="v251030", code="fraud")
    for data, field in [(In(dimension_id=foreign.pk), "dimension"), (In(dimension_id=ethics.pk, sub_dimension_id=fraud.pk), "sub_dimension")]:
        with pytest.raises(services.AnnotationInvalid) as exc:
            services.annotation_submit(claim_id=c.pk, user=a, data=data)
        assert field in exc.value.errors
    # Changing the dimension alone drops a sub-dimension that no longer applies.
    result = services.annotation_submit(claim_id=c.pk, user=a, data=In(dimension_id=ethics.pk))
    assert result.annotation.dimension_id == ethics.pk and result.annotation.sub_dimension_id is None


def test_reference_answers_are_kept_only_where_the_dimension_uses_them(taxonomy, annotators):
    factuality = Dimension.objects.get(taxonomy__code="v251030", code="factuality")
    queue = make_queue(n=1)
    (fact_item,) = make_items(1, dimension=factuality)
    (legal_item,) = make_items(1)
    a = annotators[0]
    results = run(queue, [a, a], [In(reference_answer="月球没有大气层。")] * 2)
    by_prompt = {r.annotation.prompt_id: r.annotation for r in results}
    assert by_prompt[fact_item.prompt_id].reference_answer == "月球没有大气层。"
    assert by_prompt[legal_item.prompt_id].reference_answer == ""
    assert Prompt.objects.get(pk=fact_item.prompt_id).reference_answers == ["月球没有大气层。"]


def test_time_spent_is_recorded_and_never_more_than_the_claim_lasted(taxonomy, annotators):
    queue = make_queue()
    make_items(2)
    a = annotators[0]
    c = services.lease_claim(queue=queue, user=a)
    result = services.annotation_submit(claim_id=c.pk, user=a, data=In(seconds_spent=3600))
    assert 0 <= result.annotation.seconds_spent < 60
    c2 = services.lease_claim(queue=queue, user=a)
    from django.utils import timezone

    from annotation.models import Claim

    Claim.objects.filter(pk=c2.pk).update(created_at=timezone.now() - timezone.timedelta(seconds=40))
    result = services.annotation_submit(claim_id=c2.pk, user=a, data=In(seconds_spent=12.5))
    assert result.annotation.seconds_spent == 12.5
    assert QueueItem.objects.filter(state="open").count() == 2


def test_time_spent_is_capped_by_the_annotators_own_claim_not_an_earlier_one_on_the_item(taxonomy, annotators):
    from django.utils import timezone

    from annotation.models import Claim

    queue = make_queue(n=2)
    make_items(1)
    first, second = annotators[:2]
    early = services.lease_claim(queue=queue, user=first)
    Claim.objects.filter(pk=early.pk).update(created_at=timezone.now() - timezone.timedelta(hours=1))
    late = services.lease_claim(queue=queue, user=second)
    assert late.item_id == early.item_id
    result = services.annotation_submit(claim_id=late.pk, user=second, data=In(seconds_spent=1800))
    assert 0 <= result.annotation.seconds_spent < 60  # the other annotator's hour-old claim does not count


def test_a_decision_on_an_item_the_client_did_not_show_is_refused_and_nothing_written(taxonomy, annotators):
    """The client says which item it showed; a decision sent for another one (a key pressed twice, a stale
    page) is refused with a message naming both, and the claim, lease and counters stay as they were."""
    from annotation.models import Lease

    queue = make_queue(n=2)
    first, second = make_items(2)
    a = annotators[0]
    claim = services.lease_claim(queue=queue, user=a)
    assert claim.item_id == first.pk
    cases = [
        (In(shown_prompt_id=second.prompt_id), (second.prompt_id, first.prompt_id)),
        (In(shown_item_id=second.pk), (second.pk, first.pk)),
        (In(shown_prompt_id=first.prompt_id, shown_item_id=second.pk), (second.pk, first.pk)),
    ]
    for data, (shown, held) in cases:
        with pytest.raises(services.ShownItemMismatch) as exc, translation.override("en"):
            services.annotation_submit(claim_id=claim.pk, user=a, data=data)
        assert exc.value.code == "shown_mismatch"
        message = exc.value.message
        assert f"#{shown}," in message and f"#{held}." in message and "Nothing was saved" in message
    assert not Annotation.objects.exists()
    first.refresh_from_db()
    assert (first.submitted, first.leased) == (0, 1)
    assert Lease.objects.get(item=first, annotator=a).state == "active"
    # The item shown is the item held: it counts.
    ok = services.annotation_submit(claim_id=claim.pk, user=a,
                                    data=In(shown_prompt_id=first.prompt_id, shown_item_id=first.pk, severity=2))
    assert ok.status == "counted" and ok.annotation.prompt_id == first.prompt_id
    # A second submit through the claim (a revision) and a revision by annotation id are checked the same way.
    with pytest.raises(services.ShownItemMismatch):
        services.annotation_submit(claim_id=claim.pk, user=a, data=In(shown_prompt_id=second.prompt_id, severity=5))
    with pytest.raises(services.ShownItemMismatch):
        services.annotation_revise(annotation_id=ok.annotation.pk, user=a, data=In(shown_prompt_id=second.prompt_id))
    ok.annotation.refresh_from_db()
    assert (ok.annotation.severity, ok.annotation.revisions) == (2, 0)
