"""Reads for inter-annotator agreement: the frames, the dashboard numbers, per-item scores.

Two queries build the frames whatever the size (annotations, then final labels of decided prompts),
plus three small look-ups for names and the texts of the few most disagreed items. Nothing is cached:
the numbers are always those of the database at the time of the request.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max, QuerySet
from django.utils import timezone

from curation.models import Dimension, Prompt

from . import agreement_report as report
from .agreement import field_summary
from .models import Annotation

_ANNOTATION_VALUES = (
    ("item", "prompt_id"),
    ("annotator", "annotator_id"),
    ("decision", "decision"),
    ("dimension", "dimension_id"),
    ("risk_expression", "risk_expression"),
    ("severity", "severity"),
    ("expected_behaviour", "expected_behaviour"),
    ("seconds", "seconds_spent"),
    ("is_surplus", "is_surplus"),
    ("submitted_at", "submitted_at"),
)
_FINAL_VALUES = (
    ("item", "id"),
    ("status", "status"),
    ("dimension", "dimension_id"),
    ("risk_expression", "risk_expression"),
    ("severity", "severity"),
    ("expected_behaviour", "expected_behaviour"),
    ("review_summary", "review_summary"),
)
DECIDED = (Prompt.Status.APPROVED, Prompt.Status.REJECTED)
_IDS_PER_QUERY = 20_000


@dataclass(frozen=True)
class AgreementFilters:
    """Which annotations the figures rest on.

    - ``queue``: annotations made in that review queue;
    - ``dimension``: prompts currently filed under that dimension (the prompt's, not an annotator's label,
      so that filtering never biases the dimension agreement itself);
    - ``annotator``: the items that annotator annotated, with everyone's annotations on them (an
      annotator's agreement only exists relative to the others);
    - ``since`` / ``until``: items whose latest annotation came in on those local dates (inclusive), so
      an item is never cut in half by the range;
    - ``prompt_ids``: only these prompts (used by releases).
    """

    queue: int | None = None
    dimension: int | None = None
    annotator: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    prompt_ids: tuple[int, ...] | None = field(default=None)

    def as_params(self) -> dict[str, Any]:
        return {
            "queue": self.queue, "dimension": self.dimension, "annotator": self.annotator,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


def annotation_queryset(filters: AgreementFilters) -> QuerySet[Annotation]:
    qs = Annotation.objects.all()
    if filters.queue is not None:
        qs = qs.filter(queue_id=filters.queue)
    if filters.dimension is not None:
        qs = qs.filter(prompt__dimension_id=filters.dimension)
    if filters.prompt_ids is not None:
        qs = qs.filter(prompt_id__in=list(filters.prompt_ids))
    if filters.annotator is not None:
        qs = qs.filter(prompt_id__in=qs.filter(annotator_id=filters.annotator).values("prompt_id"))
    if filters.since is not None or filters.until is not None:
        latest = qs.order_by().values("prompt_id").annotate(latest=Max("submitted_at"))
        if filters.since is not None:
            latest = latest.filter(latest__gte=_local_midnight(filters.since))
        if filters.until is not None:
            latest = latest.filter(latest__lt=_local_midnight(filters.until + dt.timedelta(days=1)))
        qs = qs.filter(prompt_id__in=latest.values("prompt_id"))
    return qs.order_by()


def _frame(qs: QuerySet, columns: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    names = [name for name, _ in columns]
    rows = qs.values_list(*[attr for _, attr in columns])
    return pd.DataFrame.from_records(list(rows), columns=names)


def _pieces(filters: AgreementFilters) -> list[AgreementFilters]:
    """Split a long prompt id list: a query may carry at most 65535 parameters on PostgreSQL."""
    if filters.prompt_ids is None or len(filters.prompt_ids) <= _IDS_PER_QUERY:
        return [filters]
    ids = filters.prompt_ids
    return [replace(filters, prompt_ids=ids[i : i + _IDS_PER_QUERY]) for i in range(0, len(ids), _IDS_PER_QUERY)]


def _frames(filters: AgreementFilters, build) -> pd.DataFrame:
    parts = [build(piece) for piece in _pieces(filters)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else pd.DataFrame())


def annotation_frame(filters: AgreementFilters) -> pd.DataFrame:
    """One row per annotation matching the filters (one query)."""
    df = _frames(filters, lambda f: _frame(annotation_queryset(f), _ANNOTATION_VALUES))
    return df if len(df) else report.empty_annotations()


def final_frame(filters: AgreementFilters) -> pd.DataFrame:
    """Final labels of the decided prompts among the filtered annotations' prompts (one query)."""

    def build(f: AgreementFilters) -> pd.DataFrame:
        prompts = Prompt.objects.filter(
            status__in=DECIDED, pk__in=annotation_queryset(f).values("prompt_id")
        ).order_by()
        return _frame(prompts, _FINAL_VALUES)

    df = _frames(filters, build)
    if len(df) == 0:
        return report.empty_finals()
    df["resolution"] = [report.summary_resolution(s) for s in df.pop("review_summary")]
    return df.set_index("item")


def _user_names(ids: Iterable[Any]) -> dict[int, str]:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    User = get_user_model()
    return dict(User.objects.filter(pk__in=ids).values_list("pk", User.USERNAME_FIELD))


def dimension_names() -> dict[int, dict[str, str]]:
    return {
        pk: {"code": code, "name_zh": zh, "name_en": en, "taxonomy": tax}
        for pk, code, zh, en, tax in Dimension.objects.values_list(
            "pk", "code", "name_zh", "name_en", "taxonomy__code"
        )
    }


def agreement_frames(filters: AgreementFilters) -> tuple[pd.DataFrame, pd.DataFrame]:
    return annotation_frame(filters), final_frame(filters)


def agreement_dashboard(
    *,
    filters: AgreementFilters,
    field: str = report.DEFAULT_FIELD,
    min_shared: int = 10,
    n_boot: int = 1000,
    top_n: int = 20,
) -> dict[str, Any]:
    """All dashboard / API numbers for the filters, plus the names and texts needed to show them."""
    annotations, finals = agreement_frames(filters)
    data = report.compute_dashboard(
        annotations, finals, field=field, min_shared=min_shared, n_boot=n_boot, top_n=top_n,
        tz=settings.TIME_ZONE,
    )
    ids = {row["annotator"] for row in data["annotators"]} | set(data["kappa"]["annotators"])
    names = _user_names(ids)
    for row in data["annotators"]:
        row["username"] = names.get(row["annotator"], str(row["annotator"]))
    data["kappa"]["usernames"] = [names.get(a, str(a)) for a in data["kappa"]["annotators"]]
    texts = dict(
        Prompt.objects.filter(pk__in=[d["item"] for d in data["disagreed"]]).values_list("pk", "text")
    )
    for row in data["disagreed"]:
        row["text"] = texts.get(row["item"], "")
    data["filters"] = filters.as_params()
    return data


def item_annotator_matrix(*, filters: AgreementFilters, field: str) -> tuple[pd.DataFrame, dict[int, str]]:
    """Item x annotator values of one field (for the CSV download) and the annotators' names."""
    annotations, finals = agreement_frames(filters)
    table = report.matrix_table(annotations, finals, field)
    annotator_columns = [c for c in table.columns if c not in ("final", "agreement", "n_annotations")]
    return table, _user_names(annotator_columns)


# --------------------------------------------------------------------------- per-item agreement


def prompt_agreement_scores(*, prompt_ids: Iterable[int]) -> dict[int, float]:
    """Derived per-item agreement, from all annotations of each prompt.

    The score is the mean over the fields (decision, dimension, risk expression, severity, expected
    behaviour) of the share of annotator pairs giving the same value, counting a field only where
    two or more annotators gave one. Prompts with fewer than two annotations have no score.
    """
    ids = tuple(sorted(set(int(i) for i in prompt_ids)))
    if not ids:
        return {}
    scores = report.item_scores(annotation_frame(AgreementFilters(prompt_ids=ids)))
    if "score" not in scores.columns:
        return {}
    return {int(k): float(v) for k, v in scores["score"].items() if v is not None and math.isfinite(v)}


def prompts_meeting_min_agreement(*, prompt_ids: Iterable[int], minimum: float) -> list[int]:
    """The prompts whose agreement is at least ``minimum``, for a release that demands one.

    ``Prompt.agreement`` (stored by the review workflow when it decides) wins where set; otherwise the
    derived score is used. Prompts with no agreement at all (fewer than two annotations, e.g.
    imported as approved) pass: there is nothing to hold against them.
    """
    ids = sorted(set(int(i) for i in prompt_ids))
    stored = dict(Prompt.objects.filter(pk__in=ids).values_list("pk", "agreement"))
    derived = prompt_agreement_scores(prompt_ids=[pk for pk in ids if stored.get(pk) is None])
    keep = []
    for pk in ids:
        if pk not in stored:
            continue
        score = stored[pk] if stored[pk] is not None else derived.get(pk)
        if score is None or score >= minimum:
            keep.append(pk)
    return keep


def agreement_summary(*, prompt_ids: Iterable[int], n_boot: int = 1000) -> list[dict[str, Any]]:
    """Headline figures per field for a set of prompts (e.g. a release's dataset card)."""
    ids = tuple(sorted(set(int(i) for i in prompt_ids)))
    annotations = annotation_frame(AgreementFilters(prompt_ids=ids)) if ids else report.empty_annotations()
    out = []
    for name, spec in report.FIELDS.items():
        summary = field_summary(report.field_frame(annotations, name), spec.level, n_boot=n_boot, order=spec.order)
        out.append({"field": name, **summary})
    return out
