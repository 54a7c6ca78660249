"""Every write to curation's tables goes through these functions."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from core import bulk, db

from . import log_messages
from .models import Prompt, PromptLog
from .text import check_storable, text_hash

if TYPE_CHECKING:
    from .importers import RowRef

Status = Prompt.Status

# Which status may follow which. A decided prompt goes back to review only through a reopen.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Status.CANDIDATE: {Status.IN_REVIEW, Status.APPROVED, Status.REJECTED},
    Status.IN_REVIEW: {Status.APPROVED, Status.REJECTED},
    Status.APPROVED: {Status.IN_REVIEW},
    Status.REJECTED: {Status.IN_REVIEW},
}


class TransitionError(ValueError):
    pass


# Later stages of the pipeline (e.g. review queues) subscribe to new candidates here, so that
# curation never imports them; handlers run after the creating transaction commits.
_intake_handlers: list[Callable[[list[int]], None]] = []


def register_intake(handler: Callable[[list[int]], None]) -> None:
    if handler not in _intake_handlers:
        _intake_handlers.append(handler)


_taxonomy_handlers: list[Callable[[], dict[str, int]]] = []


def register_taxonomy_loaded(handler: Callable[[], dict[str, int]]) -> None:
    """Run `handler()` after every `taxonomy_load`, inside its transaction; its counts join the load's report.

    Later stages keep their own rows in step with the taxonomy (generation seeds its templates) without curation
    importing them."""
    if handler not in _taxonomy_handlers:
        _taxonomy_handlers.append(handler)


def _announce_candidates(prompt_ids: list[int]) -> None:
    if not prompt_ids or not _intake_handlers:
        return

    def run() -> None:
        for handler in list(_intake_handlers):
            handler(prompt_ids)

    transaction.on_commit(run)


PROMPT_INSERT_FIELDS = [
    "text", "language", "dimension_id", "sub_dimension_id", "risk_expression", "severity",
    "expected_behaviour", "reference_answers", "source", "provenance", "metadata", "external_id",
    "normalized_hash", "near_duplicate_of_id", "near_duplicate_score", "status", "review_summary", "agreement",
    "created_at", "updated_at",
]


@dataclass
class PromptDraft:
    """A prompt about to be created: its text exactly as it will be stored, the taxonomy ids resolved."""

    text: str
    dimension_id: int
    sub_dimension_id: int | None = None
    technique_ids: Sequence[int] = ()
    language: str = "zh"
    risk_expression: str = ""
    severity: int | None = None
    expected_behaviour: str = ""
    reference_answers: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    external_id: str = ""
    normalized_hash: str = ""
    near_duplicate_of_id: int | None = None
    near_duplicate_score: float | None = None


@dataclass
class CreateResult:
    created_ids: list[int]
    duplicates: list[tuple[int, str]]  # (position in the input, hash) of drafts skipped as duplicates
    # positions of created drafts flagged as near duplicates (of the pool, a released item or the batch)
    near_duplicates: list[int] = field(default_factory=list)
    # positions (among `duplicates`) that repeat a released item's text rather than a prompt of the pool
    released_duplicates: list[int] = field(default_factory=list)


# Any constant: the key of the advisory lock that serialises writes to the prompt pool.
_POOL_LOCK_KEY = 0x4C53_504F_4F4C  # "LSPOOL"


def lock_pool() -> None:
    """Serialise prompt creation until the transaction ends (PostgreSQL).

    Dedup checks then see every committed prompt, and ids commit in increasing order, which the dedup
    index's high-water mark relies on.
    """
    bulk.advisory_xact_lock(_POOL_LOCK_KEY)


def existing_hashes(hashes: Iterable[str], chunk: int = 20000) -> set[str]:
    """Which of these normalised-text hashes are already in the pool."""
    hashes = list(hashes)
    found: set[str] = set()
    for start in range(0, len(hashes), chunk):
        part = hashes[start : start + chunk]
        if bulk.on_postgres():  # one array parameter instead of thousands of placeholders
            found.update(bulk.select_column(Prompt, "normalized_hash", "normalized_hash", part))
        else:
            found.update(Prompt.objects.filter(normalized_hash__in=part).values_list("normalized_hash", flat=True))
    return found


@transaction.atomic
def prompts_create(
    *,
    drafts: Sequence[PromptDraft],
    source: str,
    actor=None,
    status: str = Status.CANDIDATE,
    reason: str = "",
    batch_size: int = 2000,
    near_dup_check: bool = True,
) -> CreateResult:
    """Create prompts in bulk; drafts whose normalised text exists (or repeats) are skipped.

    With `near_dup_check` every remaining draft is also checked against the pool and the released
    items (curation.dedup_service): exact repeats of a released text are skipped too, near
    duplicates are created with a link to their twin for the reviewers.
    """
    if status not in (Status.CANDIDATE, Status.APPROVED):
        raise TransitionError(f"new prompts start as candidate or approved, not {status}")
    for draft in drafts:
        # Stored as given; what no column can hold is refused here with its position rather than by the driver.
        check_storable(draft.text)
        if not draft.normalized_hash:
            draft.normalized_hash = text_hash(draft.text)
    lock_pool()
    taken = existing_hashes(d.normalized_hash for d in drafts)
    verdicts = {}
    if near_dup_check:
        from . import dedup_service

        to_check = [i for i, d in enumerate(drafts) if d.normalized_hash not in taken]
        verdicts = dict(zip(to_check, dedup_service.check_texts([drafts[i].text for i in to_check]), strict=True))
    rows: list[tuple] = []
    kept: list[PromptDraft] = []
    kept_index_of: dict[int, int] = {}  # position in the input -> index among the kept drafts
    duplicates: list[tuple[int, str]] = []
    released_duplicates: list[int] = []
    near_duplicates: list[int] = []
    batch_links: list[tuple[int, int, float | None]] = []  # (kept index, kept index of the twin, score)
    now = timezone.now()
    for position, draft in enumerate(drafts):
        verdict = verdicts.get(position)
        if draft.normalized_hash in taken:
            duplicates.append((position, draft.normalized_hash))
            continue
        if verdict is not None and verdict.is_exact and verdict.twin_release_item_id is not None:
            duplicates.append((position, draft.normalized_hash))
            released_duplicates.append(position)
            continue
        if verdict is not None and verdict.status == "near":
            near_duplicates.append(position)
            if draft.near_duplicate_of_id is None:
                if verdict.twin_prompt_id is not None:
                    draft.near_duplicate_of_id = verdict.twin_prompt_id
                    draft.near_duplicate_score = verdict.similarity
                elif verdict.twin_release_item_id is not None:
                    draft.near_duplicate_score = verdict.similarity
                    draft.metadata = {**draft.metadata, "near_duplicate_release_item": verdict.twin_release_item_id}
                elif verdict.twin_position is not None:
                    draft.near_duplicate_score = verdict.similarity
                    twin = kept_index_of.get(to_check[verdict.twin_position])
                    if twin is not None:
                        batch_links.append((len(kept), twin, verdict.similarity))
        taken.add(draft.normalized_hash)
        kept_index_of[position] = len(kept)
        kept.append(draft)
        rows.append((
            draft.text, draft.language, draft.dimension_id, draft.sub_dimension_id, draft.risk_expression,
            draft.severity, draft.expected_behaviour, list(draft.reference_answers), source, draft.provenance,
            draft.metadata, draft.external_id, draft.normalized_hash, draft.near_duplicate_of_id,
            draft.near_duplicate_score, status, {}, None, now, now,
        ))
    if bulk.on_postgres():
        # Ids first, so near duplicates within this call can point at their twins as they are written.
        ids = bulk.reserve_ids(Prompt, len(rows))
        twin_at, score_at = PROMPT_INSERT_FIELDS.index("near_duplicate_of_id"), PROMPT_INSERT_FIELDS.index("near_duplicate_score")
        for kept_index, twin_index, score in batch_links:
            row = list(rows[kept_index])
            row[twin_at], row[score_at] = ids[twin_index], score
            rows[kept_index] = tuple(row)
        bulk.insert_rows(Prompt, PROMPT_INSERT_FIELDS, rows, ids=ids)
    else:
        ids = bulk.insert_rows(Prompt, PROMPT_INSERT_FIELDS, rows, return_ids=True, batch_size=batch_size)
        Prompt.objects.bulk_update(
            [Prompt(pk=ids[k], near_duplicate_of_id=ids[t], near_duplicate_score=sc) for k, t, sc in batch_links],
            ["near_duplicate_of_id", "near_duplicate_score"],
            batch_size=500,
        )
    links = [(pid, tid) for pid, draft in zip(ids, kept, strict=True) for tid in dict.fromkeys(draft.technique_ids)]
    bulk.insert_rows(Prompt.techniques.through, ["prompt_id", "technique_id"], links)
    actor_id = getattr(actor, "pk", None)
    bulk.insert_rows(
        PromptLog,
        ["prompt_id", "actor_id", "from_status", "to_status", "reason", "created_at"],
        [(pid, actor_id, "", status, reason, now) for pid in ids],
    )
    if status == Status.CANDIDATE:
        _announce_candidates(ids)
    return CreateResult(
        created_ids=ids, duplicates=duplicates, near_duplicates=near_duplicates, released_duplicates=released_duplicates
    )


@transaction.atomic
def prompts_transition(*, prompt_ids: Iterable[int], to_status: str, actor=None, reason: str = "") -> int:
    """Move prompts to `to_status`, logging each move. Returns how many moved.

    Prompts already in `to_status` are left alone; a move the lifecycle forbids raises.
    """
    prompt_ids = list(prompt_ids)
    rows = list(
        Prompt.objects.select_for_update().filter(pk__in=prompt_ids).exclude(status=to_status).values_list("pk", "status")
    )
    for pk, current in rows:
        if to_status not in ALLOWED_TRANSITIONS.get(current, set()):
            raise TransitionError(f"prompt {pk}: {current} → {to_status} is not allowed")
    if not rows:
        return 0
    moved = [pk for pk, _ in rows]
    Prompt.objects.filter(pk__in=moved).update(status=to_status, updated_at=timezone.now())
    now = timezone.now()
    PromptLog.objects.bulk_create(
        [
            PromptLog(prompt_id=pk, actor=actor, from_status=current, to_status=to_status, reason=reason, created_at=now)
            for pk, current in rows
        ]
    )
    return len(moved)


# Fields a reviewer may settle when deciding a prompt.
DECIDABLE_FIELDS = (
    "text",
    "dimension_id",
    "sub_dimension_id",
    "risk_expression",
    "severity",
    "expected_behaviour",
    "reference_answers",
)


@transaction.atomic
def prompt_decide(
    *,
    prompt_id: int,
    decision: str,
    actor=None,
    reason: str = "",
    final: dict[str, Any] | None = None,
    technique_ids: Sequence[int] | None = None,
    review_summary: dict[str, Any] | None = None,
    agreement: float | None = None,
) -> Prompt:
    """Approve or reject a prompt after review, settling its final text and labels."""
    if decision not in (Status.APPROVED, Status.REJECTED):
        raise TransitionError(f"a decision is approved or rejected, not {decision}")
    prompt, current_techniques = _lock_for_decision(prompt_id)
    if decision not in ALLOWED_TRANSITIONS.get(prompt.status, set()):
        raise TransitionError(f"prompt {prompt_id}: {prompt.status} → {decision} is not allowed")
    from_status = prompt.status
    changed = {"status", "updated_at"}
    for name, value in (final or {}).items():
        if name not in DECIDABLE_FIELDS:
            raise ValueError(f"{name} cannot be set by a decision")
        setattr(prompt, name, value)
        changed.add(name)
    if final and "text" in final:
        new_hash = text_hash(prompt.text)
        if new_hash != prompt.normalized_hash:
            if Prompt.objects.filter(normalized_hash=new_hash).exclude(pk=prompt.pk).exists():
                raise TransitionError("the edited text duplicates another prompt")
            prompt.normalized_hash = new_hash
            changed.add("normalized_hash")
    if review_summary is not None:
        prompt.review_summary = review_summary
        changed.add("review_summary")
    if agreement is not None:
        prompt.agreement = agreement
        changed.add("agreement")
    prompt.status = decision
    writes = db.Writes()  # the prompt and its log line in one statement on PostgreSQL
    writes.update(prompt, sorted(changed))
    writes.insert(PromptLog(prompt=prompt, actor=actor, from_status=from_status, to_status=decision, reason=reason))
    writes.flush()
    if technique_ids is not None and set(technique_ids) != set(current_techniques):
        prompt.techniques.set(technique_ids)
    return prompt


_LOCK_FOR_DECISION = """
SELECT {prompt}, {techniques}
FROM {table} p WHERE p.id = %s FOR UPDATE OF p
"""


@functools.cache
def _lock_for_decision_sql() -> str:
    return db.compact(_LOCK_FOR_DECISION.format(
        prompt=db.columns("p", Prompt), techniques=db.related_ids(Prompt, "techniques", "p.id"),
        table=Prompt._meta.db_table,
    ))


def _lock_for_decision(prompt_id: int) -> tuple[Prompt, list[int]]:
    """The prompt, locked, and its technique ids: on PostgreSQL one statement (every consensus decides
    through here), elsewhere the ORM's two. Raises Prompt.DoesNotExist."""
    if not db.fast_path():
        prompt = Prompt.objects.select_for_update().get(pk=prompt_id)
        return prompt, list(prompt.techniques.values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(_lock_for_decision_sql(), [prompt_id])
        row = cursor.fetchone()
    if row is None:
        raise Prompt.DoesNotExist(f"No prompt {prompt_id}.")
    return db.instance(Prompt, row[:-1]), list(row[-1])


@transaction.atomic
def prompt_reopen(*, prompt_id: int, actor, reason: str) -> Prompt:
    """Send a decided prompt back to review; a reason is required and logged."""
    if not reason.strip():
        raise TransitionError("reopening needs a reason")
    prompts_transition(prompt_ids=[prompt_id], to_status=Status.IN_REVIEW, actor=actor, reason=reason)
    return Prompt.objects.get(pk=prompt_id)


@transaction.atomic
def taxonomy_load(*, data: dict[str, Any]) -> dict[str, int]:
    """Create or update taxonomies, dimensions, sub-dimensions and techniques from fixture data."""
    from .models import Dimension, SubDimension, Taxonomy, Technique

    counts = {"taxonomies": 0, "dimensions": 0, "sub_dimensions": 0, "techniques": 0}
    for tax in data.get("taxonomies", []):
        taxonomy, _ = Taxonomy.objects.update_or_create(
            code=tax["code"],
            defaults={
                "name_zh": tax["name_zh"],
                "name_en": tax["name_en"],
                "description": tax.get("description", ""),
                "released_on": tax.get("released_on"),
            },
        )
        counts["taxonomies"] += 1
        for order, dim in enumerate(tax.get("dimensions", [])):
            dimension, _ = Dimension.objects.update_or_create(
                taxonomy=taxonomy,
                code=dim["code"],
                defaults={
                    "name_zh": dim["name_zh"],
                    "name_en": dim["name_en"],
                    "description": dim.get("description", ""),
                    "uses_reference_answers": dim.get("uses_reference_answers", False),
                    "order": order,
                },
            )
            counts["dimensions"] += 1
            for sub_order, (code, name_zh, name_en) in enumerate(dim.get("sub_dimensions", [])):
                SubDimension.objects.update_or_create(
                    dimension=dimension,
                    code=code,
                    defaults={"name_zh": name_zh, "name_en": name_en, "order": sub_order},
                )
                counts["sub_dimensions"] += 1
    for order, tech in enumerate(data.get("techniques", [])):
        Technique.objects.update_or_create(
            code=tech["code"],
            defaults={
                "name_zh": tech["name_zh"],
                "name_en": tech["name_en"],
                "description_zh": tech.get("description_zh", ""),
                "description_en": tech.get("description_en", ""),
                "order": order,
            },
        )
        counts["techniques"] += 1
    for handler in list(_taxonomy_handlers):  # in the same transaction: a failing handler undoes the load
        counts.update(handler())
    return counts


@transaction.atomic
def sub_dimension_get_or_create(*, dimension_id: int, name: str) -> int:
    """Sub-dimensions in imported files are free text; an unknown one is added to its dimension."""
    from django.utils.text import slugify

    from .models import SubDimension

    code = slugify(name, allow_unicode=True)[:64] or "x"
    sub, _ = SubDimension.objects.get_or_create(
        dimension_id=dimension_id, code=code, defaults={"name_zh": name[:100], "name_en": ""}
    )
    return sub.pk


@dataclass
class ImportReport:
    created: int
    duplicates: list[int]  # line numbers skipped as duplicates
    created_ids: list[int]
    total_rows: int
    # The same rows named by line and question_id (curation.importers.RowRef)
    duplicate_rows: list[RowRef] = field(default_factory=list)
    # Rows skipped because a prompt already carries their question_id (skip_existing_ids)
    skipped_existing: list[RowRef] = field(default_factory=list)


def prompts_import(
    *,
    content: bytes,
    filename: str = "",
    fmt: str | None = None,
    status: str = Status.CANDIDATE,
    taxonomy_code: str | None = None,
    actor=None,
    skip_existing_ids: bool = False,
) -> ImportReport:
    """Import a LiveSecBench JSON / JSONL / CSV file: every row or none.

    Raises ImportRejected listing every bad row (with its line) and writes nothing in that case.
    With `skip_existing_ids` a row whose question_id a prompt already carries (as its external id) is
    skipped whatever its text: a file imported again then adds nothing for items edited since in review.
    """
    from .importers import (
        ImportRejected,
        RowError,
        RowRef,
        TaxonomyResolver,
        detect_format,
        read_rows,
        validate_rows,
    )

    fmt = fmt or detect_format(filename, content)
    if status not in (Status.CANDIDATE, Status.APPROVED):
        raise ImportRejected([RowError(0, f"status must be candidate or approved, not {status}")])
    resolver = TaxonomyResolver(taxonomy_code)
    rows, errors = read_rows(content, fmt)
    valid, row_errors = validate_rows(rows, resolver)
    errors = sorted(errors + row_errors, key=lambda e: e.line)
    if errors:
        raise ImportRejected(errors)
    if not rows:
        raise ImportRejected([RowError(1, "the file holds no items")])
    skipped: list[RowRef] = []
    if skip_existing_ids:
        ids = {row.external_id for row in valid if row.external_id}
        known = set(Prompt.objects.filter(external_id__in=ids).values_list("external_id", flat=True)) if ids else set()
        skipped = [RowRef(row.line, row.external_id) for row in valid if row.external_id in known]
        valid = [row for row in valid if row.external_id not in known]
    template = log_messages.IMPORTED_APPROVED if status == Status.APPROVED else log_messages.IMPORTED_FROM
    reason = template % {"file": filename or fmt}
    with transaction.atomic():
        drafts = []
        for row in valid:
            sub_id = None
            if row.sub_dimension_name:
                sub_id = resolver.sub_dimension(row.dimension_id, row.sub_dimension_name)
                if sub_id is None:
                    sub_id = sub_dimension_get_or_create(dimension_id=row.dimension_id, name=row.sub_dimension_name)
                    resolver.subs[(row.dimension_id, row.sub_dimension_name.lower())] = sub_id
            drafts.append(
                PromptDraft(
                    text=row.text,
                    dimension_id=row.dimension_id,
                    sub_dimension_id=sub_id,
                    technique_ids=row.technique_ids,
                    language=row.language,
                    risk_expression=row.risk_expression,
                    reference_answers=row.reference_answers,
                    provenance={**row.provenance, "file": filename, "line": row.line, "format": fmt},
                    metadata=row.metadata,
                    external_id=row.external_id,
                    normalized_hash=row.normalized_hash,
                )
            )
        result = prompts_create(drafts=drafts, source=Prompt.Source.IMPORTED, actor=actor, status=status, reason=reason)
    return ImportReport(
        created=len(result.created_ids),
        duplicates=[valid[pos].line for pos, _ in result.duplicates],
        created_ids=result.created_ids,
        total_rows=len(rows),
        duplicate_rows=[RowRef(valid[pos].line, valid[pos].external_id) for pos, _ in result.duplicates],
        skipped_existing=skipped,
    )
