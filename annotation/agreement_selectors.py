"""Reads for inter-annotator agreement: the frames, the dashboard numbers, per-item scores.

Two queries build the frames whatever the size (annotations, then final labels of decided prompts),
plus three small look-ups for names and the texts of the few most disagreed items. Nothing is cached:
the numbers are always those of the database at the time of the request.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, Case, CharField, F, FloatField, Func, Max, Q, QuerySet, Value, When
from django.utils import timezone

from curation.models import Dimension, Prompt

from . import agreement_report as report
from .agreement import field_summary
from .models import Annotation

# (frame column, queryset field, kind). "num" and "bool" come back as floats (NaN for NULL); a tuple of
# choices or "text" comes back as a categorical column ("" for NULL or blank).
_ANNOTATION_VALUES = (
    ("item", "prompt_id", "num"),
    ("annotator", "annotator_id", "num"),
    ("decision", "decision", tuple(Annotation.Decision.values)),
    ("dimension", "dimension_id", "num"),
    ("risk_expression", "risk_expression", tuple(Prompt.RiskExpression.values)),
    ("severity", "severity", "num"),
    ("expected_behaviour", "expected_behaviour", tuple(Prompt.ExpectedBehaviour.values)),
    ("seconds", "seconds_spent", "num"),
    ("is_surplus", "is_surplus", "bool"),
    ("submitted", "submitted", "num"),  # annotation: EpochSeconds("submitted_at")
)
_FINAL_VALUES = (
    ("item", "id", "num"),
    ("status", "status", tuple(Prompt.Status.values)),
    ("dimension", "dimension_id", "num"),
    ("risk_expression", "risk_expression", tuple(Prompt.RiskExpression.values)),
    ("severity", "severity", "num"),
    ("expected_behaviour", "expected_behaviour", tuple(Prompt.ExpectedBehaviour.values)),
    ("resolution", "resolution", report.RESOLUTIONS),  # annotation: _resolution()
)
_ID_COLUMNS = ("item", "annotator")
_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a choice value
_CHOICE = re.compile(r"^[A-Za-z0-9_]+$")

DECIDED = (Prompt.Status.APPROVED, Prompt.Status.REJECTED)
_IDS_PER_QUERY = 20_000

# How the review workflow may record, in Prompt.review_summary, that a maintainer adjudicated.
_ADJUDICATED_FLAG = "adjudicated"
_ADJUDICATOR_KEYS = ("adjudicator", "adjudicator_id", "adjudicated_by", "adjudication")
_METHOD_KEYS = ("method", "resolution", "decided_by", "via", "outcome", "kind", "source")


class EpochSeconds(Func):
    """A datetime as float seconds since the Unix epoch.

    pandas turns a float column into local weeks in milliseconds, while the driver takes seconds to turn
    300k timestamps into Python datetimes.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        # date_part() returns a double; EXTRACT() goes through numeric and costs three times as much.
        return self.as_sql(compiler, connection, template="date_part('epoch', %(expressions)s)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra)

    def as_mysql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="UNIX_TIMESTAMP(%(expressions)s)", **extra)


class EqualsAny(Func):
    """``column = ANY(array)`` (PostgreSQL): any number of ids travel as ONE array parameter, where
    ``IN (...)`` would need a placeholder each and stop at 65535 of them."""

    output_field = BooleanField()

    def __init__(self, column: str, values: Iterable[int]):
        ids = np.asarray(values if hasattr(values, "__len__") else list(values), dtype=np.int64)
        # An array literal: the driver would adapt a 100k-element list one element at a time.
        self.literal = "{" + ",".join(map(str, ids.tolist())) + "}"
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        return f"{lhs} = ANY(CAST(%s AS bigint[]))", (*params, self.literal)


def _id_in(column: str, ids: Iterable[int]):
    return EqualsAny(column, ids) if connection.vendor == "postgresql" else Q(**{f"{column}__in": list(ids)})


def _resolution() -> Case:
    """'adjudicated', 'consensus' or 'unknown', read defensively from ``Prompt.review_summary`` in SQL.

    Adjudicated: ``adjudicated: true``; or an adjudicator key with a value; or a method-like key whose
    text mentions adjudication. Unknown: an empty summary (e.g. approved at import). Else consensus.
    Each key-by-key test sits behind one "has any of these keys" test, so a summary without such keys
    costs a few operators per row.
    """
    named = Q()
    for key in _ADJUDICATOR_KEYS:
        named |= (
            Q(review_summary__has_key=key)
            & ~Q(**{f"review_summary__{key}": None})
            & ~Q(**{f"review_summary__{key}": False})
            & ~Q(**{f"review_summary__{key}": ""})
        )
    described = Q()
    for key in _METHOD_KEYS:
        described |= Q(**{f"review_summary__{key}__icontains": "adjudic"})
    return Case(
        When(review_summary={}, then=Value("unknown")),
        When(**{f"review_summary__{_ADJUDICATED_FLAG}": True}, then=Value("adjudicated")),
        When(Q(review_summary__has_any_keys=list(_ADJUDICATOR_KEYS)) & named, then=Value("adjudicated")),
        When(Q(review_summary__has_any_keys=list(_METHOD_KEYS)) & described, then=Value("adjudicated")),
        default=Value("consensus"),
        output_field=CharField(),
    )


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
        qs = qs.filter(_id_in("prompt_id", filters.prompt_ids))
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


def _frame(qs: QuerySet, columns: tuple[tuple[str, str, Any], ...]) -> pd.DataFrame:
    """Run a values query into a DataFrame: numeric columns as floats (ids as ints), text as categories."""
    attrs = {attr: (name, kind) for name, attr, kind in columns}
    values = qs.values_list(*attrs)
    if connection.vendor == "postgresql":
        try:
            raw = _pg_columns(values.query, attrs)
        except _UnknownChoice:
            # A value outside the model's choices: exact, slower text transfer for this query.
            as_text = {a: (n, "text" if isinstance(k, tuple) else k) for a, (n, k) in attrs.items()}
            raw = _pg_columns(values.query, as_text)
    else:
        rows = list(values)
        raw = {}
        for i, (attr, (_, kind)) in enumerate(attrs.items()):
            column = [row[i] for row in rows]
            if kind in ("num", "bool"):
                raw[attr] = np.array([np.nan if v is None else float(v) for v in column], dtype=float)
            else:
                raw[attr] = ["" if v is None else v for v in column]
    out = {}
    for attr, (name, _) in attrs.items():
        column = raw[attr]
        if isinstance(column, pd.Categorical):
            out[name] = column
        elif isinstance(column, list):
            codes, categories = pd.factorize(np.asarray(column, dtype=object))
            out[name] = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
        else:
            out[name] = column.astype(np.int64) if name in _ID_COLUMNS else column
    return pd.DataFrame(out)


class _UnknownChoice(Exception):
    pass


def _pg_columns(query, attrs: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """All rows of a values query in ONE result row: one bytea of fixed-width binary records (an 8-byte
    big-endian double per numeric column, choices sent as their position in the model's choices) and,
    only if a column is free text, one separator-joined string.

    Row tuples would cost a Python object per cell (three million for 300k annotations); here numpy
    reads the records in place. A single aggregate builds the records, so the columns cannot drift apart.
    """
    # The SELECT lists model fields first, then annotations, whatever order values_list was given.
    selected = [*query.extra_select, *query.values_select, *query.annotation_select]
    sql, params = query.sql_with_params()
    aliases = dict(zip(selected, (f"c{i}" for i in range(len(selected))), strict=True))
    texts = [attr for attr in selected if attrs[attr][1] == "text"]
    numbers = [attr for attr in selected if attrs[attr][1] != "text"]
    fields = []
    for attr in numbers:
        column, kind = aliases[attr], attrs[attr][1]
        if kind == "bool":
            column = f"CAST({column} AS int)"
        elif isinstance(kind, tuple):
            if not all(_CHOICE.match(c) for c in kind):
                raise ValueError(f"choices of {attr} cannot be written as SQL literals")
            literals = ", ".join(f"'{c}'" for c in ("", *kind))
            # 0: blank or NULL; 1..k: the choice; -1: a value outside the choices. The column is named
            # once: PostgreSQL inlines the subquery, so each mention would evaluate its expression again.
            column = f"COALESCE(array_position(ARRAY[{literals}]::text[], COALESCE(CAST({column} AS text), '')), 0) - 1"
        fields.append(f"float8send(COALESCE(CAST({column} AS double precision), 'NaN'))")
    parts = ["count(*)", f"string_agg({' || '.join(fields)}, ''::bytea)" if fields else "NULL"]
    if texts:
        joined = " || E'\\x1f' || ".join(f"COALESCE(CAST({aliases[a]} AS text), '')" for a in texts)
        parts.append(f"string_agg({joined}, E'\\x1f')")
    wrapped = f"SELECT {', '.join(parts)} FROM ({sql}) AS t({', '.join(aliases.values())})"
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(wrapped, params, binary=True)
        count, records, *text = cursor.fetchone()
    out: dict[str, Any] = {}
    if numbers:
        table = np.frombuffer(bytes(records), dtype=">f8") if count else np.zeros(0)
        if table.size != count * len(numbers):
            raise RuntimeError(f"{table.size} numbers came back for {count} rows x {len(numbers)} columns")
        table = table.astype(float).reshape(count, len(numbers))
        for k, attr in enumerate(numbers):
            kind = attrs[attr][1]
            if isinstance(kind, tuple):
                codes = table[:, k].astype(np.int64)
                if (codes < 0).any():
                    raise _UnknownChoice(attr)
                out[attr] = pd.Categorical.from_codes(codes, categories=pd.Index(["", *kind], dtype=object))
            else:
                out[attr] = np.ascontiguousarray(table[:, k])
    if texts:
        cells = text[0].split(_SEPARATOR) if count else []
        if len(cells) != count * len(texts):
            raise RuntimeError(f"text columns came back with {len(cells)} cells for {count} rows")
        for k, attr in enumerate(texts):
            out[attr] = cells[k :: len(texts)]
    return out


def _chunks(ids: tuple[int, ...] | list[int]) -> list:
    """Off PostgreSQL ids go as ``IN (...)`` placeholders: keep each query under the driver's limit."""
    if connection.vendor == "postgresql" or len(ids) <= _IDS_PER_QUERY:
        return [ids]
    return [ids[i : i + _IDS_PER_QUERY] for i in range(0, len(ids), _IDS_PER_QUERY)]


def annotation_frame(filters: AgreementFilters) -> pd.DataFrame:
    """One row per annotation matching the filters (one query)."""
    pieces = [filters] if filters.prompt_ids is None else [
        replace(filters, prompt_ids=tuple(chunk)) for chunk in _chunks(filters.prompt_ids)
    ]
    parts = [
        _frame(annotation_queryset(f).annotate(submitted=EpochSeconds("submitted_at")), _ANNOTATION_VALUES)
        for f in pieces
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return report.empty_annotations()
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def final_frame(item_ids: Iterable[int]) -> pd.DataFrame:
    """Final labels of those prompts that are decided (one query), indexed by item."""
    ids = pd.unique(np.asarray(item_ids, dtype=np.int64))
    if len(ids) == 0:
        return report.empty_finals()
    decided = Prompt.objects.filter(status__in=DECIDED).order_by().annotate(resolution=_resolution())
    lo, hi = int(ids.min()), int(ids.max())
    if len(ids) * 2 >= hi - lo + 1:
        # Most prompts of the id range are wanted (the unfiltered dashboard): a range scan and a
        # filter in pandas beat sending and hashing 100k ids.
        df = _frame(decided.filter(id__gte=lo, id__lte=hi), _FINAL_VALUES)
        df = df[np.isin(df["item"].to_numpy(), ids)]
    else:
        parts = [_frame(decided.filter(_id_in("id", chunk)), _FINAL_VALUES) for chunk in _chunks(ids.tolist())]
        parts = [p for p in parts if len(p)]
        df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else None)
    if df is None or len(df) == 0:
        return report.empty_finals()
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
    """The annotations matching the filters, and the final labels of their decided prompts."""
    annotations = annotation_frame(filters)
    return annotations, final_frame(pd.unique(annotations["item"].to_numpy()))


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
    stored = {}
    for chunk in _chunks(ids) if ids else []:
        stored.update(Prompt.objects.filter(_id_in("id", chunk)).values_list("pk", "agreement"))
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
