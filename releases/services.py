"""Release services: draft, choose items, freeze, export, verify.

Every write to releases goes through these keyword-only functions (views, APIs, commands and tasks call them).
Freezing and exporting stream: items are read in keyset chunks and written with COPY (PostgreSQL) or
bulk inserts, exports are written line by line / row group by row group, so memory stays flat at a million
items. A freeze commits chunk by chunk together with its cursor, so a retry after a crash resumes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from core.leases import ActiveSet, new_owner, owner_dead
from core.queue import task
from core.spreadsheet import spreadsheet_row
from curation.models import Dimension, Prompt, SubDimension, Taxonomy, Technique
from curation.text import UnstorableText, check_storable

from . import release_math as rm
from .models import FrozenReleaseError, Release, ReleaseExport, ReleaseItem, ReleaseRetirement

log = logging.getLogger(__name__)

LATEST = "latest"  # parent=LATEST: the newest frozen release of the same taxonomy
CHUNK = 5000
EXPORT_FORMATS = ("jsonl", "csv", "parquet", "manifest", "readme", "zip")
PARQUET_ROW_GROUP = 5000
TEXT_FLUSH_ROWS = 2000
STALE_FREEZE_SECONDS = 120


class ReleaseError(ValueError):
    """A release operation that cannot be done; the message says why, for the user."""


def _storable(text: str, field: str) -> str:
    try:
        return check_storable(text, field=field)
    except UnstorableText as exc:
        raise ReleaseError(exc.message())


# ---------------------------------------------------------------------------------------------------------------
# Drafting
# ---------------------------------------------------------------------------------------------------------------


def release_next_version(*, day: dt.date | None = None) -> str:
    day = day or timezone.localdate()
    prefix = f"v{day:%y%m%d}"
    return rm.next_version(day, Release.objects.filter(version__startswith=prefix).values_list("version", flat=True))


def release_latest_frozen(*, taxonomy_id: int | None = None) -> Release | None:
    qs = Release.objects.frozen()
    if taxonomy_id is not None:
        qs = qs.filter(taxonomy_id=taxonomy_id)
    return qs.order_by("-frozen_at", "-id").first()


def release_approved_by_taxonomy() -> dict[str, int]:
    """How many approved prompts each taxonomy holds (taxonomies without any are left out), by code."""
    rows = (
        Prompt.objects.filter(status=Prompt.Status.APPROVED)
        .values_list("dimension__taxonomy__code")
        .annotate(n=Count("id"))
        .values_list("dimension__taxonomy__code", "n")
    )
    return dict(sorted(rows))


def _count_list(counts: dict[str, int]) -> str:
    return ", ".join(f"{code} ({n})" for code, n in counts.items())


def release_default_taxonomy() -> Taxonomy:
    """The taxonomy a release uses when none is named: the one the approved prompts are in.

    Approved prompts in several taxonomies make the choice the maintainer's (refused, with the counts). With no
    approved prompt at all, the taxonomy of the latest frozen release (its items can be carried over), else the
    newest taxonomy."""
    counts = release_approved_by_taxonomy()
    if len(counts) > 1:
        raise ReleaseError(gettext(
            "approved prompts are in several taxonomies: %(counts)s; choose one (--taxonomy, or the form's taxonomy "
            "field)") % {"counts": _count_list(counts)})
    if counts:
        return Taxonomy.objects.get(code=next(iter(counts)))
    latest = release_latest_frozen()
    if latest is not None:
        return latest.taxonomy
    newest = Taxonomy.objects.order_by("-code").first()
    if newest is None:
        raise ReleaseError(gettext("no taxonomy is loaded"))
    return newest


def release_empty_reason(release: Release) -> str | None:
    """None when a freeze of this draft would copy at least one item; else why not and where the approved
    prompts are, for the maintainer."""
    if release_carried_items(release).exists() or release_new_prompts(release).exists():
        return None
    counts = release_approved_by_taxonomy()
    total = sum(counts.values())
    code = release.taxonomy.code
    if release.parent_id:
        head = gettext("no approved prompt matches this release and it carries no item of its parent %(parent)s") % {
            "parent": release.parent.version}
    else:
        head = gettext("no approved prompt matches this release")
    if not total:
        return gettext("%(head)s: there are no approved prompts yet (approve candidates in review, or import approved "
                       "items)") % {"head": head}
    here = counts.get(code, 0)
    if not here:
        where = (gettext("taxonomy %(code)s") % {"code": next(iter(counts))} if len(counts) == 1
                 else gettext("taxonomies %(counts)s") % {"counts": _count_list(counts)})
        return ngettext("%(head)s: the approved prompt is in %(where)s, not %(taxonomy)s",
                        "%(head)s: the %(n)s approved prompts are in %(where)s, not %(taxonomy)s", total) % {
            "head": head, "n": total, "where": where, "taxonomy": code}
    filters = release.filters or {}
    if not filters.get("include_new", True):
        return gettext("%(head)s: it adds no new prompts (include_new is off), and taxonomy %(taxonomy)s has %(n)s "
                       "approved") % {"head": head, "taxonomy": code, "n": here}
    by_dim = dict(
        Prompt.objects.filter(status=Prompt.Status.APPROVED, dimension__taxonomy_id=release.taxonomy_id)
        .values_list("dimension__code")
        .annotate(n=Count("id"))
        .order_by("dimension__code")
        .values_list("dimension__code", "n")
    )
    active = [name for name in ("dimensions", "date_from", "date_to", "min_agreement") if filters.get(name) is not None
              and filters.get(name) != []]
    if active:
        why = gettext("the filters (%(filters)s) leave them all out") % {"filters": ", ".join(active)}
    elif release.parent_id:
        why = gettext("they are all in the parent release, retired or left out")
    else:
        why = gettext("they are all left out")
    return ngettext("%(head)s: the approved prompt of taxonomy %(taxonomy)s is in dimension %(dimensions)s, and "
                    "%(why)s",
                    "%(head)s: the %(n)s approved prompts of taxonomy %(taxonomy)s are in dimensions %(dimensions)s, "
                    "and %(why)s", here) % {
        "head": head, "n": here, "taxonomy": code, "dimensions": _count_list(by_dim), "why": why}


def _require_items(release: Release) -> None:
    reason = release_empty_reason(release)
    if reason:
        raise ReleaseError(reason)


def _clean_filters(taxonomy: Taxonomy, filters: dict[str, Any]) -> dict[str, Any]:
    known = {"dimensions", "date_from", "date_to", "min_agreement", "include_new"}
    unknown = set(filters) - known
    if unknown:
        raise ReleaseError(gettext("unknown filters: %(names)s") % {"names": ", ".join(sorted(unknown))})
    out: dict[str, Any] = {}
    raw_dims = filters.get("dimensions") or []
    if isinstance(raw_dims, str):  # one code, not its characters
        raw_dims = [raw_dims]
    dims = sorted({str(d).strip() for d in raw_dims if str(d).strip()})
    if dims:
        own = list(Dimension.objects.filter(taxonomy=taxonomy).values_list("code", flat=True))
        bad = [d for d in dims if d not in own]
        if bad:
            raise ReleaseError(gettext("taxonomy %(taxonomy)s has no dimension %(bad)s (its dimensions: %(own)s)") % {
                "taxonomy": taxonomy.code, "bad": ", ".join(bad), "own": ", ".join(own)})
        out["dimensions"] = dims
    for key in ("date_from", "date_to"):
        value = filters.get(key)
        if value:
            try:
                out[key] = (value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))).isoformat()
            except ValueError:
                raise ReleaseError(gettext("%(field)s must be a date (YYYY-MM-DD), not %(value)s") % {"field": key, "value": repr(value)})
    if out.get("date_from") and out.get("date_to") and out["date_from"] > out["date_to"]:
        raise ReleaseError(gettext("date_from is after date_to"))
    agreement = filters.get("min_agreement")
    if agreement not in (None, ""):
        try:
            agreement = float(agreement)
        except (TypeError, ValueError):
            raise ReleaseError(gettext("min_agreement must be a number, not %(value)s") % {"value": repr(agreement)})
        if not -1 <= agreement <= 1:
            raise ReleaseError(gettext("min_agreement must be between -1 and 1"))
        out["min_agreement"] = agreement
    out["include_new"] = bool(filters.get("include_new", True))
    return out


def _check_holdout(fraction: Any) -> float:
    try:
        fraction = float(fraction or 0)
    except (TypeError, ValueError):
        raise ReleaseError(gettext("the hold-out fraction must be a number, not %(value)s") % {"value": repr(fraction)})
    if not 0 <= fraction < 1:
        raise ReleaseError(gettext("the hold-out fraction must be at least 0 and below 1"))
    return fraction


def _resolve_parent(parent: Release | str | None, taxonomy: Taxonomy, version: str) -> Release | None:
    if parent == LATEST:
        return release_latest_frozen(taxonomy_id=taxonomy.pk)
    if parent in (None, ""):
        return None
    if isinstance(parent, str):
        found = Release.objects.filter(version=parent).first()
        if found is None:
            raise ReleaseError(gettext("no release %(version)s") % {"version": parent})
        parent = found
    if not parent.is_frozen:
        raise ReleaseError(gettext("the parent %(version)s is not frozen; only frozen releases can be parents") % {
            "version": parent.version})
    if parent.taxonomy_id != taxonomy.pk:
        raise ReleaseError(gettext(
            "the parent %(version)s uses taxonomy %(taxonomy)s; items carry over only within one taxonomy") % {
            "version": parent.version, "taxonomy": parent.taxonomy.code})
    if parent.version == version:
        raise ReleaseError(gettext("a release cannot be its own parent"))
    return parent


@transaction.atomic
def release_create_draft(
    *,
    version: str | None = None,
    title: str = "",
    notes: str = "",
    taxonomy: Taxonomy | str | None = None,
    parent: Release | str | None = LATEST,
    holdout_fraction: float = 0.0,
    filters: dict[str, Any] | None = None,
    actor=None,
    require_items: bool = False,
) -> Release:
    """Create a draft. `version` defaults to the next free `vYYMMDD[-N]` of today; `parent` to the latest;
    `taxonomy` to the one the approved prompts are in (`release_default_taxonomy`). With `require_items`, a draft
    that would freeze empty is refused (nothing is written) with `release_empty_reason`."""
    version = (version or "").strip() or release_next_version()
    try:
        rm.parse_version(version)
    except ValueError as exc:
        raise ReleaseError(str(exc))
    if Release.objects.filter(version=version).exists():
        raise ReleaseError(gettext("release %(version)s exists already; the next free one is %(next)s") % {
            "version": version, "next": release_next_version(day=rm.parse_version(version)[0])})
    if taxonomy in (None, ""):
        taxonomy = release_default_taxonomy()
    elif isinstance(taxonomy, str):
        found = Taxonomy.objects.filter(code=taxonomy).first()
        if found is None:
            raise ReleaseError(gettext("no taxonomy %(code)s") % {"code": taxonomy})
        taxonomy = found
    release = Release(
        version=version,
        title=_storable(title, gettext_lazy("Title")).strip()[:200],
        notes=_storable(notes, gettext_lazy("Notes")),
        taxonomy=taxonomy,
        parent=_resolve_parent(parent, taxonomy, version),
        holdout_fraction=_check_holdout(holdout_fraction),
        filters=_clean_filters(taxonomy, filters or {}),
        created_by=actor,
    )
    release.save()
    if require_items:
        _require_items(release)
    return release


def _lock_draft(release_id: int) -> Release:
    release = Release.objects.select_for_update(of=("self",)).select_related("taxonomy", "parent").get(pk=release_id)
    if release.is_frozen:
        raise FrozenReleaseError(gettext("release %(version)s is frozen and cannot change") % {"version": release.version})
    if release.status == Release.Status.FREEZING:
        raise ReleaseError(gettext("release %(version)s is being frozen; wait for it to finish or fail") % {
            "version": release.version})
    return release


def _reset_freeze(release: Release) -> None:
    """A changed draft invalidates any half-done freeze: drop its partial items and cursor."""
    if release.freeze_state or release.progress_done:
        # _raw_delete: the collector would load every row to look for protected references first.
        ReleaseItem.objects.filter(release_id=release.pk)._raw_delete(ReleaseItem.objects.db)
    release.freeze_state = {}
    release.progress_done = 0
    release.progress_total = 0
    release.freeze_error = ""


@transaction.atomic
def release_update_draft(
    *,
    release_id: int,
    actor=None,
    title: str | None = None,
    notes: str | None = None,
    parent: Release | str | None | type[Ellipsis] = ...,
    holdout_fraction: float | None = None,
    filters: dict[str, Any] | None = None,
) -> Release:
    release = _lock_draft(release_id)
    if title is not None:
        release.title = _storable(title, gettext_lazy("Title")).strip()[:200]
    if notes is not None:
        release.notes = _storable(notes, gettext_lazy("Notes"))
    if parent is not ...:
        new_parent = _resolve_parent(parent, release.taxonomy, release.version)
        if (new_parent and new_parent.pk) != release.parent_id:
            # Retirements point at the old parent's items.
            release.retirements.filter(parent_item__isnull=False).delete()
        release.parent = new_parent
    if holdout_fraction is not None:
        release.holdout_fraction = _check_holdout(holdout_fraction)
    if filters is not None:
        release.filters = _clean_filters(release.taxonomy, filters)
    _reset_freeze(release)
    release.save()
    return release


@transaction.atomic
def release_delete_draft(*, release_id: int, actor=None) -> None:
    release = _lock_draft(release_id)
    ReleaseItem.objects.filter(release_id=release.pk)._raw_delete(ReleaseItem.objects.db)
    release.retirements.all().delete()
    ReleaseExport.objects.filter(release_id=release.pk).delete()
    release.delete()


@transaction.atomic
def release_retire(*, release_id: int, public_ids: Sequence[str], reason: str, actor=None) -> int:
    """Leave items of the parent out of this draft, each with the reason. Returns how many were retired."""
    reason = (reason or "").strip()
    if not reason:
        raise ReleaseError(gettext("retiring an item needs a reason"))
    _storable(reason, gettext_lazy("Reason"))
    release = _lock_draft(release_id)
    if release.parent_id is None:
        raise ReleaseError(gettext("this draft has no parent, so there is nothing to retire"))
    wanted = list(dict.fromkeys(p.strip() for p in public_ids if p and p.strip()))
    items = list(
        ReleaseItem.objects.filter(release_id=release.parent_id, public_id__in=wanted).values_list("pk", "prompt_id", "public_id")
    )
    missing = set(wanted) - {p for _, _, p in items}
    if missing:
        raise ReleaseError(gettext("the parent %(version)s has no item %(ids)s") % {
            "version": release.parent.version, "ids": ", ".join(sorted(missing))})
    taken = set(release.retirements.values_list("prompt_id", flat=True))
    new = [
        ReleaseRetirement(release=release, prompt_id=prompt_id, parent_item_id=pk, reason=reason, created_by=actor)
        for pk, prompt_id, _ in items
        if prompt_id not in taken
    ]
    ReleaseRetirement.objects.bulk_create(new)
    _reset_freeze(release)
    release.save()
    return len(new)


@transaction.atomic
def release_unretire(*, release_id: int, prompt_ids: Sequence[int], actor=None) -> int:
    release = _lock_draft(release_id)
    deleted, _ = release.retirements.filter(prompt_id__in=prompt_ids).delete()
    _reset_freeze(release)
    release.save()
    return deleted


# ---------------------------------------------------------------------------------------------------------------
# Selection (what a freeze will copy)
# ---------------------------------------------------------------------------------------------------------------


def release_lineage_ids(release: Release) -> list[int]:
    """This release and its ancestors, nearest first."""
    ids: list[int] = []
    current: int | None = release.pk
    while current is not None and current not in ids:
        ids.append(current)
        current = Release.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return ids


def release_carried_items(release: Release):
    """Items of the parent that this draft carries over (all but the retired ones)."""
    if release.parent_id is None:
        return ReleaseItem.objects.none()
    retired = ReleaseRetirement.objects.filter(release_id=release.pk, prompt_id=OuterRef("prompt_id"))
    return ReleaseItem.objects.filter(release_id=release.parent_id).exclude(Exists(retired))


def release_new_prompts(release: Release):
    """Approved prompts this draft adds: the filters, minus the parent's prompts and anything left out on purpose
    by this release or an ancestor (a retired item does not come back as new)."""
    filters = release.filters or {}
    if not filters.get("include_new", True):
        return Prompt.objects.none()
    dims = Dimension.objects.filter(taxonomy_id=release.taxonomy_id)
    if filters.get("dimensions"):
        dims = dims.filter(code__in=filters["dimensions"])
    # A literal id list, not a join: joined, the planner misjudges how many prompts match and sorts every
    # remaining row for each chunk of a freeze.
    qs = Prompt.objects.filter(status=Prompt.Status.APPROVED, dimension_id__in=list(dims.values_list("pk", flat=True)))
    tz = timezone.get_current_timezone()
    if filters.get("date_from"):
        start = dt.datetime.combine(dt.date.fromisoformat(filters["date_from"]), dt.time.min, tzinfo=tz)
        qs = qs.filter(created_at__gte=start)
    if filters.get("date_to"):
        end = dt.datetime.combine(dt.date.fromisoformat(filters["date_to"]) + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        qs = qs.filter(created_at__lt=end)
    if filters.get("min_agreement") is not None:
        qs = qs.filter(Q(agreement__isnull=True) | Q(agreement__gte=filters["min_agreement"]))
    if release.parent_id is not None:
        qs = qs.exclude(Exists(ReleaseItem.objects.filter(release_id=release.parent_id, prompt_id=OuterRef("pk"))))
    left_out = ReleaseRetirement.objects.filter(release_id__in=release_lineage_ids(release), prompt_id=OuterRef("pk"))
    return qs.exclude(Exists(left_out))


@dataclass
class SelectionPreview:
    carried: int
    retired: int
    new: int
    by_dimension: dict[str, dict[str, int]]


def release_preview(release: Release) -> SelectionPreview:
    """Counts a freeze of this draft would produce now (before hold-out), per dimension code."""
    by_dim: dict[str, dict[str, int]] = {}
    for code, n in release_carried_items(release).values_list("dimension_code").annotate(n=Count("id")).values_list(
        "dimension_code", "n"
    ):
        by_dim.setdefault(code, {"carried": 0, "new": 0, "retired": 0})["carried"] = n
    for code, n in release_new_prompts(release).values_list("dimension__code").annotate(n=Count("id")).values_list(
        "dimension__code", "n"
    ):
        by_dim.setdefault(code, {"carried": 0, "new": 0, "retired": 0})["new"] = n
    for code, n in (
        ReleaseRetirement.objects.filter(release=release, parent_item__isnull=False)
        .values_list("parent_item__dimension_code")
        .annotate(n=Count("id"))
        .values_list("parent_item__dimension_code", "n")
    ):
        by_dim.setdefault(code, {"carried": 0, "new": 0, "retired": 0})["retired"] = n
    return SelectionPreview(
        carried=sum(v["carried"] for v in by_dim.values()),
        retired=sum(v["retired"] for v in by_dim.values()),
        new=sum(v["new"] for v in by_dim.values()),
        by_dimension=dict(sorted(by_dim.items())),
    )


# ---------------------------------------------------------------------------------------------------------------
# Freezing
# ---------------------------------------------------------------------------------------------------------------

ITEM_COLUMNS = (
    "release_id", "public_id", "prompt_id", "origin", "is_holdout", "text", "language", "taxonomy_code",
    "dimension_code", "dimension_name_zh", "dimension_name_en", "sub_dimension_code", "sub_dimension_name_zh",
    "sub_dimension_name_en", "labels", "reference_answers", "provenance", "agreement", "content_hash",
)
_JSON_COLUMNS = {"labels", "reference_answers", "provenance", "agreement"}
# Columns read back to rebuild an item's content (freeze of a child, verify, export).
CONTENT_COLUMNS = (
    "text", "language", "taxonomy_code", "dimension_code", "dimension_name_zh", "dimension_name_en",
    "sub_dimension_code", "sub_dimension_name_zh", "sub_dimension_name_en", "labels", "reference_answers",
    "provenance", "agreement",
)


def content_from_columns(values: Sequence[Any]) -> dict[str, Any]:
    """The hashed content of a stored item, from its CONTENT_COLUMNS values in order (JSON as text or parsed)."""
    (text, language, taxonomy, d_code, d_zh, d_en, s_code, s_zh, s_en, labels, refs, provenance, agreement) = values
    loads = rm.loads
    labels, refs, provenance, agreement = loads(labels), loads(refs), loads(provenance), loads(agreement)
    return rm.item_content(
        text=text,
        language=language,
        taxonomy=taxonomy,
        dimension=(d_code, d_zh, d_en),
        sub_dimension=(s_code, s_zh, s_en) if s_code else None,
        labels=labels,
        reference_answers=refs,
        provenance=provenance,
        agreement=agreement,
    )


def raw_rows(qs, fields: Sequence[str], *, stream: bool = False, chunk_size: int = 5000) -> Iterator[tuple]:
    """Rows of a queryset without Django's per-value converters: JSON columns come back as text for
    `rm.loads`, booleans may be 0/1 on SQLite. ~3x faster than values_list on wide rows; `stream` uses a
    server-side cursor so a million rows never sit in memory."""
    try:
        sql, params = qs.values_list(*fields).query.sql_with_params()
    except EmptyResultSet:  # e.g. .none()
        return
    cursor = connection.chunked_cursor() if stream else connection.cursor()
    try:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(chunk_size)
            if not rows:
                break
            yield from rows
    finally:
        cursor.close()


def _copy_escape(value: str) -> str:
    """A text field in PostgreSQL's COPY text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_line(row: tuple) -> str:
    e = _copy_escape
    (release_id, public, prompt_id, origin, holdout, text, language, taxonomy, d_code, d_zh, d_en, s_code, s_zh,
     s_en, labels, refs, prov, agr, h) = row
    return (
        f"{release_id}\t{e(public)}\t{prompt_id}\t{origin}\t{'t' if holdout else 'f'}\t{e(text)}\t{e(language)}\t"
        f"{e(taxonomy)}\t{e(d_code)}\t{e(d_zh)}\t{e(d_en)}\t{e(s_code)}\t{e(s_zh)}\t{e(s_en)}\t{e(labels)}\t"
        f"{e(refs)}\t{e(prov)}\t{e(agr)}\t{h}\n"
    )


def _insert_rows(rows: list[tuple]) -> None:
    """Append item rows: one COPY per chunk on PostgreSQL (formatted here, ~10x faster than INSERT), bulk_create
    elsewhere. Rows hold JSON columns as text (see `_row`)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        payload = "".join(map(_copy_line, rows))
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {ReleaseItem._meta.db_table} ({', '.join(ITEM_COLUMNS)}) FROM STDIN"
            ) as copy:
                copy.write(payload)
        return
    objs = []
    for row in rows:
        values = dict(zip(ITEM_COLUMNS, row, strict=True))
        for name in _JSON_COLUMNS:
            values[name] = rm.loads(values[name])
        objs.append(ReleaseItem(**values))
    ReleaseItem.objects.bulk_create(objs, batch_size=1000)


def _row(release_id: int, public: str, prompt_id: int, origin: str, holdout: bool, content: dict, h: str) -> tuple:
    dim = content["dimension"]
    sub = content["sub_dimension"] or {"code": "", "name_zh": "", "name_en": ""}
    j = rm.fast_json
    return (
        release_id, public, prompt_id, origin, holdout, content["text"], content["language"], content["taxonomy"],
        dim["code"], dim["name_zh"], dim["name_en"], sub["code"], sub["name_zh"], sub["name_en"],
        j(content["labels"]), j(content["reference_answers"]), j(content["provenance"]), j(content["agreement"]), h,
    )


class _Taxonomy:
    """Dimension, sub-dimension and technique names kept in memory for the whole freeze (a few hundred rows)."""

    def __init__(self, taxonomy: Taxonomy):
        self.code = taxonomy.code
        self.dims = {d.pk: (d.code, d.name_zh, d.name_en) for d in Dimension.objects.filter(taxonomy=taxonomy)}
        self.subs = {
            s.pk: (s.code, s.name_zh, s.name_en) for s in SubDimension.objects.filter(dimension__taxonomy=taxonomy)
        }
        self.techniques = dict(Technique.objects.values_list("pk", "code"))


PROMPT_FIELDS = (
    "pk", "text", "language", "dimension_id", "sub_dimension_id", "risk_expression", "severity",
    "expected_behaviour", "reference_answers", "source", "provenance", "metadata", "external_id", "agreement",
    "review_summary",
)


def prompt_content(values: Sequence[Any], technique_codes: Iterable[str], tax: _Taxonomy) -> dict[str, Any]:
    (_, text, language, dim_id, sub_id, risk, severity, expected, refs, source, provenance, metadata, external_id,
     agreement, review_summary) = values
    loads = rm.loads
    return rm.item_content(
        text=text,
        language=language or "zh",
        taxonomy=tax.code,
        dimension=tax.dims[dim_id],
        sub_dimension=tax.subs.get(sub_id) if sub_id else None,
        labels=rm.make_labels(
            risk_expression=risk, severity=severity, expected_behaviour=expected, techniques=technique_codes,
            metadata=loads(metadata),
        ),
        reference_answers=list(loads(refs) or []),
        provenance=rm.provenance_summary(source=source, external_id=external_id, provenance=loads(provenance)),
        agreement=rm.agreement_summary(agreement=agreement, review_summary=loads(review_summary)),
    )


def release_freeze_claim(*, release_id: int, actor=None) -> tuple[Release, bool]:
    """The one way into a freeze, queued or in this process: the checks, then the draft marked as freezing.

    Returns the release and whether this call started (or restarted) its freeze; False when a freeze of it is
    under way (its row moved within STALE_FREEZE_SECONDS). Call inside a transaction: the release row is locked.
    """
    release = Release.objects.select_for_update().get(pk=release_id)
    if release.is_frozen:
        raise FrozenReleaseError(gettext("release %(version)s is frozen already") % {"version": release.version})
    if release.status == Release.Status.FREEZING:
        # A freeze whose worker vanished (no redelivery) is started again; concurrent runs are safe because each
        # chunk locks the release row and continues from the committed cursor.
        if release.updated_at > timezone.now() - dt.timedelta(seconds=STALE_FREEZE_SECONDS):
            return release, False
    if release.parent_id and not Release.objects.filter(pk=release.parent_id, frozen_at__isnull=False).exists():
        raise ReleaseError(gettext("the parent release is not frozen"))
    _require_items(release)
    state = dict(release.freeze_state or {})
    state["by"] = getattr(actor, "pk", None)
    Release.objects.filter(pk=release.pk).update(
        status=Release.Status.FREEZING, freeze_state=state, freeze_error="", updated_at=timezone.now()
    )
    release.refresh_from_db()
    return release, True


@transaction.atomic
def release_freeze_start(*, release_id: int, actor=None) -> Release:
    """Mark a draft as freezing and queue the freeze; a failed freeze can be started again and resumes."""
    release, started = release_freeze_claim(release_id=release_id, actor=actor)
    if started:
        release_freeze_task = task("releases.tasks.release_freeze_task")

        transaction.on_commit(lambda: release_freeze_task.delay(release.pk))
    return release


def _initial_state(release: Release) -> dict[str, Any]:
    return {
        "phase": "carry",
        "cursor": "",
        "counts": rm.Counts().as_dict(),
        "stats": _Stats().as_dict(),
        "skipped_duplicates": 0,
        "long_ids": 0,
    }


@dataclass
class _Stats:
    """Agreement and provenance figures for the dataset card, accumulated during the freeze."""

    agreement_n: int = 0
    agreement_sum: float = 0.0
    agreement_min: float | None = None
    agreement_max: float | None = None
    agreement_hist: list[int] = field(default_factory=lambda: [0] * 10)
    by_source: dict[str, int] = field(default_factory=dict)
    with_reference: int = 0

    def add(self, content: dict[str, Any]) -> None:
        a = content["agreement"].get("agreement")
        if isinstance(a, int | float):
            self.agreement_n += 1
            self.agreement_sum += a
            self.agreement_min = a if self.agreement_min is None else min(self.agreement_min, a)
            self.agreement_max = a if self.agreement_max is None else max(self.agreement_max, a)
            self.agreement_hist[min(9, max(0, int(a * 10)))] += 1
        source = content["provenance"].get("source") or "unknown"
        self.by_source[source] = self.by_source.get(source, 0) + 1
        if content["reference_answers"]:
            self.with_reference += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "agreement_n": self.agreement_n,
            "agreement_sum": self.agreement_sum,
            "agreement_min": self.agreement_min,
            "agreement_max": self.agreement_max,
            "agreement_hist": list(self.agreement_hist),
            "by_source": dict(sorted(self.by_source.items())),
            "with_reference": self.with_reference,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> _Stats:
        s = cls()
        for k, v in (data or {}).items():
            setattr(s, k, v)
        s.agreement_hist = list(s.agreement_hist)
        s.by_source = dict(s.by_source)
        return s

    def summary(self) -> dict[str, Any]:
        return {
            "items_with_agreement": self.agreement_n,
            "agreement_mean": round(self.agreement_sum / self.agreement_n, 4) if self.agreement_n else None,
            "agreement_min": self.agreement_min,
            "agreement_max": self.agreement_max,
            "agreement_histogram": list(self.agreement_hist),
            "by_source": dict(sorted(self.by_source.items())),
            "items_with_reference_answers": self.with_reference,
        }


def _freeze_total(release: Release) -> int:
    return release_carried_items(release).count() + release_new_prompts(release).count()


def _carry_chunk(release: Release, state: dict, chunk: int, seen: rm.SeenFilter) -> int:
    # Keyset on public_id: the (release, public_id) index serves it directly, whatever else the table holds.
    fields = ("public_id", "public_id", "prompt_id", "is_holdout", "content_hash", *CONTENT_COLUMNS)
    qs = release_carried_items(release).filter(public_id__gt=state["cursor"] or "").order_by("public_id")
    batch = list(raw_rows(qs[:chunk], fields))
    if not batch:
        state["phase"], state["cursor"] = "add", 0
        return 0
    counts = rm.Counts.from_dict(state["counts"])
    stats = _Stats.from_dict(state["stats"])
    rows = []
    for _pk, public, prompt_id, was_holdout, h, *values in batch:
        content = content_from_columns(values)
        holdout = rm.is_holdout(h, release.holdout_fraction, held_out_in_parent=bool(was_holdout))
        rows.append(_row(release.pk, public, prompt_id, ReleaseItem.Origin.CARRIED, holdout, content, h))
        seen.add(rm.public_id(content["dimension"]["code"], h))
        counts.add(dimension=content["dimension"]["code"], technique_codes=content["labels"]["techniques"],
                   origin="carried", holdout=holdout)
        stats.add(content)
    _insert_rows(rows)
    state["cursor"] = batch[-1][0]
    state["counts"], state["stats"] = counts.as_dict(), stats.as_dict()
    return len(batch)


def _add_chunk(release: Release, state: dict, chunk: int, tax: _Taxonomy, seen: rm.SeenFilter) -> int:
    batch = list(raw_rows(release_new_prompts(release).filter(pk__gt=state["cursor"]).order_by("pk")[:chunk], PROMPT_FIELDS))
    if not batch:
        state["phase"] = "finish"
        return 0
    ids = [row[0] for row in batch]
    wanted = set(ids)
    techniques: dict[int, list[str]] = {}
    # A range, not a 5000-element IN list: the ids are sorted, and a range costs one index scan to plan and run.
    for prompt_id, technique_id in Prompt.techniques.through.objects.filter(
        prompt_id__gte=ids[0], prompt_id__lte=ids[-1]
    ).values_list("prompt_id", "technique_id"):
        if prompt_id in wanted:
            techniques.setdefault(prompt_id, []).append(tax.techniques[technique_id])
    prepared = []
    for values in batch:
        content = prompt_content(values, techniques.get(values[0], ()), tax)
        prepared.append((values[0], content, rm.item_hash(content)))

    # Public ids: `<dim>-<8 hex>`; when two items share that, the one with the smaller hash keeps it unless the
    # other was already published (carried), and the rest get 16 hex. Settled against rows already stored.
    # `seen` holds the short id of every stored item (its own or, for a 16-hex id, the one it would have had), so
    # one probe per item flags both id collisions and repeated content; only flagged items cost a query.
    maybe = [(rm.public_id(c["dimension"]["code"], h), h) for _, c, h in prepared]
    maybe = [(p, h) for p, h in maybe if p in seen]
    existing = _stored_matches(release.pk, [p for p, _ in maybe], [h for _, h in maybe]) if maybe else []
    stored_hashes = {row[2] for row in existing}
    holder: dict[str, tuple[int | None, str, str]] = {pub: (pk, h, origin) for pk, pub, h, origin in existing}
    counts = rm.Counts.from_dict(state["counts"])
    stats = _Stats.from_dict(state["stats"])
    demote: list[tuple[int, str]] = []
    final: list[tuple[int, dict, str, str]] = []
    seen_hashes: set[str] = set()
    for prompt_id, content, h in sorted(prepared, key=lambda p: p[2]):
        if h in stored_hashes or h in seen_hashes:
            state["skipped_duplicates"] = state.get("skipped_duplicates", 0) + 1
            continue
        seen_hashes.add(h)
        dim = content["dimension"]["code"]
        short = rm.public_id(dim, h)
        owner = holder.get(short)
        if owner is None:
            public = short
        elif owner[2] == ReleaseItem.Origin.ADDED and owner[0] is not None and h < owner[1]:
            demote.append((owner[0], rm.public_id(dim, owner[1], long=True)))
            public = short
        else:
            public = rm.public_id(dim, h, long=True)
        if public == short:
            holder[short] = (None, h, ReleaseItem.Origin.ADDED)
        else:
            state["long_ids"] = state.get("long_ids", 0) + 1
        final.append((prompt_id, content, h, public))
    for pk, long_id in demote:
        ReleaseItem.objects.filter(pk=pk).update(public_id=long_id)
        state["long_ids"] = state.get("long_ids", 0) + 1
    rows = []
    fraction = release.holdout_fraction
    for prompt_id, content, h, public in sorted(final, key=lambda f: f[0]):
        holdout = rm.is_holdout(h, fraction)
        rows.append(_row(release.pk, public, prompt_id, ReleaseItem.Origin.ADDED, holdout, content, h))
        seen.add(rm.public_id(content["dimension"]["code"], h))
        counts.add(dimension=content["dimension"]["code"], technique_codes=content["labels"]["techniques"],
                   origin="added", holdout=holdout)
        stats.add(content)
    _insert_rows(rows)
    state["cursor"] = ids[-1]
    state["counts"], state["stats"] = counts.as_dict(), stats.as_dict()
    return len(batch)


def _stored_matches(release_id: int, public_ids: list[str], hashes: list[str]) -> list[tuple]:
    """Stored items of the release that hold one of these public ids or hashes."""
    if connection.vendor == "postgresql":
        # Two array parameters instead of 10,000 placeholders: the client would spend longer building the SQL.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, public_id, content_hash, origin FROM {ReleaseItem._meta.db_table} "
                "WHERE release_id = %s AND (public_id = ANY(%s) OR content_hash = ANY(%s))",
                [release_id, public_ids, hashes],
            )
            return cursor.fetchall()
    return list(
        ReleaseItem.objects.filter(release_id=release_id)
        .filter(Q(public_id__in=public_ids) | Q(content_hash__in=hashes))
        .values_list("pk", "public_id", "content_hash", "origin")
    )


def release_freeze_run(*, release_id: int, chunk_size: int = CHUNK, on_chunk=None) -> Release:
    """Do the freeze that `release_freeze_start` queued. Each chunk commits with its cursor; safe to re-run."""
    release = Release.objects.select_related("taxonomy").get(pk=release_id)
    if release.is_frozen or release.status != Release.Status.FREEZING:
        return release
    tax = _Taxonomy(release.taxonomy)
    if not (release.freeze_state or {}).get("phase"):
        with transaction.atomic():
            locked = Release.objects.select_for_update().get(pk=release_id)
            # Two deliveries of the task may both have seen no phase: only the first one starts from scratch.
            if not (locked.freeze_state or {}).get("phase"):
                state = {**_initial_state(locked), "by": (locked.freeze_state or {}).get("by")}
                ReleaseItem.objects.filter(release_id=release_id)._raw_delete(ReleaseItem.objects.db)
                Release.objects.filter(pk=release_id).update(
                    freeze_state=state, progress_done=0, progress_total=_freeze_total(locked)
                )
    total, known_done = Release.objects.filter(pk=release_id).values_list("progress_total", "progress_done").first()
    seen = _learn_stored(release_id, total)
    while True:
        with transaction.atomic():
            release = Release.objects.select_for_update(of=("self",)).select_related("taxonomy").get(pk=release_id)
            if release.is_frozen or release.status != Release.Status.FREEZING:
                return release
            if release.progress_done != known_done:
                # Another copy of this freeze (a redelivered task, a recovery) committed chunks since this one
                # last looked: learn its items, so that id collisions and repeated texts are still seen.
                seen = _learn_stored(release_id, release.progress_total)
            state = dict(release.freeze_state)
            if state["phase"] == "carry":
                n = _carry_chunk(release, state, chunk_size, seen)
            elif state["phase"] == "add":
                n = _add_chunk(release, state, chunk_size, tax, seen)
            else:
                return _freeze_finish(release, state)
            known_done = release.progress_done + n
            Release.objects.filter(pk=release_id).update(
                freeze_state=state, progress_done=known_done, updated_at=timezone.now()
            )
        if on_chunk is not None:
            on_chunk(state)


def _learn_stored(release_id: int, expected: int) -> rm.SeenFilter:
    """The short ids of the items stored so far (one streamed pass), for a freeze that resumes or runs twice."""
    seen = rm.SeenFilter(expected or 0)
    for dim, h in raw_rows(ReleaseItem.objects.filter(release_id=release_id), ("dimension_code", "content_hash"), stream=True):
        seen.add(rm.public_id(dim, h))
    return seen


def _freeze_finish(release: Release, state: dict) -> Release:
    """Digest, manifest, contamination check, then set frozen_at: from here on the release never changes."""
    digest, public_digest = rm.Digest(), rm.Digest()
    rows = (
        ReleaseItem.objects.filter(release_id=release.pk)
        .order_by("content_hash")
        .values_list("content_hash", "is_holdout")
        .iterator(chunk_size=20000)
    )
    for h, holdout in rows:
        digest.add(h)
        if not holdout:
            public_digest.add(h)
    counts = rm.Counts.from_dict(state["counts"])
    if digest.count != counts.total:
        raise ReleaseError(f"the freeze wrote {digest.count} items but counted {counts.total}")
    if not counts.total:
        # The selection emptied while the freeze ran (prompts reopened, a parent item retired): an empty release
        # is never frozen; the failure is recorded and the draft stays editable.
        raise ReleaseError(release_empty_reason(release) or gettext("the freeze found no item to copy"))
    frozen_by_id = state.get("by")
    from django.contrib.auth import get_user_model

    frozen_by = get_user_model().objects.filter(pk=frozen_by_id).first() if frozen_by_id else None
    now = timezone.now()
    retired = ReleaseRetirement.objects.filter(release_id=release.pk, parent_item__isnull=False).count()
    manifest = rm.build_manifest(
        version=release.version,
        title=release.title,
        taxonomy=release.taxonomy.code,
        parent=release.parent.version if release.parent_id else None,
        frozen_at=now.isoformat(),
        frozen_by=frozen_by.get_username() if frozen_by else "",
        holdout_fraction=release.holdout_fraction,
        filters=release.filters,
        counts=counts,
        digest=digest.hexdigest(),
        public_digest=public_digest.hexdigest(),
        retired=retired,
    )
    manifest["stats"] = _Stats.from_dict(state["stats"]).summary()
    manifest["long_public_ids"] = state.get("long_ids", 0)
    warnings = release_contamination(release=release)
    Release.objects.filter(pk=release.pk, frozen_at__isnull=True).update(
        status=Release.Status.FROZEN,
        digest=digest.hexdigest(),
        public_digest=public_digest.hexdigest(),
        manifest=manifest,
        item_count=counts.total,
        public_count=counts.public,
        contamination=warnings,
        progress_done=counts.total,
        progress_total=counts.total,
        freeze_error="",
        freeze_state={},
        frozen_by=frozen_by,
        frozen_at=now,
        updated_at=now,
    )
    release_id = release.pk
    if getattr(settings, "RELEASE_EXPORT_ON_FREEZE", True):
        transaction.on_commit(lambda: release_export_start(release_id=release_id, scope=ReleaseExport.Scope.PUBLIC))
    return Release.objects.get(pk=release.pk)


def release_freeze_fail(*, release_id: int, error: str) -> None:
    """Record a failed freeze; the draft keeps its committed chunks, and freezing again resumes from there."""
    with transaction.atomic():
        Release.objects.filter(pk=release_id, frozen_at__isnull=True).update(
            status=Release.Status.DRAFT, freeze_error=error[:2000], updated_at=timezone.now()
        )


def release_freeze_now(*, release_id: int, actor=None, chunk_size: int = CHUNK) -> Release:
    """Freeze in this process (management command, demo, tests): the queued freeze's checks and start, then its
    run, recording a failure like the task. Refused while another freeze of the release is under way."""
    with transaction.atomic():
        release, started = release_freeze_claim(release_id=release_id, actor=actor)
    if not started:
        raise ReleaseError(
            gettext("release %(version)s is being frozen; wait for it to finish or fail") % {"version": release.version}
        )
    try:
        return release_freeze_run(release_id=release_id, chunk_size=chunk_size)
    except Exception as exc:
        release_freeze_fail(release_id=release_id, error=f"{type(exc).__name__}: {exc}")
        raise


# ---------------------------------------------------------------------------------------------------------------
# Contamination
# ---------------------------------------------------------------------------------------------------------------


def release_contamination(*, release: Release, threshold: float | None = None, limit: int = 1000) -> list[dict]:
    """Items this release adds that near-duplicate public items of earlier frozen releases.

    Only added items are checked: a carried item is the same item on purpose. Each earlier item counts once
    (under the first release that published it). The smaller side is indexed, the other streamed in batches.
    """
    threshold = threshold if threshold is not None else float(settings.DEDUP_NEAR_THRESHOLD)
    earlier = ReleaseItem.objects.filter(release__frozen_at__isnull=False, is_holdout=False).exclude(release_id=release.pk)
    added = ReleaseItem.objects.filter(release_id=release.pk, origin=ReleaseItem.Origin.ADDED)
    n_added = added.count()
    if not n_added or not earlier.exists():
        return []

    def earlier_rows() -> Iterator[tuple[tuple[str, str], str]]:
        last = None
        for h, version, public, text in raw_rows(
            earlier.order_by("content_hash", "release__frozen_at"),
            ("content_hash", "release__version", "public_id", "text"),
            stream=True,
        ):
            if h != last:
                last = h
                yield (version, public), text

    added_rows = ((public, text) for public, text in raw_rows(added.order_by("pk"), ("public_id", "text"), stream=True))
    n_earlier = earlier.count()
    max_index = getattr(settings, "RELEASE_CONTAMINATION_MAX_INDEX", 200_000)
    if min(n_added, n_earlier) > max_index:
        # Both sides too big to index in bounded memory: flag exact re-publication of earlier prompts instead.
        return _republished(release, earlier, limit)
    if n_added <= n_earlier:
        found = rm.near_duplicates(added_rows, earlier_rows(), threshold=threshold)
        results = [(m.match, m.key, m.similarity) for m in found]
    else:
        found = rm.near_duplicates(earlier_rows(), added_rows, threshold=threshold)
        results = [(m.key, m.match, m.similarity) for m in found]
    by_item: dict[str, list[dict]] = {}
    for added_id, (version, public), sim in results:
        by_item.setdefault(added_id, []).append({"version": version, "public_id": public, "similarity": sim})
    warnings = [
        {"public_id": pid, "matches": sorted(ms, key=lambda m: (-m["similarity"], m["version"], m["public_id"]))[:5]}
        for pid, ms in sorted(by_item.items())
    ]
    return warnings[:limit]


def _republished(release: Release, earlier, limit: int) -> list[dict]:
    same_prompt = earlier.filter(prompt_id=OuterRef("prompt_id"))
    rows = (
        ReleaseItem.objects.filter(release_id=release.pk, origin=ReleaseItem.Origin.ADDED)
        .filter(Exists(same_prompt))
        .order_by("public_id")[:limit]
    )
    warnings = []
    for item in rows:
        match = earlier.filter(prompt_id=item.prompt_id).select_related("release").order_by("release__frozen_at").first()
        warnings.append({
            "public_id": item.public_id,
            "matches": [{"version": match.release.version, "public_id": match.public_id, "similarity": 1.0}],
        })
    return warnings


# ---------------------------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------------------------

Scope = ReleaseExport.Scope
Fmt = ReleaseExport.Format


def export_file_name(version: str, scope: str, fmt: str) -> str:
    base = f"livesec-{version}" + ("-full" if scope == Scope.FULL else "")
    return {
        Fmt.JSONL: f"{base}.jsonl",
        Fmt.CSV: f"{base}.csv",
        Fmt.PARQUET: f"{base}.parquet",
        Fmt.MANIFEST: "manifest.json",
        Fmt.README: "README.md",
        Fmt.ZIP: f"{base}.zip",
    }[fmt]


def _export_dir(release: Release, scope: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / release.version / scope


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_is_current(export: ReleaseExport) -> bool:
    if export.status != ReleaseExport.Status.DONE or not export.path:
        return False
    path = Path(settings.MEDIA_ROOT) / export.path
    return path.is_file() and path.stat().st_size == export.size


@transaction.atomic
def release_export_start(*, release_id: int, scope: str = Scope.PUBLIC, actor=None, force: bool = False) -> list[ReleaseExport]:
    """Queue every export format of one scope unless they are stored and intact already."""
    release = Release.objects.get(pk=release_id)
    if not release.is_frozen:
        raise ReleaseError(gettext("release %(version)s is not frozen; only frozen releases are exported") % {
            "version": release.version})
    if scope not in Scope.values:
        raise ReleaseError(gettext("unknown export scope %(scope)s") % {"scope": repr(scope)})
    rows, created = [], False
    for fmt in EXPORT_FORMATS:
        export, new = ReleaseExport.objects.select_for_update().get_or_create(
            release=release, scope=scope, format=fmt, defaults={"created_by": actor}
        )
        rows.append(export)
        created = created or new
    if not force and not created:
        if all(export_is_current(e) for e in rows):
            return rows
        # Already queued or running: don't queue twice. A run whose worker vanished is queued again with force.
        if any(e.status in (ReleaseExport.Status.PENDING, ReleaseExport.Status.RUNNING) for e in rows):
            return rows
    ReleaseExport.objects.filter(pk__in=[e.pk for e in rows]).update(
        status=ReleaseExport.Status.PENDING, error="", progress_done=0, progress_total=release.item_count,
        created_by=actor,
    )
    release_export_task = task("releases.tasks.release_export_task")

    transaction.on_commit(lambda: release_export_task.delay(release_id, scope))
    return list(ReleaseExport.objects.filter(pk__in=[e.pk for e in rows]))


_exporting = ActiveSet()  # lease owners of the exports this process is writing now
_OPEN = (ReleaseExport.Status.PENDING, ReleaseExport.Status.RUNNING)


class _ExportLeaseLost(Exception):
    """The lease expired and another worker took the export over: this one's half-written folder is dropped."""


def _export_lease_seconds() -> float:
    return float(getattr(settings, "RELEASE_EXPORT_LEASE_SECONDS", 120))


def _export_held_by_other(owner: str, expires, now) -> bool:
    return bool(owner) and expires is not None and expires > now and not owner_dead(owner, owner, _exporting)


def _export_claim(release: Release, scope: str, owner: str, *, queued: bool) -> bool:
    """Take the lease on every row of (release, scope). False when another live worker holds it, or when a queued
    run finds nothing queued any more (a second delivery of a finished task)."""
    with transaction.atomic():
        for fmt in EXPORT_FORMATS:
            ReleaseExport.objects.get_or_create(release=release, scope=scope, format=fmt)
        # Rows locked in id order, as the renewal below locks them: two orders of the same rows deadlock.
        rows = list(ReleaseExport.objects.select_for_update().filter(release=release, scope=scope).order_by("pk"))
        if queued and not any(r.status in _OPEN for r in rows):
            return False
        now = timezone.now()
        if any(_export_held_by_other(r.lease_owner, r.lease_expires_at, now) for r in rows if r.lease_owner != owner):
            return False
        # Known as live before the lease is visible: a thread of this process must not see it as a finished task's.
        _exporting.add(owner)
        try:
            ReleaseExport.objects.filter(release=release, scope=scope).update(
                status=ReleaseExport.Status.RUNNING, progress_done=0, progress_total=release.item_count, error="",
                lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=_export_lease_seconds()),
            )
        except BaseException:
            _exporting.discard(owner)
            raise
    return True


def _export_renew(release: Release, scope: str, owner: str, **fields) -> None:
    expires = timezone.now() + dt.timedelta(seconds=_export_lease_seconds())
    with transaction.atomic():
        # In id order, as a claim locks them (an UPDATE alone takes its rows in whatever order it scans them).
        held = list(ReleaseExport.objects.select_for_update().filter(release=release, scope=scope, lease_owner=owner)
                    .order_by("pk").values_list("pk", flat=True))
        if not held or not ReleaseExport.objects.filter(pk__in=held).update(lease_expires_at=expires, **fields):
            raise _ExportLeaseLost


def release_export_run(*, release_id: int, scope: str = Scope.PUBLIC, queued: bool = False) -> list[ReleaseExport]:
    """Write every format of one scope under MEDIA_ROOT/exports/<version>/<scope>/ and record their sha256.

    The writer holds a lease on the scope's rows, so a second copy of the task (redelivered by the broker, or
    queued again by a recovery) leaves a live export alone. `queued` is the task's run: it does nothing unless
    the export is still pending or running, so a redelivered finished task writes no second set of files."""
    release = Release.objects.select_related("taxonomy").get(pk=release_id)
    if not release.is_frozen:
        raise ReleaseError(gettext("release %(version)s is not frozen") % {"version": release.version})
    owner = new_owner()
    if not _export_claim(release, scope, owner, queued=queued):
        if queued:
            return list(ReleaseExport.objects.filter(release=release, scope=scope))
        raise ReleaseError(gettext("release %(version)s (%(scope)s) is being exported by another worker") % {
            "version": release.version, "scope": scope})
    target = _export_dir(release, scope)
    token = owner.rsplit(":", 1)[1]
    tmp = target.with_name(f".{scope}-tmp-{token}")
    try:
        # Folders of a writer that is gone (killed mid-export): we hold the lease, so nobody else writes there.
        for stale in target.parent.glob(f".{scope}-*") if target.parent.exists() else ():
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir(parents=True)

        def progress(done: int) -> None:
            _export_renew(release, scope, owner, progress_done=done)

        written = write_export_files(release=release, scope=scope, directory=tmp, progress=progress)
        _export_renew(release, scope, owner)  # still ours: nobody else swaps a folder in
        # Swap the whole folder in at once, so a download never sees half of a new export.
        old = target.with_name(f".{scope}-old-{token}")
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _exporting.discard(owner)
        failed = ReleaseExport.objects.filter(release=release, scope=scope, lease_owner=owner).update(
            status=ReleaseExport.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now(),
            lease_owner="", lease_expires_at=None,
        )
        if not failed:  # the export was taken over: its new holder finishes it
            log.warning("export of %s (%s): lease lost to another worker; stopped", release.version, scope)
            return list(ReleaseExport.objects.filter(release=release, scope=scope))
        raise
    now = timezone.now()
    media = Path(settings.MEDIA_ROOT)
    for fmt, info in written.items():
        ReleaseExport.objects.filter(release=release, scope=scope, format=fmt).update(
            status=ReleaseExport.Status.DONE,
            path=str((target / info.name).relative_to(media)),
            size=info.size,
            sha256=info.sha256,
            rows=info.rows,
            progress_done=release.item_count,
            finished_at=now,
            lease_owner="",
            lease_expires_at=None,
        )
    _exporting.discard(owner)
    return list(ReleaseExport.objects.filter(release=release, scope=scope))


def releases_recover() -> tuple[list[int], list[tuple[int, str]]]:
    """Queue again the freezes and exports a killed worker left open; returns what was queued.

    Every freezing release is queued: copies of a freeze share its chunks (each takes the release's row lock and
    goes on from the committed cursor), so a copy beside a live one costs nothing twice. An export is queued when
    its lease is free, expired or held by a process of this host that is gone."""
    release_export_task = task("releases.tasks.release_export_task")
    release_freeze_task = task("releases.tasks.release_freeze_task")

    freezing = list(Release.objects.filter(status=Release.Status.FREEZING, frozen_at__isnull=True).values_list(
        "pk", flat=True))
    for release_id in freezing:
        release_freeze_task.delay(release_id)
    now = timezone.now()
    held, scopes = set(), set()
    for release_id, scope, owner, expires in ReleaseExport.objects.filter(status__in=_OPEN).values_list(
        "release_id", "scope", "lease_owner", "lease_expires_at"
    ):
        scopes.add((release_id, scope))
        if _export_held_by_other(owner, expires, now):
            held.add((release_id, scope))
    exports = sorted(scopes - held)
    for release_id, scope in exports:
        release_export_task.delay(release_id, scope)
    return freezing, exports


def release_export_fail(*, release_id: int, scope: str, error: str) -> None:
    # Rows under a lease belong to a live writer (one that took over after this task's failure): left alone.
    ReleaseExport.objects.filter(release_id=release_id, scope=scope, lease_owner="").exclude(
        status=ReleaseExport.Status.DONE
    ).update(status=ReleaseExport.Status.FAILED, error=error[:2000], finished_at=timezone.now())


@dataclass
class WrittenFile:
    name: str
    size: int
    sha256: str
    rows: int


def _release_memory() -> None:
    """Hand freed heap back to the OS after each row group, so RSS stays at one batch's worth (glibc keeps
    freed blocks of big strings otherwise)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _HashingWriter:
    """Writes UTF-8 and hashes it on the way, so no file is read back to hash it."""

    def __init__(self, path: Path, bom: bool = False):
        self._f = open(path, "wb", buffering=1 << 20)
        self._h = hashlib.sha256()
        self.size = 0
        if bom:
            self.write("\ufeff")

    def write(self, data: str | bytes) -> int:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self._f.write(raw)
        self._h.update(raw)
        self.size += len(raw)
        return len(data)

    def close(self) -> str:
        self._f.close()
        return self._h.hexdigest()


def release_date(release: Release) -> str:
    return timezone.localdate(release.frozen_at).isoformat() if release.frozen_at else ""


def iter_release_records(release: Release, *, scope: str = Scope.PUBLIC, chunk_size: int = 5000) -> Iterator[dict]:
    """Every item of a frozen release as a LiveSecBench record, in storage order (streamed)."""
    qs = ReleaseItem.objects.filter(release_id=release.pk)
    if scope == Scope.PUBLIC:
        qs = qs.filter(is_holdout=False)
    day = release_date(release)
    full = scope == Scope.FULL
    fields = ("public_id", "origin", "is_holdout", "content_hash", *CONTENT_COLUMNS)
    for public, origin, holdout, h, *values in raw_rows(qs.order_by("pk"), fields, stream=True, chunk_size=chunk_size):
        yield rm.livesec_record(
            public_id=public, version=release.version, release_date=day, content=content_from_columns(values),
            content_hash=h, origin=origin, holdout=bool(holdout) if full else None,
        )


def sorted_item_hashes(release: Release) -> Iterator[str]:
    return (
        ReleaseItem.objects.filter(release_id=release.pk)
        .order_by("content_hash")
        .values_list("content_hash", flat=True)
        .iterator(chunk_size=20000)
    )


def write_export_files(
    *, release: Release, scope: str, directory: Path, progress=None, timings: dict[str, float] | None = None
) -> dict[str, WrittenFile]:
    """One pass over the items writes JSONL, CSV and Parquet together; then manifest, card and the zip."""
    import time

    import pyarrow.parquet as pq

    timings = timings if timings is not None else {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now
        if progress:  # each step of a big export can take a while: the writer's lease is renewed between them
            progress(rows)

    names = {fmt: export_file_name(release.version, scope, fmt) for fmt in EXPORT_FORMATS}
    jsonl = _HashingWriter(directory / names[Fmt.JSONL])
    csv_out = _HashingWriter(directory / names[Fmt.CSV], bom=True)
    parquet_path = directory / names[Fmt.PARQUET]
    # Dictionary-encode only the repetitive columns: dictionaries over unique texts cost memory and gain nothing.
    parquet = pq.ParquetWriter(
        str(parquet_path), rm.parquet_schema(), compression="zstd", use_dictionary=list(rm.PARQUET_DICTIONARY_COLUMNS),
        write_statistics=list(rm.PARQUET_DICTIONARY_COLUMNS),
    )
    columns = rm.ParquetColumns()
    rows = 0
    row_group = int(getattr(settings, "RELEASE_EXPORT_ROW_GROUP", 0) or PARQUET_ROW_GROUP)
    json_line = rm.json_line
    lines: list[bytes] = []
    csv_buffer = io.StringIO()
    writer = csv.writer(csv_buffer, lineterminator="\r\n")
    writer.writerow(rm.CSV_COLUMNS)
    csv_cells = spreadsheet_row

    def flush() -> None:
        jsonl.write(b"".join(lines))
        lines.clear()
        csv_out.write(csv_buffer.getvalue())
        csv_buffer.seek(0)
        csv_buffer.truncate()

    try:
        for record in iter_release_records(release, scope=scope):
            lines.append(json_line(record))
            writer.writerow(csv_cells(rm.csv_row(record)))
            columns.add(record)
            rows += 1
            if rows % TEXT_FLUSH_ROWS == 0:
                flush()
            if len(columns) >= row_group:
                parquet.write_table(columns.table())
                columns = rm.ParquetColumns()
                _release_memory()
                if progress:
                    progress(rows)
        flush()
        if len(columns) or rows == 0:
            parquet.write_table(columns.table())
    finally:
        parquet.close()
        jsonl_sha, csv_sha = jsonl.close(), csv_out.close()
    written = {
        Fmt.JSONL: WrittenFile(names[Fmt.JSONL], jsonl.size, jsonl_sha, rows),
        Fmt.CSV: WrittenFile(names[Fmt.CSV], csv_out.size, csv_sha, rows),
        Fmt.PARQUET: WrittenFile(names[Fmt.PARQUET], parquet_path.stat().st_size, _file_sha256(parquet_path), rows),
    }
    lap("export jsonl+csv+parquet")
    manifest = dict(release.manifest)
    manifest["export_scope"] = scope
    out = _HashingWriter(directory / names[Fmt.MANIFEST])
    rm.write_manifest_json(manifest, sorted_item_hashes(release), out)
    written[Fmt.MANIFEST] = WrittenFile(names[Fmt.MANIFEST], out.size, out.close(), release.item_count)
    lap("export manifest.json")
    card = release_dataset_card(release, scope=scope, files={fmt: w for fmt, w in written.items()})
    out = _HashingWriter(directory / names[Fmt.README])
    out.write(card)
    written[Fmt.README] = WrittenFile(names[Fmt.README], out.size, out.close(), 0)
    lap("export README.md")
    written[Fmt.ZIP] = _write_zip(release, directory, names, written)
    lap("export zip + SHA256SUMS")
    return written


def _write_zip(release: Release, directory: Path, names: dict[str, str], written: dict[str, WrittenFile]) -> WrittenFile:
    """The zip holds every file plus SHA256SUMS; fixed timestamps make it byte-for-byte reproducible."""
    folder = names[Fmt.ZIP].removesuffix(".zip")
    stamp = timezone.localtime(release.frozen_at).timetuple()[:6]
    path = directory / names[Fmt.ZIP]
    inner = [Fmt.JSONL, Fmt.CSV, Fmt.PARQUET, Fmt.MANIFEST, Fmt.README]
    sums = "".join(f"{written[f].sha256}  {names[f]}\n" for f in inner)
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for fmt in inner:
            info = zipfile.ZipInfo(f"{folder}/{names[fmt]}", date_time=stamp)
            info.external_attr = 0o644 << 16
            # Parquet is compressed already; the text files deflate ~5x at the fastest level.
            info.compress_type = zipfile.ZIP_STORED if fmt == Fmt.PARQUET else zipfile.ZIP_DEFLATED
            info._compresslevel = 1
            with open(directory / names[fmt], "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        info = zipfile.ZipInfo(f"{folder}/SHA256SUMS", date_time=stamp)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, sums)
    return WrittenFile(names[Fmt.ZIP], path.stat().st_size, _file_sha256(path), written[Fmt.JSONL].rows)


LICENSE_DEFAULT = "CC BY-NC-SA 4.0"


def release_dataset_card(release: Release, *, scope: str, files: dict[str, WrittenFile]) -> str:
    dims = {d.code: d for d in Dimension.objects.filter(taxonomy=release.taxonomy)}
    techniques = dict(Technique.objects.values_list("code", "name_zh"))
    return rm.dataset_card(
        manifest=release.manifest,
        scope=scope,
        dimension_names={code: (d.name_zh, d.name_en) for code, d in dims.items()},
        technique_names=techniques,
        taxonomy_name=f"{release.taxonomy.name_zh} / {release.taxonomy.name_en}",
        notes=release.notes,
        files={names_fmt: (w.name, w.sha256, w.rows) for names_fmt, w in files.items()},
        license=getattr(settings, "RELEASE_LICENSE", LICENSE_DEFAULT),
        release_date=release_date(release),
    )


def export_path(export: ReleaseExport) -> Path:
    return Path(settings.MEDIA_ROOT) / export.path


# ---------------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    version: str
    items_checked: int = 0
    exports_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str, limit: int = 200) -> None:
        if len(self.problems) < limit:
            self.problems.append(message)
        elif len(self.problems) == limit:
            self.problems.append("… more problems not shown")


def release_verify(*, version: str, check_exports: bool = True) -> VerifyReport:
    """Recompute every item hash, public id, hold-out flag, count and digest of a frozen release (streamed)."""
    release = Release.objects.select_related("taxonomy").filter(version=version).first()
    report = VerifyReport(version=version)
    if release is None:
        report.problem(f"no release {version}")
        return report
    if not release.is_frozen:
        report.problem(f"release {version} is not frozen")
        return report
    digest, public_digest = rm.Digest(), rm.Digest()
    counts = rm.Counts()
    previous = ""
    rows = raw_rows(
        ReleaseItem.objects.filter(release_id=release.pk).order_by("content_hash"),
        ("public_id", "origin", "is_holdout", "content_hash", *CONTENT_COLUMNS),
        stream=True,
    )
    for public, origin, holdout, stored, *values in rows:
        holdout = bool(holdout)
        report.items_checked += 1
        try:
            content = content_from_columns(values)
            actual = rm.item_hash(content)
        except (TypeError, ValueError, KeyError) as exc:
            report.problem(f"{public}: content cannot be read ({exc})")
            continue
        if actual != stored:
            report.problem(f"{public}: content hash mismatch (stored {stored[:12]}…, recomputed {actual[:12]}…)")
        if not rm.public_id_matches(public, content["dimension"]["code"], actual):
            report.problem(f"{public}: public id does not match its dimension and hash")
        expected_holdout = rm.holdout_bucket(stored) < release.holdout_fraction
        if holdout != expected_holdout:
            parent_holdout = (
                origin == ReleaseItem.Origin.CARRIED
                and release.parent_id is not None
                and ReleaseItem.objects.filter(release_id=release.parent_id, content_hash=stored, is_holdout=True).exists()
            )
            if not (holdout and parent_holdout):
                report.problem(f"{public}: hold-out flag {holdout} does not follow the hold-out rule")
        if stored == previous:
            report.problem(f"{public}: duplicate item hash")
            continue
        previous = stored
        digest.add(stored)
        if not holdout:
            public_digest.add(stored)
        counts.add(dimension=content["dimension"]["code"], technique_codes=content["labels"].get("techniques", []),
                   origin=origin, holdout=holdout)
    if digest.hexdigest() != release.digest:
        report.problem(f"release digest mismatch (stored {release.digest}, recomputed {digest.hexdigest()})")
    if public_digest.hexdigest() != release.public_digest:
        report.problem("public digest mismatch")
    manifest = release.manifest or {}
    if manifest.get("digest") != release.digest or manifest.get("public_digest") != release.public_digest:
        report.problem("the manifest's digests differ from the release's")
    if (manifest.get("counts") or {}) != counts.as_dict():
        report.problem("the manifest's counts differ from the items")
    if release.item_count != counts.total or release.public_count != counts.public:
        report.problem(f"item counts differ (stored {release.item_count}/{release.public_count}, found {counts.total}/{counts.public})")
    if check_exports:
        for export in ReleaseExport.objects.filter(release=release, status=ReleaseExport.Status.DONE):
            report.exports_checked += 1
            path = export_path(export)
            if not path.is_file():
                report.problem(f"export {export.scope}/{export.format}: file {export.path} is missing")
            elif _file_sha256(path) != export.sha256:
                report.problem(f"export {export.scope}/{export.format}: sha256 mismatch")
            elif export.format == Fmt.MANIFEST:
                head = _manifest_head(path)
                if head.get("digest") != release.digest:
                    report.problem(f"export {export.scope}/manifest.json: digest differs from the release's")
    return report


def _manifest_head(path: Path) -> dict[str, Any]:
    """The manifest.json fields before its (long) hash list."""
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(' "item_hashes"'):
                break
            lines.append(line)
    text = "".join(lines).rstrip().rstrip(",") + "\n}"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


# ---------------------------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------------------------


def release_diff(release: Release) -> dict[str, Any]:
    """Against the parent: added / retired / carried per dimension (frozen: from the items; draft: a preview)."""
    if release.is_frozen:
        added: dict[str, int] = {}
        carried: dict[str, int] = {}
        for code, origin, n in (
            ReleaseItem.objects.filter(release=release).values_list("dimension_code", "origin").annotate(n=Count("id"))
            .values_list("dimension_code", "origin", "n")
        ):
            (added if origin == ReleaseItem.Origin.ADDED else carried)[code] = n
    else:
        preview = release_preview(release)
        added = {k: v["new"] for k, v in preview.by_dimension.items() if v["new"]}
        carried = {k: v["carried"] for k, v in preview.by_dimension.items() if v["carried"]}
    retired = dict(
        ReleaseRetirement.objects.filter(release=release, parent_item__isnull=False)
        .values_list("parent_item__dimension_code")
        .annotate(n=Count("id"))
        .values_list("parent_item__dimension_code", "n")
    )
    summary = rm.diff_summary(added=added, carried=carried, retired=retired)
    summary["parent"] = release.parent.version if release.parent_id else None
    summary["preview"] = not release.is_frozen
    return summary


def release_diff_items(release: Release, *, kind: str, dimension: str = ""):
    """Rows for one list of the diff: `added` / `carried` items of this release, or `retired` parent items."""
    if kind == "retired":
        qs = ReleaseRetirement.objects.filter(release=release, parent_item__isnull=False).select_related("parent_item")
        if dimension:
            qs = qs.filter(parent_item__dimension_code=dimension)
        return qs.order_by("parent_item__public_id")
    if kind not in ("added", "carried", "all"):
        raise ReleaseError(gettext("unknown diff list %(kind)s") % {"kind": repr(kind)})
    if not release.is_frozen and kind == "added":
        qs = release_new_prompts(release).select_related("dimension", "sub_dimension")
        return qs.filter(dimension__code=dimension).order_by("pk") if dimension else qs.order_by("pk")
    if not release.is_frozen and kind == "carried":
        qs = release_carried_items(release)
        return qs.filter(dimension_code=dimension).order_by("public_id") if dimension else qs.order_by("public_id")
    qs = ReleaseItem.objects.filter(release=release)
    if kind != "all":
        qs = qs.filter(origin=kind)
    if dimension:
        qs = qs.filter(dimension_code=dimension)
    return qs.order_by("public_id")
