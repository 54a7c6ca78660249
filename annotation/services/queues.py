"""Review queues: create and edit them, and route candidate prompts into the matching one."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core.queue import task
from curation import services as curation_services
from curation.models import Dimension, Prompt, Taxonomy
from curation.text import find_unstorable

from .. import log_messages, selectors
from ..models import FREE_NOW, Lease, QueueItem, ReviewQueue
from .errors import AnnotationInvalid

log = logging.getLogger("annotation.services")

ROUTE_CHUNK = 5000


@dataclass
class QueueData:
    name: str
    taxonomy_id: int
    dimension_ids: Sequence[int] = ()
    annotators_per_item: int = 3
    lease_minutes: int = 20
    guidelines: str = ""
    member_ids: Sequence[int] = ()
    consensus_rule: str = ReviewQueue.ConsensusRule.UNANIMOUS
    is_active: bool = True


def _validate_queue(data: QueueData, queue: ReviewQueue | None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = data.name.strip() if isinstance(data.name, str) else ""
    if not name:
        errors["name"] = _("A queue needs a name.")
    elif (bad := find_unstorable(name)) is not None:
        errors["name"] = bad.message()
    elif ReviewQueue.objects.filter(name=name).exclude(pk=getattr(queue, "pk", None)).exists():
        errors["name"] = _("A queue with this name exists already.")
    if (bad := find_unstorable(data.guidelines)) is not None:
        errors["guidelines"] = bad.message()
    if not 1 <= int(data.annotators_per_item) <= 20:
        errors["annotators_per_item"] = _("Annotators per item must be between 1 and 20.")
    if int(data.lease_minutes) < 1:
        errors["lease_minutes"] = _("Leases last at least one minute.")
    # Unknown ids are the caller's mistake (400), not a foreign-key failure at commit (500).
    if not Taxonomy.objects.filter(pk=data.taxonomy_id).exists():
        errors["taxonomy"] = _("No taxonomy with this id.")
    members = set(data.member_ids)
    if get_user_model().objects.filter(pk__in=members).count() != len(members):
        errors["members"] = _("Pick existing users as members.")
    dims = list(Dimension.objects.filter(pk__in=list(data.dimension_ids)).values_list("pk", "taxonomy_id"))
    if len(dims) != len(set(data.dimension_ids)) or any(t != data.taxonomy_id for _pk, t in dims):
        errors["dimensions"] = _("Pick dimensions of the queue's taxonomy.")
    if data.consensus_rule not in ReviewQueue.ConsensusRule.values:
        errors["consensus_rule"] = _("Unknown consensus rule.")
    if queue is not None and queue.pk:
        started = Lease.objects.filter(item__queue=queue).exists()
        if started and int(data.annotators_per_item) < queue.annotators_per_item:
            errors["annotators_per_item"] = _(
                "Review has started: annotators per item can grow but not shrink. Create a new queue instead."
            )
        if started and data.taxonomy_id != queue.taxonomy_id:
            errors["taxonomy"] = _("Review has started: the taxonomy cannot change.")
    if errors:
        raise AnnotationInvalid(errors)
    return {
        "name": name,
        "taxonomy_id": data.taxonomy_id,
        "annotators_per_item": int(data.annotators_per_item),
        "lease_minutes": int(data.lease_minutes),
        "guidelines": data.guidelines,
        "consensus_rule": data.consensus_rule,
        "is_active": bool(data.is_active),
    }


@transaction.atomic
def queue_create(*, data: QueueData, actor) -> ReviewQueue:
    fields = _validate_queue(data, None)
    queue = ReviewQueue.objects.create(created_by=actor, **fields)
    queue.dimensions.set(data.dimension_ids)
    queue.members.set(data.member_ids)
    _route_queue_on_commit(queue.pk)
    return queue


@transaction.atomic
def queue_update(*, queue: ReviewQueue, data: QueueData, actor) -> ReviewQueue:
    queue = ReviewQueue.objects.select_for_update().get(pk=queue.pk)
    old_n = queue.annotators_per_item
    fields = _validate_queue(data, queue)
    for name, value in fields.items():
        setattr(queue, name, value)
    queue.save()
    queue.dimensions.set(data.dimension_ids)
    queue.members.set(data.member_ids)
    if queue.annotators_per_item > old_n:
        # Items that were full under the old N have free slots now.
        QueueItem.objects.filter(queue=queue, state=QueueItem.State.OPEN).alias(
            filled=F("submitted") + F("leased")
        ).filter(filled__lt=queue.annotators_per_item).update(free_at=FREE_NOW)
    _route_queue_on_commit(queue.pk)
    return queue


def _route_queue_on_commit(queue_id: int) -> None:
    route_queue_candidates = task("annotation.tasks.route_queue_candidates")

    transaction.on_commit(lambda: route_queue_candidates.delay(queue_id))


def queue_route_later(*, queue_id: int) -> None:
    """Route the queue's unrouted candidates in the worker (queued once the caller's transaction commits)."""
    _route_queue_on_commit(queue_id)


def _matching_queue(queues: list[tuple[int, int, frozenset[int]]], taxonomy_id: int, dimension_id: int) -> int | None:
    for qid, tax, dims in queues:
        if tax == taxonomy_id and (not dims or dimension_id in dims):
            return qid
    return None


def _active_queue_filters() -> list[tuple[int, int, frozenset[int]]]:
    dims: dict[int, set[int]] = defaultdict(set)
    for qid, did in ReviewQueue.dimensions.through.objects.filter(reviewqueue__is_active=True).values_list(
        "reviewqueue_id", "dimension_id"
    ):
        dims[qid].add(did)
    return [
        (qid, tax, frozenset(dims.get(qid, ())))
        for qid, tax in ReviewQueue.objects.filter(is_active=True).order_by("id").values_list("pk", "taxonomy_id")
    ]


@transaction.atomic
def queue_items_route(*, prompt_ids: Iterable[int], actor=None) -> int:
    """Put candidate prompts into the oldest active queue matching them and mark them in review.

    Prompts already in a queue, or no longer candidates, are left alone. Returns how many were routed.
    """
    prompt_ids = list(prompt_ids)
    queues = _active_queue_filters()
    if not queues or not prompt_ids:
        return 0
    # Locking the prompts first serialises this with any other router and with curation's own writes.
    rows = list(
        Prompt.objects.select_for_update(of=("self",))
        .filter(pk__in=prompt_ids, status=Prompt.Status.CANDIDATE)
        .values_list("pk", "dimension_id", "dimension__taxonomy_id")
        .order_by("pk")
    )
    taken = set(QueueItem.objects.filter(prompt_id__in=[r[0] for r in rows]).values_list("prompt_id", flat=True))
    by_queue: dict[int, list[int]] = defaultdict(list)
    for pk, dim, tax in rows:
        if pk in taken:
            continue
        qid = _matching_queue(queues, tax, dim)
        if qid is not None:
            by_queue[qid].append(pk)
    if not by_queue:
        return 0
    names = dict(ReviewQueue.objects.filter(pk__in=list(by_queue)).values_list("pk", "name"))
    routed = 0
    for qid, pks in by_queue.items():
        QueueItem.objects.bulk_create([QueueItem(queue_id=qid, prompt_id=pk) for pk in pks], batch_size=ROUTE_CHUNK)
        routed += curation_services.prompts_transition(
            prompt_ids=pks, to_status=Prompt.Status.IN_REVIEW, actor=actor,
            reason=log_messages.ENTERED_QUEUE % {"queue": names[qid]},
        )
    return routed


def intake_new_candidates(prompt_ids: list[int]) -> None:
    """curation's intake hook: runs after the creating transaction commits.

    A failure here must not undo the import that already committed: the prompts stay candidates and the
    queue page offers to route them again.
    """
    try:
        for start in range(0, len(prompt_ids), ROUTE_CHUNK):
            queue_items_route(prompt_ids=prompt_ids[start : start + ROUTE_CHUNK])
    except Exception:
        log.exception("routing %d new candidates into review queues failed", len(prompt_ids))


def queue_route_candidates(*, queue_id: int, chunk: int = ROUTE_CHUNK) -> int:
    """Route every unrouted candidate this queue matches, one short transaction per chunk."""
    queue = ReviewQueue.objects.get(pk=queue_id)
    if not queue.is_active:
        return 0
    total = 0
    last = 0
    while True:
        ids = list(
            selectors.queue_matching_candidates(queue=queue).filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return total
        total += queue_items_route(prompt_ids=ids)
        last = ids[-1]

