"""Everything the agreement dashboard, its API and its CSV exports show, computed from two frames.

Pure pandas on top of ``annotation.agreement``: no ORM, so the whole computation can be tested on
hand-built frames and benchmarked apart from the database.

Input frames (built by ``annotation.agreement_selectors``):

``annotations``: one row per annotation with columns ``item`` (prompt id), ``annotator`` (user id),
``decision`` ("accept" / "edit" / "reject"), ``dimension`` (id or NA), ``risk_expression``,
``expected_behaviour`` ("" = not given), ``severity`` (1..5 or NA), ``seconds`` (float),
``is_surplus`` (bool) and ``submitted_at`` (tz-aware datetime).

``finals``: indexed by item, one row per *decided* prompt with columns ``status`` ("approved" /
"rejected"), ``dimension``, ``risk_expression``, ``severity``, ``expected_behaviour`` and
``resolution`` ("adjudicated" / "consensus" / "unknown").

Rules, in one place:
- decision is compared as keep (accept or edit) against reject;
- the labels of a *rejecting* annotation are not a judgement of the item's labels (the annotator
  said it does not belong in the benchmark), so label fields only use keeping annotations, and the
  final labels only exist for approved prompts;
- surplus annotations count: they are real, independent judgements;
- only items with two or more values for a field enter that field's agreement figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import agreement as ag

ANNOTATION_COLUMNS = (
    "item", "annotator", "decision", "dimension", "risk_expression", "severity", "expected_behaviour",
    "seconds", "is_surplus", "submitted_at",
)
FINAL_COLUMNS = ("status", "dimension", "risk_expression", "severity", "expected_behaviour", "resolution")
KEEP, REJECT = "keep", "reject"
RESOLUTIONS = ("adjudicated", "consensus", "unknown")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    level: ag.Level
    order: tuple[Any, ...] | None = None
    label_field: bool = True  # only judged on keeping annotations / approved prompts


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("decision", "nominal", (KEEP, REJECT), label_field=False),
        FieldSpec("dimension", "nominal"),
        FieldSpec("risk_expression", "nominal"),
        FieldSpec("severity", "ordinal", (1, 2, 3, 4, 5)),
        FieldSpec("expected_behaviour", "nominal"),
    )
}
DEFAULT_FIELD = "decision"


def empty_annotations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in ANNOTATION_COLUMNS})


def empty_finals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in FINAL_COLUMNS}, index=pd.Index([], name="item"))


# --------------------------------------------------------------------------- frames per field


def _blank_to_na(series: pd.Series) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        return series.where(series.notna() & (series.astype(str) != ""), None)
    return series


def _as_field_values(name: str, series: pd.Series) -> pd.Series:
    series = _blank_to_na(series)
    if name in ("severity", "dimension"):
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    return series.astype(object)


def keeps(decision: pd.Series) -> pd.Series:
    return decision.isin(("accept", "edit"))


def field_frame(annotations: pd.DataFrame, field: str) -> pd.DataFrame:
    """Long ``item, annotator, value`` frame for one field; rows without a value are dropped."""
    spec = FIELDS[field]
    if len(annotations) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ("item", "annotator", "value")})
    if field == "decision":
        value = pd.Series(np.where(keeps(annotations["decision"]), KEEP, REJECT), index=annotations.index)
        value = value.where(annotations["decision"].notna() & (annotations["decision"] != ""), None)
    else:
        value = _as_field_values(field, annotations[field])
        if spec.label_field:
            value = value.where(keeps(annotations["decision"]))
    frame = pd.DataFrame({"item": annotations["item"], "annotator": annotations["annotator"], "value": value})
    return frame[frame["value"].notna()].reset_index(drop=True)


def final_series(finals: pd.DataFrame, field: str) -> pd.Series:
    """The decided value of ``field`` per item (NA where there is none)."""
    if len(finals) == 0:
        return pd.Series([], dtype=object, index=pd.Index([], name="item"))
    approved = finals["status"] == "approved"
    if field == "decision":
        out = pd.Series(np.where(approved, KEEP, REJECT), index=finals.index, dtype=object)
        return out.where(finals["status"].isin(("approved", "rejected")), None)
    values = _as_field_values(field, finals[field])
    return values.where(approved)


def summary_resolution(summary: Any) -> str:
    """How a decided prompt got its final label, read defensively from ``Prompt.review_summary``.

    The review workflow writes that dict; any of these marks an adjudication: ``adjudicated: true``,
    an ``adjudicator``/``adjudicated_by`` entry, or a ``method``/``resolution``/``decided_by``/``via``/
    ``outcome``/``kind`` value mentioning adjudication. Any other non-empty summary is a consensus.
    """
    if not isinstance(summary, Mapping) or not summary:
        return "unknown"
    if summary.get("adjudicated") is True:
        return "adjudicated"
    for key in ("adjudicator", "adjudicator_id", "adjudicated_by", "adjudication"):
        if summary.get(key) not in (None, "", False, {}, []):
            return "adjudicated"
    for key in ("method", "resolution", "decided_by", "via", "outcome", "kind", "source"):
        value = summary.get(key)
        if isinstance(value, str) and "adjudic" in value.lower():
            return "adjudicated"
    if summary.get("adjudicated") is False:
        return "consensus"
    for key in ("method", "resolution", "decided_by", "via", "outcome", "kind", "source", "rule"):
        value = summary.get(key)
        if isinstance(value, str) and ("consensus" in value.lower() or "unanim" in value.lower()
                                       or "majority" in value.lower()):
            return "consensus"
    return "consensus"


# --------------------------------------------------------------------------- helpers


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _py(value: Any) -> Any:
    """numpy / pandas scalars -> plain Python, NA -> None (JSON-friendly)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _local_week(ts: pd.Series, tz: str) -> pd.Series:
    """Monday (local date) of the week of each timestamp."""
    ts = pd.to_datetime(ts, utc=True).dt.tz_convert(tz)
    day = ts.dt.normalize()
    return (day - pd.to_timedelta(day.dt.day_of_week, unit="D")).dt.date


def item_completion(annotations: pd.DataFrame) -> pd.Series:
    """Per item: the time of its latest annotation (when it became what it is)."""
    if len(annotations) == 0:
        return pd.Series([], dtype="datetime64[ns, UTC]")
    return pd.to_datetime(annotations["submitted_at"], utc=True).groupby(annotations["item"]).max()


def item_weeks(annotations: pd.DataFrame, tz: str = "UTC") -> pd.Series:
    """Per item: the local week (its Monday) in which its latest annotation came in."""
    done = item_completion(annotations)
    return pd.Series(_local_week(done, tz).to_numpy(), index=done.index) if len(done) else done


# --------------------------------------------------------------------------- figures


def item_scores(annotations: pd.DataFrame, fields: Iterable[str] = tuple(FIELDS)) -> pd.DataFrame:
    """Per item: the share of agreeing annotator pairs on each field, and ``score``, their mean.

    A field counts for an item only where the item has two or more values for it; an item with
    no such field has no score (it is not in the frame).
    """
    columns = {}
    for name in fields:
        columns[name] = ag.per_item_agreement(field_frame(annotations, name))
    table = pd.DataFrame(columns)
    table.index.name = "item"
    if len(table.columns):
        table["score"] = table.mean(axis=1, skipna=True)
    return table


def _with_others(frame: pd.DataFrame) -> pd.DataFrame:
    """Per annotator: how often the other annotators of the same item gave the same value.

    For an annotation on an item with m >= 2 values, (same - 1) / (m - 1) of its pairs agree; averaged
    over the annotator's pairable annotations, weighted by pairs so it is the share of agreeing pairs.
    """
    if len(frame) == 0:
        return pd.DataFrame(columns=["n_pairs", "n_agree", "share"])
    m = frame.groupby("item")["item"].transform("size")
    same = frame.groupby(["item", "value"])["item"].transform("size")
    pairable = m >= 2
    per = pd.DataFrame({
        "annotator": frame["annotator"][pairable],
        "n_pairs": (m - 1)[pairable],
        "n_agree": (same - 1)[pairable],
    })
    out = per.groupby("annotator")[["n_pairs", "n_agree"]].sum()
    out["share"] = out["n_agree"] / out["n_pairs"].where(out["n_pairs"] > 0)
    return out


def _with_final(frame: pd.DataFrame, final: pd.Series, resolution: pd.Series | None) -> dict[str, pd.DataFrame]:
    out = {"all": ag.agreement_with_final(frame, final)}
    for kind in ("adjudicated", "consensus"):
        if resolution is None or len(final) == 0:
            part = final.iloc[:0]
        else:
            part = final[resolution.reindex(final.index) == kind]
        out[kind] = ag.agreement_with_final(frame, part)
    return out


def _figure(table: pd.DataFrame, annotator: Any) -> dict[str, Any]:
    if annotator not in table.index:
        return {"share": None, "n": 0, "n_agree": 0}
    row = table.loc[annotator]
    return {"share": _num(row["share"]), "n": int(row["n"]), "n_agree": int(row["n_agree"])}


def annotator_table(
    annotations: pd.DataFrame, finals: pd.DataFrame, field: str = DEFAULT_FIELD
) -> list[dict[str, Any]]:
    """Per annotator: volume, median seconds, rejection rate, agreement with others and with the final label."""
    if len(annotations) == 0:
        return []
    grouped = annotations.groupby("annotator")
    volume = grouped.size()
    items = grouped["item"].nunique()
    seconds = pd.to_numeric(annotations["seconds"], errors="coerce").groupby(annotations["annotator"]).median()
    surplus = annotations["is_surplus"].fillna(False).astype(bool).groupby(annotations["annotator"]).sum()
    rejected = (annotations["decision"] == "reject").groupby(annotations["annotator"]).sum()
    frame = field_frame(annotations, field)
    others = _with_others(frame)
    resolution = finals["resolution"] if "resolution" in finals.columns else None
    with_final = _with_final(frame, final_series(finals, field), resolution)
    rows = []
    for annotator in volume.index:
        n = int(volume[annotator])
        rows.append({
            "annotator": _py(annotator),
            "n_annotations": n,
            "n_items": int(items[annotator]),
            "n_surplus": int(surplus.get(annotator, 0)),
            "median_seconds": _num(seconds.get(annotator)),
            "rejection_rate": {"share": int(rejected.get(annotator, 0)) / n if n else None,
                               "n_rejected": int(rejected.get(annotator, 0)), "n": n},
            "with_others": {
                "share": _num(others["share"].get(annotator)) if annotator in others.index else None,
                "n_pairs": int(others["n_pairs"].get(annotator, 0)) if annotator in others.index else 0,
            },
            "with_final": _figure(with_final["all"], annotator),
            "with_final_adjudicated": _figure(with_final["adjudicated"], annotator),
            "with_final_consensus": _figure(with_final["consensus"], annotator),
        })
    return rows


def kappa_section(frame: pd.DataFrame, min_shared: int) -> dict[str, Any]:
    kappa, shared = ag.cohen_kappa_matrix(frame, min_shared=min_shared)
    names = [_py(a) for a in kappa.index]
    values = [[_num(v) for v in row] for row in kappa.to_numpy()]
    counts = [[int(v) for v in row] for row in shared.to_numpy()]
    n_pairs = sum(1 for i in range(len(names)) for j in range(i + 1, len(names)) if values[i][j] is not None)
    return {"annotators": names, "kappa": values, "n": counts, "min_shared": min_shared, "n_pairs": n_pairs}


def weekly_section(
    annotations: pd.DataFrame, fields: Iterable[str], tz: str, weeks_of_items: pd.Series | None = None
) -> dict[str, Any]:
    """Alpha per field for the items completed in each week (n = pairable items of the week)."""
    weeks = item_weeks(annotations, tz) if weeks_of_items is None else weeks_of_items
    if len(weeks) == 0:
        return {"weeks": [], "fields": {name: {"alpha": [], "n_items": []} for name in fields}}
    all_weeks = sorted(set(weeks))
    out: dict[str, Any] = {"weeks": [w.isoformat() for w in all_weeks], "fields": {}}
    for name in fields:
        spec = FIELDS[name]
        frame = field_frame(annotations, name)
        frame = frame.assign(week=frame["item"].map(weeks))
        alphas, ns = [], []
        groups = dict(tuple(frame.groupby("week", sort=False))) if len(frame) else {}
        for week in all_weeks:
            part = groups.get(week)
            if part is None:
                alphas.append(None)
                ns.append(0)
                continue
            m = part.groupby("item").size()
            ns.append(int((m >= 2).sum()))
            alphas.append(_num(ag.krippendorff_alpha(part, spec.level, order=spec.order)))
        out["fields"][name] = {"alpha": alphas, "n_items": ns}
    return out


def disagreed_items(frame: pd.DataFrame, top_n: int) -> tuple[list[dict[str, Any]], int]:
    """Items whose annotators split most on one field: lowest share of agreeing pairs first."""
    per_item = ag.per_item_agreement(frame)
    split = per_item[per_item < 1.0]
    if len(split) == 0 or top_n <= 0:
        return [], int(len(split))
    m = frame.groupby("item").size().reindex(split.index)
    order = pd.DataFrame({"agreement": split, "m": m}).reset_index()
    order = order.sort_values(["agreement", "m", "item"], ascending=[True, False, True]).head(top_n)
    chosen = frame[frame["item"].isin(order["item"])]
    counts = chosen.groupby(["item", "value"]).size()
    out = []
    for row in order.itertuples(index=False):
        values = counts.loc[row.item].sort_values(ascending=False)
        out.append({
            "item": _py(row.item),
            "agreement": _num(row.agreement),
            "n_annotations": int(row.m),
            "values": [{"value": _py(v), "count": int(c)} for v, c in values.items()],
        })
    return out, int(len(split))


def compute_dashboard(
    annotations: pd.DataFrame,
    finals: pd.DataFrame,
    *,
    field: str = DEFAULT_FIELD,
    min_shared: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
    top_n: int = 20,
    tz: str = "UTC",
    fields: Iterable[str] = tuple(FIELDS),
) -> dict[str, Any]:
    """Every number the dashboard shows, JSON-friendly, each figure with its n."""
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}")
    fields = [f for f in FIELDS if f in set(fields)]
    per_item_counts = annotations.groupby("item").size() if len(annotations) else pd.Series([], dtype=int)
    summaries = []
    frames = {}
    for name in fields:
        spec = FIELDS[name]
        frames[name] = field_frame(annotations, name)
        summary = ag.field_summary(frames[name], spec.level, n_boot=n_boot, seed=seed, order=spec.order)
        summaries.append({"field": name, **summary})
    frame = frames.get(field) if field in frames else field_frame(annotations, field)
    disagreed, n_disagreed = disagreed_items(frame, top_n)
    return {
        "totals": {
            "n_annotations": int(len(annotations)),
            "n_items": int(len(per_item_counts)),
            "n_items_pairable": int((per_item_counts >= 2).sum()),
            "n_annotators": int(annotations["annotator"].nunique()) if len(annotations) else 0,
            "n_surplus": int(annotations["is_surplus"].fillna(False).astype(bool).sum()) if len(annotations) else 0,
            "n_decided": int(finals.index.isin(per_item_counts.index).sum()) if len(finals) else 0,
            "n_adjudicated": int((finals["resolution"] == "adjudicated").sum()) if len(finals) else 0,
        },
        "fields": summaries,
        "field": field,
        "kappa": kappa_section(frame, min_shared),
        "weekly": weekly_section(annotations, fields, tz),
        "annotators": annotator_table(annotations, finals, field),
        "disagreed": disagreed,
        "n_disagreed": n_disagreed,
        "params": {"n_boot": n_boot, "seed": seed, "ci": 0.95, "min_shared": min_shared, "top_n": top_n},
    }


def matrix_table(annotations: pd.DataFrame, finals: pd.DataFrame, field: str) -> pd.DataFrame:
    """Item x annotator matrix of one field's values, with the final value and the item's agreement."""
    frame = field_frame(annotations, field)
    items = pd.Index(sorted(annotations["item"].unique()) if len(annotations) else [], name="item")
    wide = frame.pivot(index="item", columns="annotator", values="value") if len(frame) else pd.DataFrame()
    wide = wide.reindex(index=items, columns=sorted(frame["annotator"].unique()) if len(frame) else [])
    wide.columns.name = None
    wide["final"] = final_series(finals, field).reindex(items)
    wide["agreement"] = ag.per_item_agreement(frame).reindex(items)
    wide["n_annotations"] = frame.groupby("item").size().reindex(items).fillna(0).astype(int)
    return wide
