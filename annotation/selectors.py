"""Reads for annotation's pages and APIs. Nothing here writes."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum, prefetch_related_objects
from django.utils import timezone

from accounts.roles import is_maintainer
from core import db
from curation.models import Dimension, Prompt, PromptLog, SubDimension, Technique

from .models import Annotation, Claim, ClaimStatus, Lease, QueueItem, ReviewQueue


def queue_can_claim(*, queue: ReviewQueue, user) -> bool:
    """Active queues only; a queue with members is open to its members alone (whatever their role)."""
    if not queue.is_active:
        return False
    through = ReviewQueue.members.through
    counts = through.objects.filter(reviewqueue_id=queue.pk).aggregate(
        total=Count("id"), mine=Count("id", filter=Q(user_id=user.pk))
    )
    return ReviewQueue.claim_rule(is_active=queue.is_active, has_members=counts["total"] > 0, is_member=counts["mine"] > 0)


def queue_list_for(*, user) -> QuerySet[ReviewQueue]:
    """Maintainers see every queue; annotators the active queues they may claim from."""
    qs = ReviewQueue.objects.select_related("taxonomy").prefetch_related("dimensions")
    if is_maintainer(user):
        return qs
    through = ReviewQueue.members.through
    has_members = Exists(through.objects.filter(reviewqueue_id=OuterRef("pk")))
    is_member = Exists(through.objects.filter(reviewqueue_id=OuterRef("pk"), user_id=user.pk))
    return qs.filter(is_active=True).filter(~has_members | is_member)


def queue_get(*, pk: int) -> ReviewQueue:
    return ReviewQueue.objects.select_related("taxonomy").prefetch_related("dimensions", "members").get(pk=pk)


def queue_matching_candidates(*, queue: ReviewQueue) -> QuerySet[Prompt]:
    """Candidates this queue's filter matches that no queue holds yet."""
    qs = Prompt.objects.filter(status=Prompt.Status.CANDIDATE, dimension__taxonomy_id=queue.taxonomy_id)
    dims = [d.pk for d in queue.dimensions.all()]
    if dims:
        qs = qs.filter(dimension_id__in=dims)
    return qs.exclude(Exists(QueueItem.objects.filter(prompt_id=OuterRef("pk"))))


def queue_state_counts(*, queue_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = QueueItem.objects.filter(queue_id__in=queue_ids).values_list("queue_id", "state").annotate(n=Count("id"))
    out: dict[int, dict[str, int]] = {qid: {s: 0 for s in QueueItem.State.values} for qid in queue_ids}
    for qid, state, n in rows:
        out[qid][state] = n
    return out


def queue_live_leases(*, queue: ReviewQueue) -> int:
    return Lease.objects.filter(item__queue=queue, state=Lease.State.ACTIVE, expires_at__gt=timezone.now()).count()


def claim_get(*, pk: int, user) -> Claim:
    """The user's own claim, with everything the review page shows. Raises Claim.DoesNotExist otherwise."""
    return Claim.objects.select_related(
        "item__queue__taxonomy",
        "item__prompt__dimension__taxonomy",
        "item__prompt__sub_dimension",
        "item__prompt__near_duplicate_of",
        "lease",
    ).get(pk=pk, annotator=user)


# The prompt as the claim API shows it: a SELECT list (the prompt's technique ids and codes in the
# taxonomy's order, then the prompt, its dimension and sub-dimension) and the joins it needs from the
# prompt's id. Read here for a claim by id, and returned by the claim statement itself, so that a claim
# over the API is one statement.
_TECHNIQUES = (
    'ARRAY(SELECT t.{column} FROM {through} x JOIN {technique} t ON t.id = x.{technique_id} '
    'WHERE x.{owner} = {owner_id} ORDER BY t."order", t.code)'
)


def technique_arrays(model, owner_id: str) -> str:
    """Two SQL arrays: the ids and the codes of the techniques of the `model` row (a prompt or an
    annotation) whose id is the SQL expression `owner_id`, in the taxonomy's order."""
    m2m = model._meta.get_field("techniques")
    names = {
        "through": m2m.remote_field.through._meta.db_table, "technique": Technique._meta.db_table,
        "technique_id": m2m.m2m_reverse_name(), "owner": m2m.m2m_column_name(), "owner_id": owner_id,
    }
    return ", ".join(_TECHNIQUES.format(column=column, **names) for column in ("id", "code"))


def give_techniques(obj, ids, codes) -> None:
    """Hand `obj` its techniques (id and code only) from technique_arrays' two arrays, as `techniques_of`
    reads them (the list a `Prefetch(to_attr=…)` would leave)."""
    obj.technique_list = [Technique.from_db(connection.alias, ["id", "code"], pair) for pair in zip(ids, codes, strict=True)]


def techniques_of(obj) -> list[Technique]:
    """A prompt's or an annotation's techniques: those handed to it with its row (`give_techniques`), else
    its many-to-many (prefetched, where the query asked for it)."""
    given = getattr(obj, "technique_list", None)
    return given if given is not None else list(obj.techniques.all())


_PROMPT_VIEW = "{techniques}, {prompt}, {dimension}, {sub_dimension}"
_PROMPT_JOINS = (
    "LEFT JOIN {prompt_table} p ON p.id = {prompt_id} LEFT JOIN {dimension_table} d ON d.id = p.dimension_id "
    "LEFT JOIN {sub_dimension_table} s ON s.id = p.sub_dimension_id"
)
# Only the fields the claim shows (apis.ReviewPromptOutput); the rest stay deferred, as `.only()` leaves them.
_TAXON = ("id", "code", "name_zh", "name_en")
PROMPT_VIEW_SLICES = db.Slices(
    (
        (Prompt, ("id", "text", "language", "dimension_id", "sub_dimension_id", "risk_expression", "severity",
                  "expected_behaviour", "reference_answers", "near_duplicate_of_id", "near_duplicate_score")),
        (Dimension, _TAXON),
        (SubDimension, _TAXON),
    ),
    lead=2,
)


@functools.cache
def prompt_view_sql(prompt_id: str) -> tuple[str, str]:
    """(SELECT list, joins) of the prompt whose id is the SQL expression `prompt_id`."""
    prompt, dimension, sub_dimension = PROMPT_VIEW_SLICES.models
    prompt_columns, dimension_columns, sub_dimension_columns = PROMPT_VIEW_SLICES.columns("p", "d", "s")
    select = _PROMPT_VIEW.format(
        techniques=technique_arrays(Prompt, "p.id"), prompt=prompt_columns, dimension=dimension_columns,
        sub_dimension=sub_dimension_columns,
    )
    joins = _PROMPT_JOINS.format(
        prompt_table=prompt._meta.db_table, prompt_id=prompt_id, dimension_table=dimension._meta.db_table,
        sub_dimension_table=sub_dimension._meta.db_table,
    )
    return select, joins


def prompt_view(row) -> Prompt:
    """The prompt, with its dimension, sub-dimension and techniques loaded, from a row that starts with
    prompt_view_sql's columns."""
    prompt, dimension, sub_dimension = PROMPT_VIEW_SLICES.split(row)
    prompt.dimension, prompt.sub_dimension = dimension, sub_dimension
    give_techniques(prompt, row[0], row[1])
    return prompt


_CLAIM_SLICES = db.Slices((Claim, Lease, QueueItem), lead=PROMPT_VIEW_SLICES.end)


@functools.cache
def _claim_for_api_sql() -> str:
    claim, lease, item = _CLAIM_SLICES.models
    view, joins = prompt_view_sql("i.prompt_id")
    return db.compact(
        f"SELECT {view}, {db.columns('c', claim)}, {db.columns('l', lease)}, {db.columns('i', item)} "
        f"FROM {claim._meta.db_table} c LEFT JOIN {lease._meta.db_table} l ON l.id = c.lease_id "
        f"JOIN {item._meta.db_table} i ON i.id = c.item_id {joins} WHERE c.id = %s"
    )


def claim_for_api(*, claim: Claim) -> Claim:
    """The claim with the prompt, its labels and the lease, as the claim API returns it: as the claim
    statement returned it (`claim.loaded_for_api`), else read again (PostgreSQL: one written-out statement,
    elsewhere the ORM's two queries)."""
    if getattr(claim, "loaded_for_api", False):
        return claim
    if not db.fast_path():
        claim = Claim.objects.select_related("lease", "item__prompt__dimension", "item__prompt__sub_dimension").get(pk=claim.pk)
        # What prefetch_related("item__prompt__techniques") gives, for one prompt without its machinery.
        prefetch_related_objects([claim.item.prompt], "techniques")
        return claim
    with connection.cursor() as cursor:
        cursor.execute(_claim_for_api_sql(), [claim.pk])
        row = cursor.fetchone()
    if row is None:
        raise Claim.DoesNotExist(f"No claim {claim.pk}.")
    claim, lease, item = _CLAIM_SLICES.split(row)
    item.prompt = prompt_view(row)
    claim.item, claim.lease = item, lease
    return claim


def claim_status(*, claim: Claim) -> ClaimStatus:
    """Live, expired (still held: a late submit counts), lost (someone else took the slot) or done."""
    lease = claim.lease
    if lease is None or lease.annotator_id != claim.annotator_id:
        own = Lease.objects.filter(item_id=claim.item_id, annotator_id=claim.annotator_id).first()
        if own is None:
            return ClaimStatus.LOST
        lease = own
    if lease.state == Lease.State.ACTIVE:
        return ClaimStatus.LIVE if lease.expires_at > timezone.now() else ClaimStatus.EXPIRED
    return ClaimStatus.DONE


def taxonomy_choices(*, taxonomy_id: int) -> list[Dimension]:
    return list(Dimension.objects.filter(taxonomy_id=taxonomy_id).prefetch_related("sub_dimensions"))


def technique_choices() -> list[Technique]:
    return list(Technique.objects.all())


def claim_is_own(*, pk: int, user) -> bool:
    return Claim.objects.filter(pk=pk, annotator_id=user.pk).exists()


def annotation_is_own(*, pk: int, user) -> bool:
    return Annotation.objects.filter(pk=pk, annotator_id=user.pk).exists()


def annotation_list_for_item(*, item: QueueItem) -> list[Annotation]:
    return list(
        Annotation.objects.filter(prompt_id=item.prompt_id)
        .select_related("annotator", "dimension", "sub_dimension")
        .prefetch_related("techniques")
        .order_by("is_surplus", "submitted_at", "id")
    )


def annotation_list_own(*, user) -> QuerySet[Annotation]:
    """The user's own annotations, newest first, each with the state of its item."""
    item_state = QueueItem.objects.filter(prompt_id=OuterRef("prompt_id")).values("state")[:1]
    return (
        Annotation.objects.filter(annotator=user)
        .annotate(item_state=item_state)
        .prefetch_related("techniques")
        .order_by("-submitted_at", "-id")
    )


def annotation_get_own(*, pk: int, user) -> Annotation:
    return Annotation.objects.select_related(
        "queue__taxonomy", "prompt__dimension", "prompt__sub_dimension", "dimension", "sub_dimension"
    ).prefetch_related("techniques").get(pk=pk, annotator=user)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "add", "del"
    text: str


def text_diff(original: str, edited: str) -> list[DiffLine]:
    """A character-level diff of an edit, as runs to render (escaped) with <ins>/<del>."""
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=original, b=edited, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.append(DiffLine("same", original[a0:a1]))
            continue
        if a1 > a0:
            out.append(DiffLine("del", original[a0:a1]))
        if b1 > b0:
            out.append(DiffLine("add", edited[b0:b1]))
    return out


def adjudication_list(*, queue_id: int | None = None, state: str = QueueItem.State.ADJUDICATION) -> QuerySet[QueueItem]:
    qs = QueueItem.objects.filter(state=state).select_related(
        "queue", "prompt__dimension", "prompt__sub_dimension", "decided_by"
    )
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    return qs.order_by("updated_at", "id")


def adjudication_with_annotations() -> QuerySet[QueueItem]:
    """Queue items with every annotation inline (the adjudication API)."""
    return QueueItem.objects.select_related("queue", "prompt__dimension", "prompt__sub_dimension").prefetch_related(
        "prompt__techniques",
        Prefetch(
            "prompt__annotations",
            queryset=Annotation.objects.select_related("annotator", "prompt").prefetch_related("techniques"),
        ),
    )


def adjudication_get(*, pk: int) -> QueueItem:
    return QueueItem.objects.select_related(
        "queue__taxonomy", "prompt__dimension__taxonomy", "prompt__sub_dimension", "decided_by"
    ).prefetch_related(
        "prompt__techniques",
        Prefetch("prompt__logs", queryset=PromptLog.objects.select_related("actor")),
    ).get(pk=pk)


def adjudication_annotations(*, item: QueueItem) -> list[dict]:
    """Every annotation on the item, with its edit as a diff against the prompt as it entered review."""
    original = item.prompt.text
    rows = []
    for ann in annotation_list_for_item(item=item):
        rows.append(
            {
                "annotation": ann,
                "techniques": techniques_of(ann),
                "edited": ann.final_text != original,
                "diff": text_diff(original, ann.final_text) if ann.final_text != original else [],
            }
        )
    return rows


def my_work(*, user, recent: int = 50) -> dict:
    anns = Annotation.objects.filter(annotator=user)
    week_ago = timezone.now() - timedelta(days=7)
    totals = anns.aggregate(
        total=Count("id"),
        week=Count("id", filter=Q(submitted_at__gte=week_ago)),
        seconds=Sum("seconds_spent"),
        accepted=Count("id", filter=Q(decision=Annotation.Decision.ACCEPT)),
        edited=Count("id", filter=Q(decision=Annotation.Decision.EDIT)),
        rejected=Count("id", filter=Q(decision=Annotation.Decision.REJECT)),
        surplus=Count("id", filter=Q(is_surplus=True)),
    )
    totals["seconds"] = totals["seconds"] or 0
    totals["average"] = totals["seconds"] / totals["total"] if totals["total"] else 0
    item_state = QueueItem.objects.filter(prompt_id=OuterRef("prompt_id")).values("state")[:1]
    recent_rows = list(
        anns.select_related("queue", "prompt").annotate(item_state=item_state).order_by("-submitted_at", "-id")[:recent]
    )
    skipped = list(
        Lease.objects.filter(annotator=user, state=Lease.State.SKIPPED)
        .select_related("item__queue", "item__prompt")
        .order_by("-updated_at")[:recent]
    )
    return {"totals": totals, "recent": recent_rows, "skipped": skipped}


def queue_item_latest_for_prompt(*, prompt_id: int) -> QueueItem | None:
    return QueueItem.objects.filter(prompt_id=prompt_id).order_by("-id").first()


# ----------------------------------------------------------------------------- progress (review page, home)

# "Left for you" is counted up to this many and shown as "1000+" beyond: the count runs on every item shown.
PROGRESS_COUNT_LIMIT = 1000


def _start_of_today():
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _left_for(user, queue_id: int, annotators_per_item: int) -> QuerySet[QueueItem]:
    """Open items of the queue that still need reviews and that the user has not reviewed, skipped or been
    counted as surplus on (the item they hold now is one of them)."""
    dealt_with = Lease.objects.filter(item_id=OuterRef("pk"), annotator_id=user.pk).exclude(state=Lease.State.ACTIVE)
    return QueueItem.objects.filter(
        queue_id=queue_id, state=QueueItem.State.OPEN, submitted__lt=annotators_per_item
    ).exclude(Exists(dealt_with))


@dataclass(frozen=True)
class Progress:
    left: int
    left_capped: bool  # there are more than `left`
    today: int  # the user's annotations in this queue since local midnight

    @property
    def left_label(self) -> str:
        return f"{self.left}+" if self.left_capped else str(self.left)


def review_progress(*, queue: ReviewQueue, user) -> Progress:
    left = _left_for(user, queue.pk, queue.annotators_per_item).values("pk")[: PROGRESS_COUNT_LIMIT + 1].count()
    today = Annotation.objects.filter(annotator_id=user.pk, queue_id=queue.pk, submitted_at__gte=_start_of_today()).count()
    return Progress(left=min(left, PROGRESS_COUNT_LIMIT), left_capped=left > PROGRESS_COUNT_LIMIT, today=today)


def claim_open_for(*, user) -> Claim | None:
    """The latest claim of a lease the user still holds (any queue): where "continue" takes them back."""
    return (
        Claim.objects.filter(
            annotator_id=user.pk, lease__annotator_id=user.pk, lease__state=Lease.State.ACTIVE,
            item__queue__is_active=True,
        )
        .select_related("item__queue", "item__prompt")
        .order_by("-id")
        .first()
    )


def annotator_home(*, user) -> dict:
    """The annotator's start page: each queue they may claim from with what is left for them and what they
    did today, the queues with work first; the claim to continue, if they hold one; today's total."""
    rows = []
    for queue in queue_list_for(user=user).filter(is_active=True):
        progress = review_progress(queue=queue, user=user)
        rows.append({"queue": queue, "progress": progress})
    rows.sort(key=lambda r: (r["progress"].left == 0, r["queue"].name))
    today = Annotation.objects.filter(annotator_id=user.pk, submitted_at__gte=_start_of_today()).count()
    return {
        "queue_rows": rows,
        "waiting": [r for r in rows if r["progress"].left],
        "open_claim": claim_open_for(user=user),
        "done_today": today,
    }
