"""Reviews: an annotator's submit and revision of a claimed item, and the consensus that may follow."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import db
from curation import services as curation_services
from curation.models import Dimension, Prompt, SubDimension, Technique

from .. import consensus, labels, log_messages, selectors
from ..labels import AnnotationInput
from ..models import Annotation, Claim, Lease, QueueItem, ReviewQueue, SubmitStatus
from .claims import COUNTER_FIELDS, _lock_item, _sync_counters, _take_slot
from .errors import AnnotationError, AnnotationInvalid, NotAllowed, ShownItemMismatch


def _check_shown(data: AnnotationInput, *, item_id: int, prompt_id: int) -> None:
    """Refuse a decision the client made about an item other than the one this claim holds: a key pressed
    twice, or a stale page, must not decide an item nobody saw."""
    if data.shown_prompt_id is not None and data.shown_prompt_id != prompt_id:
        raise ShownItemMismatch(_(
            "This decision was made on prompt #%(shown)s, but the item you hold is prompt #%(held)s. "
            "Nothing was saved: look at the item shown and decide again."
        ) % {"shown": data.shown_prompt_id, "held": prompt_id})
    if data.shown_item_id is not None and data.shown_item_id != item_id:
        raise ShownItemMismatch(_(
            "This decision was made on queue item #%(shown)s, but the item you hold is queue item #%(held)s. "
            "Nothing was saved: look at the item shown and decide again."
        ) % {"shown": data.shown_item_id, "held": item_id})


# The choice labels' allowed values, as the pure check takes them.
_VOCABULARY = labels.Vocabulary(
    reject_reasons=frozenset(Annotation.RejectReason.values),
    other_reason=Annotation.RejectReason.OTHER,
    risk_expressions=frozenset(Prompt.RiskExpression.values),
    expected_behaviours=frozenset(Prompt.ExpectedBehaviour.values),
)


class _ItemCatalogue:
    """The taxonomy as the label check of one item sees it: the prompt's own dimension (loaded with the
    item) costs no query."""

    def __init__(self, item: QueueItem, current_techniques: list[int] | None):
        self.item = item
        self._current_techniques = current_techniques

    def dimension(self, dimension_id: Any) -> labels.DimensionFacts | None:
        prompt, taxonomy_id = self.item.prompt, self.item.queue.taxonomy_id
        if dimension_id == prompt.dimension_id and prompt.dimension.taxonomy_id == taxonomy_id:
            found = prompt.dimension  # the usual case: already loaded with the item
        else:
            found = Dimension.objects.filter(pk=dimension_id, taxonomy_id=taxonomy_id).first()
        return None if found is None else labels.DimensionFacts(found.pk, found.uses_reference_answers)

    def sub_dimension_belongs(self, sub_dimension_id: Any, dimension: labels.DimensionFacts) -> bool:
        return SubDimension.objects.filter(pk=sub_dimension_id, dimension_id=dimension.id).exists()

    def techniques_exist(self, technique_ids: Sequence[int]) -> bool:
        return Technique.objects.filter(pk__in=technique_ids).count() == len(technique_ids)

    def current_techniques(self) -> list[int]:
        if self._current_techniques is not None:
            return self._current_techniques
        return list(
            Prompt.techniques.through.objects.filter(prompt_id=self.item.prompt_id).values_list("technique_id", flat=True)
        )


def _current_labels(prompt: Prompt) -> labels.CurrentLabels:
    return labels.CurrentLabels(
        text=prompt.text,
        dimension_id=prompt.dimension_id,
        sub_dimension_id=prompt.sub_dimension_id,
        risk_expression=prompt.risk_expression,
        severity=prompt.severity,
        expected_behaviour=prompt.expected_behaviour,
        reference_answer=(prompt.reference_answers or [""])[0] if prompt.reference_answers else "",
    )


def _validated(
    item: QueueItem, data: AnnotationInput, current_techniques: list[int] | None = None
) -> tuple[dict[str, Any], list[int]]:
    """The annotation's fields and technique ids; `current_techniques`: the prompt's, when already read."""
    try:
        return labels.validate(
            data, current=_current_labels(item.prompt), catalogue=_ItemCatalogue(item, current_techniques),
            vocabulary=_VOCABULARY,
        )
    except labels.LabelsInvalid as exc:
        raise AnnotationInvalid(exc.errors) from None


def _seconds(reported: float | None, since, now) -> float:
    """Trust the page's own timer (it pauses while hidden) but never beyond the wall clock since claiming."""
    elapsed = max((now - since).total_seconds(), 0.0) if since else 0.0
    try:
        value = float(reported) if reported is not None else elapsed
    except (TypeError, ValueError):
        value = elapsed
    if value != value or value < 0:  # NaN or negative
        value = elapsed
    return round(min(value, elapsed + 5.0) if since else value, 1)


@dataclass
class SubmitResult:
    annotation: Annotation
    status: SubmitStatus
    item_state: str

    @property
    def is_surplus(self) -> bool:
        return self.annotation.is_surplus


_LOCK_CLAIMED_SQL = """
SELECT c.created_at, {prompt_techniques},
       {item}, {queue}, {prompt}, {dimension}
FROM {claim_table} c
JOIN {item_table} i ON i.id = c.item_id
JOIN {queue_table} q ON q.id = i.queue_id
JOIN {prompt_table} p ON p.id = i.prompt_id
JOIN {dimension_table} d ON d.id = p.dimension_id
WHERE c.id = %s AND c.annotator_id = %s
FOR NO KEY UPDATE OF i
"""
# After the claim's time and the prompt's technique ids: the item, and of its queue and prompt what a submit
# and the consensus rule read (the guidelines, the prompt's provenance and the like stay deferred).
_LOCK_SLICES = db.Slices(
    (
        (QueueItem, ("id", "queue_id", "prompt_id", "state", "adjudication_reason", "adjudication_note", "submitted",
                     "leased", "free_at", "outcome", "decided_by_id")),
        (ReviewQueue, ("id", "name", "taxonomy_id", "annotators_per_item", "lease_minutes", "consensus_rule", "is_active")),
        (Prompt, ("id", "text", "dimension_id", "sub_dimension_id", "risk_expression", "severity", "expected_behaviour",
                  "reference_answers")),
        Dimension,
    ),
    lead=2,
)


@functools.cache
def _lock_claimed_sql() -> tuple[str, str]:
    """The lock statement and the leases statement."""
    item_m, queue_m, prompt_m, dimension_m = _LOCK_SLICES.models
    item, queue, prompt, dimension = _LOCK_SLICES.columns("i", "q", "p", "d")
    lock = _LOCK_CLAIMED_SQL.format(
        prompt_techniques=db.related_ids(Prompt, "techniques", "i.prompt_id"),
        item=item, queue=queue, prompt=prompt, dimension=dimension, claim_table=Claim._meta.db_table,
        item_table=item_m._meta.db_table, queue_table=queue_m._meta.db_table, prompt_table=prompt_m._meta.db_table,
        dimension_table=dimension_m._meta.db_table,
    )
    leases = f"SELECT {db.columns('l', Lease, _LEASE_FIELDS)} FROM {Lease._meta.db_table} l WHERE l.item_id = %s"
    return db.compact(lock), leases


_LEASE_FIELDS = ("id", "item_id", "annotator_id", "slot", "state", "expires_at")  # what a submit reads of them


def _lock_claimed_item(claim_id: int, user) -> tuple[QueueItem, list[Lease], list[int] | None] | None:
    """The user's claimed item, locked, with its queue, prompt and dimension loaded, the time of this claim
    (`item.claimed_at`), every lease of the item and, on PostgreSQL, the prompt's technique ids. None when
    the claim is not the user's. On PostgreSQL written out (it runs on every submit): two statements where
    the ORM takes three. The leases are read by a statement of their own, after the lock is held: a
    statement that waited for the lock sees the locked row as it is now, but the rows it joins as they were
    when it started."""
    if not db.fast_path():
        item = (
            QueueItem.objects.select_for_update(no_key=True, of=("self",))
            .select_related("queue", "prompt__dimension")
            .filter(claims__pk=claim_id, claims__annotator_id=user.pk)
            .annotate(claimed_at=F("claims__created_at"))  # after the filter: the same join, so this claim's time
            .first()
        )
        return None if item is None else (item, list(Lease.objects.filter(item=item)), None)
    lock_sql, leases_sql = _lock_claimed_sql()
    with connection.cursor() as cursor:
        cursor.execute(lock_sql, [claim_id, user.pk])
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(leases_sql, [row[2]])
        lease_rows = cursor.fetchall()
    item, queue, prompt, dimension = _LOCK_SLICES.split(row)
    prompt.dimension = dimension
    item.queue = queue
    item.prompt = prompt
    item.claimed_at = row[0]
    leases = [db.instance(Lease, values, _LEASE_FIELDS) for values in lease_rows]
    for lease in leases:
        lease.item = item
    return item, leases, list(row[1])


@transaction.atomic
def annotation_submit(*, claim_id: int, user, data: AnnotationInput) -> SubmitResult:
    """Store the user's review of a claimed item. Never drops it: late submits take a slot if one is
    free, otherwise they are kept as surplus. A second submit for the same item revises the first."""
    found = _lock_claimed_item(claim_id, user)
    if found is None:
        raise NotAllowed(_("This is not your claim."))
    item, leases, current_techniques = found
    _check_shown(data, item_id=item.pk, prompt_id=item.prompt_id)
    claim = Claim(pk=claim_id, item_id=item.pk, annotator=user, created_at=item.claimed_at)
    own = next((le for le in leases if le.annotator_id == user.pk), None)
    # Every annotation leaves its author a submitted or surplus lease row: only then is this a revision.
    if own is not None and own.state in (Lease.State.SUBMITTED, Lease.State.SURPLUS):
        existing = Annotation.objects.filter(prompt_id=item.prompt_id, annotator_id=user.pk).first()
        if existing is not None:
            return _revise(item, existing, data, user)
    fields, technique_ids = _validated(item, data, current_techniques)
    now = timezone.now()
    status = SubmitStatus.COUNTED
    # The usual submit's three writes (its lease, the annotation, the item's counters) go out together.
    writes = db.Writes()
    if own is not None and own.state == Lease.State.ACTIVE:
        if own.expires_at <= now:
            status = SubmitStatus.LATE
        own.state = Lease.State.SUBMITTED
        own.expires_at = None
        writes.update(own, ["state", "expires_at", "updated_at"])
        lease = own
    else:
        lease = None
        if item.state == QueueItem.State.OPEN:
            if own is not None:  # a skipped row: the user changes their mind and submits after all
                own.delete()
                leases.remove(own)
                own = None  # gone: with no slot left, the review is kept under a new surplus row
            lease = _take_slot(item, leases, user, now, state=Lease.State.SUBMITTED, expires_at=None)
            status = SubmitStatus.LATE
        if lease is None:
            status = SubmitStatus.SURPLUS
            if own is not None:
                own.state = Lease.State.SURPLUS
                own.slot = None
                own.expires_at = None
                own.save(update_fields=["state", "slot", "expires_at", "updated_at"])
            else:
                Lease.objects.create(item=item, annotator=user, slot=None, state=Lease.State.SURPLUS, claimed_at=claim.created_at)
    fields["seconds_spent"] = _seconds(fields["seconds_spent"], claim.created_at, now)
    annotation = Annotation(
        queue_id=item.queue_id, prompt_id=item.prompt_id, annotator=user, is_surplus=status == SubmitStatus.SURPLUS, **fields
    )
    writes.insert(annotation)
    decides = False
    if status != SubmitStatus.SURPLUS:
        _sync_counters(item, leases, item.queue.annotators_per_item)
        decides = item.state == QueueItem.State.OPEN and item.submitted >= item.queue.annotators_per_item
        if not decides:
            writes.update(item, COUNTER_FIELDS)
    writes.flush()
    if technique_ids:
        annotation.techniques.set(technique_ids)
    else:  # known to be none: whoever shows the annotation next need not ask the database
        selectors.give_techniques(annotation, [], [])
    if decides:
        _evaluate(item, actor=None, also=COUNTER_FIELDS)  # the counters go in the same UPDATE as the outcome
    return SubmitResult(annotation=annotation, status=status, item_state=item.state)


def _revise(item: QueueItem, annotation: Annotation, data: AnnotationInput, user) -> SubmitResult:
    if item.state == QueueItem.State.DECIDED:
        raise AnnotationError(_("This item has been decided; its annotations can no longer change."), code="conflict")
    fields, technique_ids = _validated(item, data)
    extra = fields.pop("seconds_spent")
    for name, value in fields.items():
        setattr(annotation, name, value)
    if extra is not None:
        try:
            annotation.seconds_spent = round(annotation.seconds_spent + max(float(extra), 0.0), 1)
        except (TypeError, ValueError):
            pass
    annotation.revisions += 1
    annotation.save()
    annotation.techniques.set(technique_ids)
    if (
        item.state == QueueItem.State.ADJUDICATION
        and item.adjudication_reason != QueueItem.AdjudicationReason.REOPENED
        and not annotation.is_surplus
    ):
        _evaluate(item, actor=None)
    return SubmitResult(annotation=annotation, status=SubmitStatus.REVISED, item_state=item.state)


@transaction.atomic
def annotation_revise(*, annotation_id: int, user, data: AnnotationInput) -> SubmitResult:
    annotation = Annotation.objects.filter(pk=annotation_id, annotator_id=user.pk).first()
    if annotation is None:
        raise NotAllowed(_("This is not your annotation."))
    item = QueueItem.objects.filter(prompt_id=annotation.prompt_id).values_list("pk", flat=True).first()
    _check_shown(data, item_id=item, prompt_id=annotation.prompt_id)
    locked = _lock_item(item)
    annotation.refresh_from_db()
    return _revise(locked, annotation, data, user)



# ----------------------------------------------------------------------------- consensus


def _votes(annotations: Sequence[Annotation]) -> list[consensus.Vote]:
    return [
        consensus.Vote(
            annotator=a.annotator_id,
            decision=a.decision,
            text=a.final_text,
            dimension_id=a.dimension_id,
            sub_dimension_id=a.sub_dimension_id,
            technique_ids=frozenset(t.pk for t in selectors.techniques_of(a)),
            risk_expression=a.risk_expression,
            severity=a.severity,
            expected_behaviour=a.expected_behaviour,
            reference_answer=a.reference_answer,
            reject_reason=a.reject_reason,
        )
        for a in annotations
    ]


def review_summary(item: QueueItem, annotations: Sequence[Annotation], *, outcome: str, by: str, explanation: str) -> dict:
    counted = [a for a in annotations if not a.is_surplus]
    decisions = [a.decision for a in counted]
    return {
        "queue": item.queue.name,
        "queue_id": item.queue_id,
        "rule": item.queue.consensus_rule,
        "outcome": outcome,
        "decided_by": by,
        "explanation": explanation,
        "counts": {d: decisions.count(d) for d in Annotation.Decision.values},
        "surplus": len(annotations) - len(counted),
        "annotations": [
            {
                "annotator": a.annotator.get_username(),
                "decision": a.decision,
                "reject_reason": a.reject_reason,
                "edited": a.final_text != item.prompt.text,
                "dimension_id": a.dimension_id,
                "sub_dimension_id": a.sub_dimension_id,
                "techniques": sorted(t.code for t in selectors.techniques_of(a)),
                "risk_expression": a.risk_expression,
                "severity": a.severity,
                "expected_behaviour": a.expected_behaviour,
                "surplus": a.is_surplus,
            }
            for a in annotations
        ],
    }


def _final_for_prompt(final: dict, dimension_uses_reference: bool) -> tuple[dict, list[int]]:
    out = {
        "text": final["text"],
        "dimension_id": final["dimension_id"],
        "sub_dimension_id": final["sub_dimension_id"],
        "risk_expression": final["risk_expression"],
        "severity": final["severity"],
        "expected_behaviour": final["expected_behaviour"],
    }
    if dimension_uses_reference and final.get("reference_answer"):
        out["reference_answers"] = [final["reference_answer"]]
    return out, sorted(final["technique_ids"])


def _uses_reference(item: QueueItem, dimension_id: int) -> bool:
    if dimension_id == item.prompt.dimension_id:
        return item.prompt.dimension.uses_reference_answers
    return Dimension.objects.filter(pk=dimension_id, uses_reference_answers=True).exists()


_ANNOTATIONS_SQL = """
SELECT {annotation}, u."{user_pk}", u."{username}", {techniques}
FROM {annotation_table} a
JOIN {user_table} u ON u."{user_pk}" = a.annotator_id
WHERE a.prompt_id = %s
ORDER BY a.submitted_at DESC, a.id DESC
"""


@functools.cache
def _annotations_sql() -> str:
    user = Annotation.annotator.field.related_model
    return db.compact(_ANNOTATIONS_SQL.format(
        annotation=db.columns("a", Annotation), annotation_table=Annotation._meta.db_table,
        user_table=user._meta.db_table, user_pk=user._meta.pk.column,
        username=user._meta.get_field(user.USERNAME_FIELD).column,
        techniques=selectors.technique_arrays(Annotation, "a.id"),
    ))


def _annotations_for_rule(item: QueueItem) -> list[Annotation]:
    """Every annotation of the item's prompt, newest first, with its author (id and username) and its
    techniques (id and code): what the rule and the review summary read. On PostgreSQL one statement
    (it runs on every N-th submit) where the ORM takes two."""
    if not db.fast_path():
        return list(
            Annotation.objects.filter(prompt_id=item.prompt_id).select_related("annotator").prefetch_related("techniques")
        )
    with connection.cursor() as cursor:
        cursor.execute(_annotations_sql(), [item.prompt_id])
        rows = cursor.fetchall()
    user_model = Annotation.annotator.field.related_model
    user_names = [user_model._meta.pk.attname, user_model.USERNAME_FIELD]
    width = len(Annotation._meta.concrete_fields)
    annotations = []
    for row in rows:
        annotation = db.instance(Annotation, row[:width])
        annotation.annotator = user_model.from_db(connection.alias, user_names, row[width:width + 2])
        selectors.give_techniques(annotation, row[-2], row[-1])
        annotations.append(annotation)
    return annotations


def _evaluate(item: QueueItem, *, actor, also: Sequence[str] = ()) -> None:
    """Apply the queue's rule to the item's N annotations: decide through curation, or ask a maintainer.
    Saves the item's outcome fields and `also` these."""
    annotations = _annotations_for_rule(item)
    counted = [a for a in annotations if not a.is_surplus]
    outcome = consensus.evaluate(item.queue.consensus_rule, _votes(counted))
    agreement = consensus.pair_agreement([a.decision for a in counted])
    now = timezone.now()
    if outcome.decision is not None:
        final = technique_ids = None
        if outcome.decision == consensus.APPROVED:
            final, technique_ids = _final_for_prompt(outcome.final, _uses_reference(item, outcome.final["dimension_id"]))
        summary = review_summary(item, annotations, outcome=outcome.decision, by="consensus", explanation=outcome.explanation)
        try:
            # prompt_decide is atomic itself: a refusal rolls back to its own savepoint and leaves ours usable.
            curation_services.prompt_decide(
                prompt_id=item.prompt_id,
                decision=outcome.decision,
                actor=actor,
                reason=log_messages.CONSENSUS_IN % {"queue": item.queue.name, "explanation": outcome.explanation},
                final=final,
                technique_ids=technique_ids,
                review_summary=summary,
                agreement=agreement,
            )
        except (curation_services.TransitionError, ValueError) as exc:
            item.state = QueueItem.State.ADJUDICATION
            item.adjudication_reason = QueueItem.AdjudicationReason.DECIDE_FAILED
            item.adjudication_note = str(exc)
        else:
            item.state = QueueItem.State.DECIDED
            item.outcome = outcome.decision
            item.decided_at = now
            item.decided_by = None
            item.adjudication_reason = ""
            item.adjudication_note = ""
    else:
        item.state = QueueItem.State.ADJUDICATION
        item.adjudication_reason = QueueItem.AdjudicationReason.DISAGREEMENT
        item.adjudication_note = outcome.explanation
    item.free_at = None
    outcome_fields = ("state", "outcome", "decided_at", "decided_by", "adjudication_reason", "adjudication_note", "free_at", "updated_at")
    item.save(update_fields=list(dict.fromkeys((*outcome_fields, *also))))


