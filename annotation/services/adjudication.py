"""Adjudication: a maintainer settles an item the annotators did not agree on, or reopens a decided one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from curation import services as curation_services
from curation.models import Dimension, Prompt
from curation.text import find_unstorable

from .. import consensus, labels, log_messages
from ..labels import AnnotationInput
from ..models import Annotation, QueueItem
from .claims import _lock_item
from .errors import AnnotationError, AnnotationInvalid
from .reviews import _final_for_prompt, _validated, review_summary


@dataclass
class FinalLabels:
    text: str
    dimension_id: int
    sub_dimension_id: int | None = None
    technique_ids: Sequence[int] = ()
    risk_expression: str = ""
    severity: int | None = None
    expected_behaviour: str = ""
    reference_answer: str = ""

    @classmethod
    def from_input(cls, data: AnnotationInput) -> FinalLabels:
        """The final labels as a form that shows every field sends them."""
        return cls(
            text=data.final_text,
            dimension_id=data.dimension_id,
            sub_dimension_id=data.sub_dimension_id,
            technique_ids=data.technique_ids,
            risk_expression=data.risk_expression,
            severity=data.severity,
            expected_behaviour=data.expected_behaviour,
            reference_answer=data.reference_answer,
        )


# What an adjudicator may change of the base labels (names as the API takes them) and the label each sets.
_CHANGES = {
    "final_text": "text",
    "dimension": "dimension_id",
    "risk_expression": "risk_expression",
    "severity": "severity",
    "expected_behaviour": "expected_behaviour",
    "reference_answer": "reference_answer",
}


def final_labels_from(
    *, item: QueueItem, annotation_id: int | None = None, changes: Mapping[str, Any] | None = None
) -> FinalLabels | None:
    """The text and labels of one of the item's annotations (or, without one, the prompt's current ones),
    with `changes` applied (keyed as the API takes them; a None value changes nothing). A dimension changed
    from the prompt's drops the sub-dimension unless one is given. None when `annotation_id` is not one of
    the item's annotations."""
    base = _base_labels(item, annotation_id)
    if base is None or not changes:
        return base
    for name, label in _CHANGES.items():
        if changes.get(name) is not None:
            setattr(base, label, changes[name])
    base.sub_dimension_id = labels.changed_dimension_drops_sub_dimension(
        base_sub_dimension_id=base.sub_dimension_id,
        dimension_given="dimension" in changes, dimension_id=changes.get("dimension"),
        current_dimension_id=item.prompt.dimension_id,
        sub_dimension_given="sub_dimension" in changes, sub_dimension_id=changes.get("sub_dimension"),
    )
    if "techniques" in changes:
        base.technique_ids = changes["techniques"]
    return base


def _base_labels(item: QueueItem, annotation_id: int | None) -> FinalLabels | None:
    if annotation_id is None:
        p = item.prompt
        return FinalLabels(
            text=p.text,
            dimension_id=p.dimension_id,
            sub_dimension_id=p.sub_dimension_id,
            technique_ids=list(p.techniques.values_list("pk", flat=True)),
            risk_expression=p.risk_expression,
            severity=p.severity,
            expected_behaviour=p.expected_behaviour,
            reference_answer=(p.reference_answers or [""])[0],
        )
    a = Annotation.objects.filter(pk=annotation_id, prompt_id=item.prompt_id).first()
    if a is None:
        return None
    return FinalLabels(
        text=a.final_text,
        dimension_id=a.dimension_id or item.prompt.dimension_id,
        sub_dimension_id=a.sub_dimension_id,
        technique_ids=list(a.techniques.values_list("pk", flat=True)),
        risk_expression=a.risk_expression,
        severity=a.severity,
        expected_behaviour=a.expected_behaviour,
        reference_answer=a.reference_answer,
    )


@transaction.atomic
def item_adjudicate(
    *, item_id: int, actor, decision: str, reason: str, final: FinalLabels | None = None
) -> QueueItem:
    """A maintainer settles an item in adjudication: approve with final text and labels, or reject."""
    item = _lock_item(item_id)
    if item.state != QueueItem.State.ADJUDICATION:
        raise AnnotationError(_("This item is not waiting for adjudication."), code="conflict")
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = _("Give a reason; it is logged.")
    elif (bad := find_unstorable(reason)) is not None:
        errors["reason"] = bad.message()
    if decision not in (Prompt.Status.APPROVED, Prompt.Status.REJECTED):
        errors["decision"] = _("Approve or reject.")
    final_fields = technique_ids = None
    if decision == Prompt.Status.APPROVED and not errors:
        if final is None:
            errors["final_text"] = _("Approving needs the final text and labels.")
        else:
            data = AnnotationInput(
                decision=Annotation.Decision.EDIT,
                final_text=final.text,
                dimension_id=final.dimension_id,
                sub_dimension_id=final.sub_dimension_id,
                technique_ids=list(final.technique_ids),
                risk_expression=final.risk_expression,
                severity=final.severity,
                expected_behaviour=final.expected_behaviour,
                reference_answer=final.reference_answer,
            )
            try:
                fields, technique_ids = _validated(item, data)
            except AnnotationInvalid as exc:
                errors.update(exc.errors)
            else:
                uses_ref = Dimension.objects.filter(pk=fields["dimension_id"], uses_reference_answers=True).exists()
                final_fields, technique_ids = _final_for_prompt(
                    {**fields, "text": fields["final_text"], "technique_ids": technique_ids}, uses_ref
                )
    if errors:
        raise AnnotationInvalid(errors)
    annotations = list(
        Annotation.objects.filter(prompt_id=item.prompt_id).select_related("annotator").prefetch_related("techniques")
    )
    counted = [a for a in annotations if not a.is_surplus]
    summary = review_summary(item, annotations, outcome=decision, by="adjudication", explanation=reason)
    summary["adjudicator"] = actor.get_username()
    try:
        curation_services.prompt_decide(
            prompt_id=item.prompt_id,
            decision=decision,
            actor=actor,
            reason=log_messages.ADJUDICATED % {"reason": reason},
            final=final_fields,
            technique_ids=technique_ids,
            review_summary=summary,
            agreement=consensus.pair_agreement([a.decision for a in counted]),
        )
    except curation_services.TransitionError as exc:
        raise AnnotationError(str(exc), code="conflict")
    item.state = QueueItem.State.DECIDED
    item.outcome = decision
    item.decided_by = actor
    item.decided_at = timezone.now()
    item.save(update_fields=["state", "outcome", "decided_by", "decided_at", "updated_at"])
    return item


@transaction.atomic
def item_reopen(*, item_id: int, actor, reason: str) -> QueueItem:
    """Send a decided item back for adjudication; the prompt returns to in_review with the reason logged."""
    item = _lock_item(item_id)
    reason = (reason or "").strip()
    if item.state != QueueItem.State.DECIDED:
        raise AnnotationError(_("Only a decided item can be reopened."), code="conflict")
    if not reason:
        raise AnnotationInvalid({"reason": _("Give a reason; it is logged.")})
    if (bad := find_unstorable(reason)) is not None:
        raise AnnotationInvalid({"reason": bad.message()})
    curation_services.prompt_reopen(
        prompt_id=item.prompt_id, actor=actor, reason=log_messages.REOPENED % {"reason": reason}
    )
    item.state = QueueItem.State.ADJUDICATION
    item.adjudication_reason = QueueItem.AdjudicationReason.REOPENED
    item.adjudication_note = reason
    item.outcome = ""
    item.save(update_fields=["state", "adjudication_reason", "adjudication_note", "outcome", "updated_at"])
    return item
