"""Claims: leases on queue items (claim, heartbeat, skip), on the ORM and, on PostgreSQL, in one statement.

Lock order, everywhere: the QueueItem row first (FOR NO KEY UPDATE), then its leases. The claim takes
item rows with SKIP LOCKED, so a claimer never waits behind another claim or a submit.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from core import db

from .. import selectors
from ..models import FREE_NOW, MAX_ANNOTATORS_PER_ITEM, Claim, Lease, QueueItem, ReviewQueue
from .errors import AnnotationError, LeaseLost, NotAllowed, QueueBusy


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
    FROM q WHERE {may_claim} AND NOT holds_lease
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
       q.id, q.is_active, q.has_members, q.is_member, q.holds_lease,
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
    common = {"max_n": MAX_ANNOTATORS_PER_ITEM, "may_claim": ReviewQueue.CLAIM_RULE_SQL, "queue_check": _queue_for_claim_sql(), "view": view, "view_joins": view_joins}
    return (
        db.compact(_CLAIM_SQL.format(source=windows, scope="", order="win.ord", **common)),
        db.compact(_CLAIM_SQL.format(source=_ITEMS, scope="AND i.submitted <= 0", order=_RULE, **common)),
        db.compact(_CLAIM_SQL.format(source=_ITEMS, scope="", order=_RULE, **common)),
    )


class _OrmPath(Exception):
    """The statement leaves this claim to the ORM path: the user holds a lease in the queue (renewed, not a
    second one), or the candidate's counters were wrong (the ORM path repairs them)."""


def _claim_sql(queue_id: int, user, now, with_prompt: bool) -> Claim | None:
    """Claim in one statement; None when nothing is left for the user. Raises _OrmPath (see there),
    ReviewQueue.DoesNotExist, NotAllowed (queue closed to the user) or _Busy (every candidate locked)."""
    params = {"queue": queue_id, "user": user.pk, "now": now, "free_now": FREE_NOW}
    with connection.cursor() as cursor:
        for sql in claim_passes(CLAIM_WINDOW, with_prompt):
            for _attempt in range(3):
                cursor.execute(sql, params)
                row = cursor.fetchone()
                candidate, claim_id, item_id, lease_id, fresh = row[:5]
                queue_found, is_active, has_members, is_member, holds_lease = row[7:12]  # the queue checks
                may_claim = ReviewQueue.claim_rule(is_active=is_active, has_members=has_members, is_member=is_member)
                if candidate is None or claim_id is not None or fresh:
                    break
                # The item changed under the statement (see above): look again, with a new snapshot.
            if candidate is not None or not (queue_found and may_claim) or holds_lease:
                break
    _check_access(queue_id, queue_found, is_active, may_claim)
    if holds_lease:
        raise _OrmPath
    if candidate is None:
        if _candidate_items(queue_id, user, now).exists():
            raise _Busy  # there are items, all locked for an instant by claims and submits in flight
        return None
    if claim_id is None:
        if not fresh:
            raise _Busy  # the items it found kept changing under it: try again in a moment
        raise _OrmPath
    if not with_prompt:
        return Claim(pk=claim_id, item_id=item_id, annotator=user, lease_id=lease_id, created_at=now)
    expires, queue_id, prompt_id = row[12:15]  # then the prompt as the API shows it
    # The claim as the API shows it, from the same row; the rest of the item and lease load when asked for.
    item = QueueItem.from_db(connection.alias, ["id", "queue_id", "prompt_id"], [item_id, queue_id, prompt_id])
    item.prompt = selectors.prompt_view(row[15:])
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
    may_claim = queue is not None and ReviewQueue.claim_rule(
        is_active=queue.is_active, has_members=queue.has_members, is_member=queue.is_member
    )
    _check_access(queue_id, queue and queue.pk, queue and queue.is_active, may_claim)
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
    if db.fast_path():
        # One statement is a transaction of its own (a savepoint inside a caller's).
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                return _claim_sql(queue_id, user, now, with_prompt)
        except _OrmPath:
            pass
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


