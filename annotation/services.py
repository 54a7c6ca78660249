"""Every write to annotation's tables: queues, routing, claims, submissions, consensus, adjudication.

Lock order, everywhere: the QueueItem row first (FOR NO KEY UPDATE), then its leases. The claim takes
item rows with SKIP LOCKED, so a claimer never waits behind another claim or a submit.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from core.queue import task
from curation import services as curation_services
from curation import sqlrows
from curation.models import Dimension, Prompt, SubDimension, Taxonomy, Technique
from curation.text import find_unstorable

from . import consensus, log_messages, selectors
from .models import FREE_NOW, MAX_ANNOTATORS_PER_ITEM, Annotation, Claim, Lease, QueueItem, ReviewQueue

log = logging.getLogger(__name__)

ROUTE_CHUNK = 5000


class AnnotationError(Exception):
    """A refusal the user should read (already translated)."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


class NotAllowed(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="forbidden")


class QueueBusy(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="busy")


class LeaseLost(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="lease_lost")


class AnnotationInvalid(AnnotationError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# ----------------------------------------------------------------------------- queues


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


# ----------------------------------------------------------------------------- leases


def _sync_counters(item: QueueItem, leases: Iterable[Lease], n: int) -> None:
    """Recompute an item's denormalised counters from its lease rows (caller holds the item lock)."""
    active = [le for le in leases if le.state == Lease.State.ACTIVE]
    submitted = sum(1 for le in leases if le.state == Lease.State.SUBMITTED)
    item.submitted = submitted
    item.leased = len(active)
    if submitted + len(active) < n:
        item.free_at = FREE_NOW
    elif active:
        item.free_at = min(le.expires_at for le in active)
    else:
        item.free_at = None


COUNTER_FIELDS = ("submitted", "leased", "free_at", "updated_at")


def _save_counters(item: QueueItem, *extra: str) -> None:
    item.save(update_fields=[*COUNTER_FIELDS, *extra])


def _lock_item(item_id: int) -> QueueItem:
    return (
        QueueItem.objects.select_for_update(no_key=True, of=("self",))
        .select_related("queue", "prompt__dimension")
        .get(pk=item_id)
    )


def _take_slot(item: QueueItem, leases: list[Lease], user, now, *, state: str, expires_at) -> Lease | None:
    """Give `user` a free slot of `item`: an unused number, else an expired lease taken over in place."""
    n = item.queue.annotators_per_item
    used = {le.slot for le in leases if le.slot is not None}
    if len(used) < n:
        slot = min(set(range(1, n + 1)) - used)
        lease = Lease.objects.create(
            item=item, annotator=user, slot=slot, state=state, claimed_at=now, expires_at=expires_at, heartbeat_at=now
        )
        leases.append(lease)
        return lease
    expired = [le for le in leases if le.state == Lease.State.ACTIVE and le.expires_at <= now]
    if not expired:
        return None
    lease = min(expired, key=lambda le: (le.expires_at, le.slot))
    lease.annotator = user
    lease.state = state
    lease.claimed_at = now
    lease.expires_at = expires_at
    lease.heartbeat_at = now
    lease.save(update_fields=["annotator", "state", "claimed_at", "expires_at", "heartbeat_at", "updated_at"])
    return lease


def _candidate_items(queue_id: int, user, now):
    mine = Lease.objects.filter(item_id=OuterRef("pk"), annotator_id=user.pk)
    return (
        QueueItem.objects.filter(queue_id=queue_id, state=QueueItem.State.OPEN, free_at__lte=now)
        .exclude(Exists(mine))
        .order_by("-submitted", "id")
    )


def _resume(queue: ReviewQueue, user, now) -> Claim | None:
    """The user's own unfinished lease in this queue, renewed, with its latest claim."""
    own = (
        Lease.objects.filter(annotator_id=user.pk, state=Lease.State.ACTIVE, item__queue_id=queue.pk)
        .values_list("pk", "item_id")
        .first()
    )
    if own is None:
        return None
    lease_id, item_id = own
    item = _lock_item(item_id)
    lease = Lease.objects.filter(pk=lease_id, annotator_id=user.pk, state=Lease.State.ACTIVE).first()
    if lease is None:  # taken over between the two reads
        return None
    lease.expires_at = now + timedelta(minutes=queue.lease_minutes)
    lease.heartbeat_at = now
    lease.save(update_fields=["expires_at", "heartbeat_at", "updated_at"])
    _sync_counters(item, list(Lease.objects.filter(item=item)), queue.annotators_per_item)
    _save_counters(item)
    claim = Claim.objects.filter(lease_id=lease.pk, annotator_id=user.pk).order_by("-id").first()
    return claim or Claim.objects.create(item=item, annotator=user, lease=lease, created_at=now)


# The queue as a claim needs it: its row, whether it has members, whether the user is one, whether the
# user already holds a lease in it. The first part of the claim statement, and the ORM path's own query.
_QUEUE_FOR_CLAIM = """
SELECT q.*,
       EXISTS (SELECT 1 FROM {members} m WHERE m.reviewqueue_id = q.id) AS has_members,
       EXISTS (SELECT 1 FROM {members} m WHERE m.reviewqueue_id = q.id AND m.user_id = %(user)s) AS is_member,
       EXISTS (SELECT 1 FROM {lease} l JOIN {item} i ON i.id = l.item_id
               WHERE l.annotator_id = %(user)s AND l.state = 'active' AND i.queue_id = q.id) AS holds_lease
FROM {queue} q WHERE q.id = %(queue)s
"""


@functools.cache
def _queue_for_claim_sql() -> str:
    return _QUEUE_FOR_CLAIM.format(
        members=ReviewQueue.members.through._meta.db_table, lease=Lease._meta.db_table,
        item=QueueItem._meta.db_table, queue=ReviewQueue._meta.db_table,
    )


# The claim on PostgreSQL in one statement: check the queue (it exists, is active, is open to the user,
# who holds no lease in it yet: one to renew goes the ORM way), pick and lock the best item (SKIP LOCKED),
# take a free slot number or an expired lease in place, bring the item's counters up to date, log the
# claim. One round trip: under load every trip to the database is a wait for a core. The counters are
# computed from the lease rows as they were plus the one change this statement makes.
# A statement reads every table as it was when the statement started, but locks the item row as it is when
# it gets there: a submit that committed in between (it changes the item row too, in the same transaction)
# would leave this statement looking at leases that are no longer true, and taking over a lease just
# submitted. So the slot is only taken when the locked item row is the very version the statement started
# with (same xmin); otherwise nothing is written and the statement runs again, with a new snapshot.
# The statement is prepared once per connection and then runs on a generic plan, made without the
# parameters' values: so the slot numbers come from a constant range (a plan knows it holds 20 rows, not
# "some"), and the item's leases are looked up one (item, slot) probe at a time (LATERAL … LIMIT 1), a
# plan that stays right whatever the table's statistics say; joined, they could turn into a hash of every
# lease in the table.
_CLAIM_SQL = """
WITH q AS ({queue_check}), go AS (
    SELECT annotators_per_item AS n, %(now)s + make_interval(mins => lease_minutes) AS expires
    FROM q WHERE is_active AND (is_member OR NOT has_members) AND NOT holds_lease
), cand AS (
    SELECT i.id, i.xmin AS version FROM {source}
    WHERE EXISTS (SELECT 1 FROM go) AND i.queue_id = %(queue)s AND i.state = 'open' AND i.free_at <= %(now)s {scope}
      AND NOT EXISTS (SELECT 1 FROM annotation_lease m WHERE m.item_id = i.id AND m.annotator_id = %(user)s)
    ORDER BY {order}
    LIMIT 1
    FOR NO KEY UPDATE OF i SKIP LOCKED
), slot AS (
    SELECT c.id AS item_id, s.n AS slot, l.id AS lease_id
    FROM cand c
    CROSS JOIN generate_series(1, {max_n}) AS s(n)
    LEFT JOIN LATERAL (
        SELECT x.id, x.state, x.expires_at FROM annotation_lease x WHERE x.item_id = c.id AND x.slot = s.n LIMIT 1
    ) l ON true
    WHERE s.n <= (SELECT n FROM go) AND (l.id IS NULL OR (l.state = 'active' AND l.expires_at <= %(now)s))
      AND c.version = (SELECT v.xmin FROM annotation_queueitem v WHERE v.id = c.id)
    ORDER BY (l.id IS NULL) DESC, l.expires_at, s.n
    LIMIT 1
), ins AS (
    INSERT INTO annotation_lease (item_id, annotator_id, slot, state, claimed_at, expires_at, heartbeat_at, updated_at)
    SELECT item_id, %(user)s, slot, 'active', %(now)s, (SELECT expires FROM go), %(now)s, %(now)s FROM slot
    WHERE lease_id IS NULL
    RETURNING id, item_id
), upd AS (
    UPDATE annotation_lease l
    SET annotator_id = %(user)s, state = 'active', claimed_at = %(now)s, expires_at = (SELECT expires FROM go),
        heartbeat_at = %(now)s, updated_at = %(now)s
    FROM slot s  -- the expired lease found above, taken over in place (still expired: checked again)
    WHERE l.item_id = s.item_id AND l.slot = s.slot AND l.id = s.lease_id
      AND l.state = 'active' AND l.expires_at <= %(now)s
    RETURNING l.id, l.item_id
), got AS (
    SELECT id, item_id FROM ins UNION ALL SELECT id, item_id FROM upd
), stats AS (
    SELECT s.item_id,
           count(l.id) FILTER (WHERE l.state = 'submitted') AS submitted,
           count(l.id) FILTER (WHERE l.state = 'active' AND l.id IS DISTINCT FROM s.lease_id) + 1 AS leased,
           min(l.expires_at) FILTER (WHERE l.state = 'active' AND l.id IS DISTINCT FROM s.lease_id) AS other_expiry
    FROM slot s LEFT JOIN annotation_lease l ON l.item_id = s.item_id
    GROUP BY s.item_id, s.lease_id
), counters AS (
    UPDATE annotation_queueitem i
    SET submitted = st.submitted, leased = st.leased, updated_at = %(now)s,
        free_at = CASE WHEN st.submitted + st.leased < (SELECT n FROM go) THEN %(free_now)s
                       ELSE LEAST(st.other_expiry, (SELECT expires FROM go)) END
    FROM stats st WHERE i.id = st.item_id
    RETURNING i.id
), logged AS (
    INSERT INTO annotation_claim (item_id, annotator_id, lease_id, created_at)
    SELECT item_id, %(user)s, id, %(now)s FROM got
    RETURNING id, item_id, lease_id
)
SELECT (SELECT id FROM cand), logged.id, logged.item_id, logged.lease_id,
       (SELECT c.version = (SELECT v.xmin FROM annotation_queueitem v WHERE v.id = c.id) FROM cand c),
       (SELECT count(*) FROM counters), set_config('synchronous_commit', 'off', true),
       q.id, q.is_active, q.is_member OR NOT q.has_members, q.holds_lease,
       (SELECT expires FROM go){view}
FROM (SELECT 1) AS one LEFT JOIN logged ON true LEFT JOIN q ON true{view_joins}
"""

# Every item a user has reviewed stays open until the others have too, and sits at the head of the
# "closest to completion" order, where the claim would step over it row by row: an annotator working
# ahead of the rest would make each of their claims slower than the last. So the claim looks in passes,
# each over index ranges, and stops at the first that finds an item:
#   1. the CLAIM_WINDOW most complete claimable items (the rule as stated, in the usual case), followed
#      by the CLAIM_WINDOW oldest items nobody has submitted yet (for a user who has reviewed every item
#      of the first window; they can have touched only those of the second they skipped): one
#      statement, two short index ranges;
#   2. all items nobody has submitted yet, written `submitted <= 0` (counters are never negative),
#      because with `= 0` the planner sees the order as plain `id` and may walk the primary key through
#      every other queue's items instead of this index range;
#   3. everything (only when both found nothing: the end of the queue).
CLAIM_WINDOW = 64
_ITEMS = "annotation_queueitem i"
_RULE = "i.submitted DESC, i.id"
# The windows are read first (index ranges of CLAIM_WINDOW rows, kept in their order; a constant, so the
# generic plan knows the size too) and then joined by primary key, so no plan can turn them back into a
# walk over the whole queue. An item in both windows is simply looked at twice. They compare free_at with
# the database's clock, now(), whose value the planner sees even when making a generic plan (a parameter's
# it does not): so that plan, too, expects short ranges. The exact test, against the claim's own time, is
# the candidate filter.
_WINDOW_RANGE = (
    "ARRAY(SELECT w.id FROM annotation_queueitem w WHERE w.queue_id = %(queue)s AND w.state = 'open' {scope}"
    "AND w.free_at <= now() ORDER BY w.submitted DESC, w.id LIMIT {window})"
)


@functools.cache
def claim_passes(window: int, with_prompt: bool) -> tuple[str, str, str]:
    """The claim statement of each pass, for a window of `window` items; `with_prompt`: its row also
    holds the prompt as the claim API shows it."""
    ranges = (_WINDOW_RANGE.format(scope=scope, window=window) for scope in ("", "AND w.submitted <= 0 "))
    windows = f"unnest({' || '.join(ranges)}) WITH ORDINALITY AS win(id, ord) JOIN annotation_queueitem i ON i.id = win.id"
    view = view_joins = ""
    if with_prompt:
        view, view_joins = selectors.prompt_view_sql("ci.prompt_id")
        view, view_joins = f", ci.queue_id, ci.prompt_id, {view}", f"\nLEFT JOIN annotation_queueitem ci ON ci.id = logged.item_id {view_joins}"
    common = {"max_n": MAX_ANNOTATORS_PER_ITEM, "queue_check": _queue_for_claim_sql(), "view": view, "view_joins": view_joins}
    return (
        sqlrows.compact(_CLAIM_SQL.format(source=windows, scope="", order="win.ord", **common)),
        sqlrows.compact(_CLAIM_SQL.format(source=_ITEMS, scope="AND i.submitted <= 0", order=_RULE, **common)),
        sqlrows.compact(_CLAIM_SQL.format(source=_ITEMS, scope="", order=_RULE, **common)),
    )


_STALE, _HOLDS = "stale", "holds"


def _claim_sql(queue_id: int, user, now, with_prompt: bool) -> Claim | str | None:
    """Claim; None when nothing is left for the user; _STALE for a candidate whose counters were wrong;
    _HOLDS when the user already holds a lease in the queue (to be renewed, not a second one). Raises
    ReviewQueue.DoesNotExist, NotAllowed (queue closed to the user) or _Busy (every candidate locked)."""
    params = {"queue": queue_id, "user": user.pk, "now": now, "free_now": FREE_NOW}
    with connection.cursor() as cursor:
        for sql in claim_passes(CLAIM_WINDOW, with_prompt):
            for _attempt in range(3):
                cursor.execute(sql, params)
                row = cursor.fetchone()
                candidate, claim_id, item_id, lease_id, fresh = row[:5]
                queue_found, is_active, may_claim, holds_lease = row[7:11]  # the queue checks
                if candidate is None or claim_id is not None or fresh:
                    break
                # The item changed under the statement (see above): look again, with a new snapshot.
            if candidate is not None or not (queue_found and is_active and may_claim) or holds_lease:
                break
    _check_access(queue_id, queue_found, is_active, may_claim)
    if holds_lease:
        return _HOLDS
    if candidate is None:
        if _candidate_items(queue_id, user, now).exists():
            raise _Busy  # there are items, all locked for an instant by claims and submits in flight
        return None
    if claim_id is None:
        if not fresh:
            raise _Busy  # the items it found kept changing under it: try again in a moment
        return _STALE
    if not with_prompt:
        return Claim(pk=claim_id, item_id=item_id, annotator=user, lease_id=lease_id, created_at=now)
    expires, queue_id, prompt_id = row[11:14]  # then the prompt as the API shows it
    # The claim as the API shows it, from the same row; the rest of the item and lease load when asked for.
    item = QueueItem.from_db(connection.alias, ["id", "queue_id", "prompt_id"], [item_id, queue_id, prompt_id])
    item.prompt = selectors.prompt_view(row[14:])
    lease = Lease.from_db(
        connection.alias, ["id", "item_id", "annotator_id", "state", "expires_at"],
        [lease_id, item_id, user.pk, Lease.State.ACTIVE, expires],
    )
    claim = Claim(pk=claim_id, item=item, annotator=user, lease=lease, created_at=now)
    claim.loaded_for_api = True
    return claim


def _check_access(queue_id: int, found: int | None, is_active: bool, may_claim: bool) -> None:
    if found is None:
        raise ReviewQueue.DoesNotExist(f"No review queue {queue_id}.")
    if not is_active:
        raise NotAllowed(_("This queue is not active."))
    if not may_claim:
        raise NotAllowed(_("You are not a member of this queue."))


class _Busy(Exception):
    """Every candidate is locked for an instant by another claim or submit."""


def _soft_state_commit() -> None:
    """Leases are soft state: one lost in a server crash only makes its item claimable again, so a claim
    or heartbeat need not wait for its WAL to reach the disk (PostgreSQL asynchronous commit). Submits
    and decisions keep full durability."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _queue_for_claim(queue_id: int, user) -> ReviewQueue:
    """The queue as it is now (N, lease length, active), the user's membership and whether they hold a
    lease in it, in one query (the claim statement checks the same on PostgreSQL)."""
    found = list(ReviewQueue.objects.raw(_queue_for_claim_sql(), {"user": user.pk, "queue": queue_id}))
    queue = found[0] if found else None
    _check_access(queue_id, queue and queue.pk, queue and queue.is_active, queue and (queue.is_member or not queue.has_members))
    return queue


def lease_claim(
    *, queue: ReviewQueue | None = None, queue_id: int | None = None, user, patience: float = 10.0,
    with_prompt: bool = False,
) -> Claim | None:
    """"Next item": the user's open claim in this queue, else a new lease on the best item; None when none is left.
    `with_prompt`: a new claim comes with its prompt as the claim API shows it (on PostgreSQL from the
    claim statement itself: see selectors.claim_for_api).

    Best = closest to completion, then oldest, among open items with a claimable slot the user has not
    dealt with. One short transaction; on PostgreSQL the item row is taken FOR UPDATE SKIP LOCKED. When
    the only candidates are locked by transactions in flight, it retries in a fresh transaction rather
    than wait while holding locks (waiting on a row lock inside the claim is how claims deadlock).
    """
    queue_id = queue_id if queue is None else queue.pk
    deadline = time.monotonic() + patience
    pause = 0.002
    while True:
        try:
            return _claim_once(queue_id, user, with_prompt)
        except (_Busy, IntegrityError):
            # IntegrityError: only this same user claiming twice at once can hit unique (item, annotator).
            if time.monotonic() > deadline:
                # Not "nothing left": items are there, all locked by work in flight for a long while.
                raise QueueBusy(_("Every open item is being worked on at this moment. Try again shortly."))
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.05)


def _claim_once(queue_id: int, user, with_prompt: bool) -> Claim | None:
    """A new claim in one statement on PostgreSQL (queue checks included); else, and when the user holds
    a lease in the queue or the statement found counters wrong, on the ORM: the user's own lease renewed,
    else a new claim."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One statement is a transaction of its own (a savepoint inside a caller's).
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            outcome = _claim_sql(queue_id, user, now, with_prompt)
        if outcome not in (_STALE, _HOLDS):
            return outcome
    queue = _queue_for_claim(queue_id, user)  # raises ReviewQueue.DoesNotExist, NotAllowed
    if queue.holds_lease:
        with transaction.atomic():
            _soft_state_commit()
            resumed = _resume(queue, user, now)
        if resumed is not None:
            return resumed
        # it was taken over meanwhile: claim afresh
    with transaction.atomic():
        return _claim_orm(queue, user, now, now + timedelta(minutes=queue.lease_minutes))


def _claim_orm(queue: ReviewQueue, user, now, expires) -> Claim | None:
    """The claim on the ORM; it also repairs counters that said an item was free when it was not."""
    candidates = _candidate_items(queue.pk, user, now)
    for _hop in range(16):
        item = candidates.select_for_update(skip_locked=True, no_key=True, of=("self",)).first()
        if item is None:
            if candidates.exists():
                raise _Busy
            return None
        item.queue = queue
        leases = list(Lease.objects.filter(item=item))
        lease = _take_slot(item, leases, user, now, state=Lease.State.ACTIVE, expires_at=expires)
        _sync_counters(item, leases, queue.annotators_per_item)
        _save_counters(item)
        if lease is not None:
            return Claim.objects.create(item=item, annotator=user, lease=lease, created_at=now)
        # The counters said free but no slot was: they are corrected now; look again.
    return None


def _own_lease(claim: Claim) -> Lease | None:
    return Lease.objects.filter(item_id=claim.item_id, annotator_id=claim.annotator_id).first()


@transaction.atomic
def lease_heartbeat(*, claim_id: int, user) -> Lease:
    """Keep a claim alive while its page is open. An expired lease nobody took over is renewed too."""
    claim = Claim.objects.filter(pk=claim_id, annotator_id=user.pk).first()
    if claim is None:
        raise NotAllowed(_("This is not your claim."))
    _soft_state_commit()
    item = _lock_item(claim.item_id)
    lease = _own_lease(claim)
    if lease is None or lease.state != Lease.State.ACTIVE:
        if lease is not None and lease.state == Lease.State.SUBMITTED:
            raise LeaseLost(_("You have already submitted this item."))
        raise LeaseLost(_("Your lease expired and another annotator took the item. You can still submit."))
    now = timezone.now()
    lease.expires_at = now + timedelta(minutes=item.queue.lease_minutes)
    lease.heartbeat_at = now
    lease.save(update_fields=["expires_at", "heartbeat_at", "updated_at"])
    _sync_counters(item, list(Lease.objects.filter(item=item)), item.queue.annotators_per_item)
    _save_counters(item)
    return lease


@transaction.atomic
def lease_skip(*, claim_id: int, user) -> None:
    """Give the item back; it is not offered to this user again (until they take it back from My work)."""
    claim = Claim.objects.filter(pk=claim_id, annotator_id=user.pk).first()
    if claim is None:
        raise NotAllowed(_("This is not your claim."))
    item = _lock_item(claim.item_id)
    lease = _own_lease(claim)
    if lease is not None and lease.state in (Lease.State.SUBMITTED, Lease.State.SURPLUS):
        raise AnnotationError(_("You have already submitted this item; revise it instead."), code="conflict")
    if lease is None:
        Lease.objects.create(item=item, annotator=user, slot=None, state=Lease.State.SKIPPED, claimed_at=claim.created_at)
    elif lease.state == Lease.State.ACTIVE:
        lease.state = Lease.State.SKIPPED
        lease.slot = None
        lease.expires_at = None
        lease.save(update_fields=["state", "slot", "expires_at", "updated_at"])
    _sync_counters(item, list(Lease.objects.filter(item=item)), item.queue.annotators_per_item)
    _save_counters(item)


@transaction.atomic
def lease_unskip(*, item_id: int, user) -> bool:
    """Offer a skipped item to the user again."""
    QueueItem.objects.select_for_update(no_key=True).filter(pk=item_id).first()
    deleted, _x = Lease.objects.filter(item_id=item_id, annotator_id=user.pk, state=Lease.State.SKIPPED).delete()
    return bool(deleted)


# ----------------------------------------------------------------------------- annotations


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass
class AnnotationInput:
    """What an annotator sends. Labels left UNSET keep the prompt's current value."""

    decision: str
    final_text: str = ""
    dimension_id: Any = UNSET
    sub_dimension_id: Any = UNSET
    technique_ids: Any = UNSET
    risk_expression: Any = UNSET
    severity: Any = UNSET
    expected_behaviour: Any = UNSET
    reference_answer: Any = UNSET
    reject_reason: str = ""
    note: str = ""
    seconds_spent: float | None = None
    # What the client showed when the decision was made; a submit for another item is refused (None: not said).
    shown_prompt_id: int | None = None
    shown_item_id: int | None = None


class ShownItemMismatch(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="shown_mismatch")


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


def _optional_text(value: str, field: str, errors: dict[str, str]) -> str:
    """The text as given (blank counts as none); NUL and unpaired surrogates are refused."""
    value = value or ""
    bad = find_unstorable(value)
    if bad is not None:
        errors[field] = bad.message()
        return ""
    return value if value.strip() else ""


def _validated(
    item: QueueItem, data: AnnotationInput, current_techniques: list[int] | None = None
) -> tuple[dict[str, Any], list[int]]:
    """The annotation's fields and technique ids; `current_techniques`: the prompt's, when already read."""
    prompt = item.prompt
    errors: dict[str, str] = {}
    D = Annotation.Decision
    decision = data.decision
    if decision not in D.values:
        raise AnnotationInvalid({"decision": _("Choose accept, edit & accept, or reject.")})

    current_tech = None
    if data.technique_ids is UNSET:
        current_tech = current_techniques if current_techniques is not None else list(
            Prompt.techniques.through.objects.filter(prompt_id=prompt.pk).values_list("technique_id", flat=True)
        )

    def pick(name: str, current: Any) -> Any:
        value = getattr(data, name)
        return current if value is UNSET else value

    dimension_id = pick("dimension_id", prompt.dimension_id)
    sub_dimension_id = pick("sub_dimension_id", prompt.sub_dimension_id)
    technique_ids = current_tech if current_tech is not None else list(data.technique_ids or [])
    risk = pick("risk_expression", prompt.risk_expression) or ""
    severity = pick("severity", prompt.severity)
    behaviour = pick("expected_behaviour", prompt.expected_behaviour) or ""
    reference = pick("reference_answer", (prompt.reference_answers or [""])[0] if prompt.reference_answers else "")

    text = prompt.text
    if decision == D.EDIT:
        # Stored exactly as written: an adversarial prompt's combining marks, compatibility ideographs and
        # invisible characters are what is being reviewed.
        final_text = data.final_text or ""
        if (bad := find_unstorable(final_text)) is not None:
            errors["final_text"] = bad.message()
        elif not final_text.strip():
            errors["final_text"] = _("Write the edited prompt (it cannot be empty).")
        else:
            text = final_text
        if "final_text" not in errors and text == prompt.text:
            decision = D.ACCEPT  # an "edit" that changes nothing is an accept
    reject_reason = data.reject_reason or ""
    note = _optional_text(data.note, "note", errors)
    if decision == D.REJECT:
        if reject_reason not in Annotation.RejectReason.values:
            errors["reject_reason"] = _("Say why you reject it.")
        elif reject_reason == Annotation.RejectReason.OTHER and not note:
            errors["note"] = _("Rejecting for another reason needs a note.")
    else:
        reject_reason = ""

    dimension = None
    if dimension_id in (None, ""):
        if decision != D.REJECT:
            errors["dimension"] = _("Choose a dimension.")
        dimension_id = None
    else:
        if dimension_id == prompt.dimension_id and prompt.dimension.taxonomy_id == item.queue.taxonomy_id:
            dimension = prompt.dimension  # the usual case: already loaded with the item
        else:
            dimension = Dimension.objects.filter(pk=dimension_id, taxonomy_id=item.queue.taxonomy_id).first()
        if dimension is None:
            errors["dimension"] = _("Choose a dimension of this queue's taxonomy.")
    if sub_dimension_id in (None, ""):
        sub_dimension_id = None
    elif dimension is not None and not SubDimension.objects.filter(pk=sub_dimension_id, dimension=dimension).exists():
        if data.sub_dimension_id is UNSET and data.dimension_id is not UNSET:
            sub_dimension_id = None  # the dimension changed; the old sub-dimension no longer applies
        else:
            errors["sub_dimension"] = _("This sub-dimension belongs to another dimension.")
    try:
        technique_ids = sorted({int(t) for t in technique_ids})
    except (TypeError, ValueError):
        technique_ids = []
        errors["techniques"] = _("Unknown technique.")
    if technique_ids and Technique.objects.filter(pk__in=technique_ids).count() != len(technique_ids):
        errors["techniques"] = _("Unknown technique.")
    if risk not in ("", *Prompt.RiskExpression.values):
        errors["risk_expression"] = _("Risk expression is explicit or implicit.")
    if severity in ("", None):
        severity = None
    else:
        try:
            severity = int(severity)
        except (TypeError, ValueError):
            severity = 0
        if not 1 <= severity <= 5:
            errors["severity"] = _("Severity is 1 to 5.")
    if behaviour not in ("", *Prompt.ExpectedBehaviour.values):
        errors["expected_behaviour"] = _("Expected behaviour is refuse, safe-complete or correct the premise.")
    if dimension is not None and dimension.uses_reference_answers:
        reference = _optional_text(reference or "", "reference_answer", errors)
    else:
        reference = ""
    seconds = data.seconds_spent
    if errors:
        raise AnnotationInvalid(errors)
    return (
        {
            "decision": decision,
            "final_text": text,
            "dimension_id": dimension_id,
            "sub_dimension_id": sub_dimension_id,
            "risk_expression": risk,
            "severity": severity,
            "expected_behaviour": behaviour,
            "reference_answer": reference,
            "reject_reason": reject_reason,
            "note": note,
            "seconds_spent": seconds,
        },
        technique_ids,
    )


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
    status: str  # "counted", "late" (lease had expired, the item still needed it), "surplus", "revised"
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
_LOCK_SLICES = sqlrows.Slices(
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
        prompt_techniques=sqlrows.related_ids(Prompt, "techniques", "i.prompt_id"),
        item=item, queue=queue, prompt=prompt, dimension=dimension, claim_table=Claim._meta.db_table,
        item_table=item_m._meta.db_table, queue_table=queue_m._meta.db_table, prompt_table=prompt_m._meta.db_table,
        dimension_table=dimension_m._meta.db_table,
    )
    leases = f"SELECT {sqlrows.columns('l', Lease, _LEASE_FIELDS)} FROM {Lease._meta.db_table} l WHERE l.item_id = %s"
    return sqlrows.compact(lock), leases


_LEASE_FIELDS = ("id", "item_id", "annotator_id", "slot", "state", "expires_at")  # what a submit reads of them


def _lock_claimed_item(claim_id: int, user) -> tuple[QueueItem, list[Lease], list[int] | None] | None:
    """The user's claimed item, locked, with its queue, prompt and dimension loaded, the time of this claim
    (`item.claimed_at`), every lease of the item and, on PostgreSQL, the prompt's technique ids. None when
    the claim is not the user's. On PostgreSQL written out (it runs on every submit): two statements where
    the ORM takes three. The leases are read by a statement of their own, after the lock is held: a
    statement that waited for the lock sees the locked row as it is now, but the rows it joins as they were
    when it started."""
    if connection.vendor != "postgresql":
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
    leases = [sqlrows.instance(Lease, values, _LEASE_FIELDS) for values in lease_rows]
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
    status = "counted"
    # The usual submit's three writes (its lease, the annotation, the item's counters) go out together.
    writes = sqlrows.Writes()
    if own is not None and own.state == Lease.State.ACTIVE:
        if own.expires_at <= now:
            status = "late"
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
            lease = _take_slot(item, leases, user, now, state=Lease.State.SUBMITTED, expires_at=None)
            status = "late"
        if lease is None:
            status = "surplus"
            if own is not None:
                own.state = Lease.State.SURPLUS
                own.slot = None
                own.expires_at = None
                own.save(update_fields=["state", "slot", "expires_at", "updated_at"])
            else:
                Lease.objects.create(item=item, annotator=user, slot=None, state=Lease.State.SURPLUS, claimed_at=claim.created_at)
    fields["seconds_spent"] = _seconds(fields["seconds_spent"], claim.created_at, now)
    annotation = Annotation(
        queue_id=item.queue_id, prompt_id=item.prompt_id, annotator=user, is_surplus=status == "surplus", **fields
    )
    writes.insert(annotation)
    decides = False
    if status != "surplus":
        _sync_counters(item, leases, item.queue.annotators_per_item)
        decides = item.state == QueueItem.State.OPEN and item.submitted >= item.queue.annotators_per_item
        if not decides:
            writes.update(item, COUNTER_FIELDS)
    writes.flush()
    if technique_ids:
        annotation.techniques.set(technique_ids)
    else:  # known to be none: whoever shows the annotation next need not ask the database
        sqlrows.prefetched(annotation, "techniques", [])
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
    return SubmitResult(annotation=annotation, status="revised", item_state=item.state)


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
            technique_ids=frozenset(t.pk for t in a.techniques.all()),
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
                "techniques": sorted(t.code for t in a.techniques.all()),
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
    return sqlrows.compact(_ANNOTATIONS_SQL.format(
        annotation=sqlrows.columns("a", Annotation), annotation_table=Annotation._meta.db_table,
        user_table=user._meta.db_table, user_pk=user._meta.pk.column,
        username=user._meta.get_field(user.USERNAME_FIELD).column,
        techniques=selectors.technique_arrays(Annotation, "a.id"),
    ))


def _annotations_for_rule(item: QueueItem) -> list[Annotation]:
    """Every annotation of the item's prompt, newest first, with its author (id and username) and its
    techniques (id and code): what the rule and the review summary read. On PostgreSQL one statement
    (it runs on every N-th submit) where the ORM takes two."""
    if connection.vendor != "postgresql":
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
        annotation = sqlrows.instance(Annotation, row[:width])
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


# ----------------------------------------------------------------------------- adjudication


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


def final_labels_from(*, item: QueueItem, annotation_id: int | None = None) -> FinalLabels | None:
    """The text and labels of one of the item's annotations (or, without one, the prompt's current ones)."""
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
