"""Everything the agreement dashboard, its API and its CSV exports show, computed from two frames.

Pure pandas on top of ``annotation.agreement``: no ORM, so the whole computation can be tested on
hand-built frames and benchmarked apart from the database.

Input frames (built by ``annotation.agreement_selectors``):

``annotations``: one row per annotation with columns ``item`` (prompt id), ``annotator`` (user id),
``decision`` ("accept" / "edit" / "reject"), ``dimension`` (id or NA), ``risk_expression``,
``expected_behaviour`` ("" = not given), ``severity`` (1..5 or NA), ``seconds`` (float),
``is_surplus`` (bool) and ``submitted`` (seconds since the Unix epoch, UTC).

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
    "seconds", "is_surplus", "submitted",
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
    frame = pd.DataFrame({c: pd.Series([], dtype=float) for c in ANNOTATION_COLUMNS})
    for c in ("decision", "risk_expression", "expected_behaviour"):
        frame[c] = pd.Categorical([])
    return frame.astype({"item": np.int64, "annotator": np.int64})


def empty_finals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in FINAL_COLUMNS}, index=pd.Index([], name="item"))


# --------------------------------------------------------------------------- frames per field


def _present(series: pd.Series) -> np.ndarray:
    """True where a value was given: not NULL and, for text, not blank."""
    present = series.notna().to_numpy()
    if not pd.api.types.is_numeric_dtype(series.dtype) and len(series):
        present = present & (series != "").to_numpy()
    return present


def _values(field: str, series: pd.Series) -> pd.Series:
    """Values of a field with every missing one already removed: ints for ids/severity, else text."""
    if field in ("severity", "dimension"):
        return pd.Series(np.asarray(series, dtype=float).astype(np.int64), index=series.index)
    return series


def keeps(decision: pd.Series) -> np.ndarray:
    return decision.isin(("accept", "edit")).to_numpy()


def field_frame(annotations: pd.DataFrame, field: str) -> pd.DataFrame:
    """Long ``item, annotator, value`` frame for one field; rows without a value are dropped."""
    spec = FIELDS[field]
    if len(annotations) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ("item", "annotator", "value")})
    decision = annotations["decision"]
    if field == "decision":
        mask = _present(decision)
        value = pd.Series(
            pd.Categorical.from_codes(np.where(keeps(decision), 0, 1), categories=[KEEP, REJECT]),
            index=annotations.index,
        )
    else:
        value = annotations[field]
        mask = _present(value)
        if spec.label_field:
            mask = mask & keeps(decision)
    return pd.DataFrame({
        "item": annotations["item"].to_numpy()[mask],
        "annotator": annotations["annotator"].to_numpy()[mask],
        "value": _values(field, value[mask]).reset_index(drop=True),
    })


def final_series(finals: pd.DataFrame, field: str) -> pd.Series:
    """The decided value of ``field`` per item (only items that have one)."""
    if len(finals) == 0:
        return pd.Series([], dtype=object, index=pd.Index([], name="item"))
    status = finals["status"].astype(object)
    if field == "decision":
        decided = status.isin(("approved", "rejected")).to_numpy()
        return pd.Series(np.where(status == "approved", KEEP, REJECT), index=finals.index, dtype=object)[decided]
    mask = (status == "approved").to_numpy() & _present(finals[field])
    return _values(field, finals[field][mask]).astype(object)


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


def item_weeks(annotations: pd.DataFrame, tz: str = "UTC") -> pd.Series:
    """Per item: the Monday (local date) of the week in which its latest annotation came in."""
    if len(annotations) == 0:
        return pd.Series([], dtype=object, index=pd.Index([], name="item"))
    latest = pd.to_numeric(annotations["submitted"]).groupby(annotations["item"]).max()
    local = pd.to_datetime(latest.to_numpy(), unit="s", utc=True).tz_convert(tz).normalize()
    monday = (local - pd.to_timedelta(local.day_of_week, unit="D")).date
    return pd.Series(monday, index=latest.index)


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
    """Per annotator, as ``agreement.agreement_with_final`` (cross-checked in the tests), for all decided
    items and split by how they were decided, in one pass over the frame."""
    codes, annotators = pd.factorize(frame["annotator"].to_numpy(), sort=True)
    aligned = final.reindex(frame["item"].to_numpy())
    judged = aligned.notna().to_numpy()
    equal = judged & (np.asarray(frame["value"], dtype=object) == aligned.to_numpy(dtype=object))
    kinds = {"all": judged}
    if resolution is not None and len(final):
        how = resolution.astype(object).reindex(frame["item"].to_numpy()).to_numpy()
        kinds["adjudicated"] = judged & (how == "adjudicated")
        kinds["consensus"] = judged & (how == "consensus")
    else:
        kinds["adjudicated"] = kinds["consensus"] = np.zeros(len(frame), dtype=bool)
    out = {}
    for kind, mask in kinds.items():
        n = np.bincount(codes[mask], minlength=len(annotators))
        k = np.bincount(codes[mask & equal], minlength=len(annotators))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        out[kind] = pd.DataFrame({"n": n, "n_agree": k, "share": share}, index=pd.Index(annotators, name="annotator"))
    return out


def _figure(table: pd.DataFrame, annotator: Any) -> dict[str, Any]:
    if annotator not in table.index:
        return {"share": None, "n": 0, "n_agree": 0}
    row = table.loc[annotator]
    return {"share": _num(row["share"]), "n": int(row["n"]), "n_agree": int(row["n_agree"])}


def annotator_table(
    annotations: pd.DataFrame,
    finals: pd.DataFrame,
    field: str = DEFAULT_FIELD,
    *,
    frame: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per annotator: volume, median seconds, rejection rate, agreement with others and with the final label."""
    if len(annotations) == 0:
        return []
    # pandas' hash factorize: numpy 2's unique() is ~20x slower on 300k ids.
    codes, annotators = pd.factorize(annotations["annotator"].to_numpy(), sort=True)
    count = len(annotators)
    volume = pd.Series(np.bincount(codes, minlength=count), index=annotators)
    # One annotation per user and prompt is a database constraint, but count items, not rows, anyway.
    item = annotations["item"].to_numpy().astype(np.int64)
    width = int(item.max()) + 1 if len(item) else 1
    pairs = pd.unique(codes.astype(np.int64) * width + item)
    items = pd.Series(np.bincount(pairs // width, minlength=count), index=annotators)
    seconds = pd.Series(pd.to_numeric(annotations["seconds"], errors="coerce").to_numpy()).groupby(codes).median()
    seconds.index = annotators[seconds.index]
    surplus_mask = annotations["is_surplus"].fillna(False).astype(bool).to_numpy()
    surplus = pd.Series(np.bincount(codes[surplus_mask], minlength=count), index=annotators)
    rejected_mask = (annotations["decision"] == "reject").to_numpy()
    rejected = pd.Series(np.bincount(codes[rejected_mask], minlength=count), index=annotators)
    frame = field_frame(annotations, field) if frame is None else frame
    others = _with_others(frame)
    resolution = finals["resolution"] if "resolution" in finals.columns else None
    with_final = _with_final(frame, final_series(finals, field), resolution)
    rows = []
    for annotator, n in volume.items():
        n = int(n)
        n_rejected = int(rejected.get(annotator, 0))
        has_pairs = annotator in others.index
        rows.append({
            "annotator": _py(annotator),
            "n_annotations": n,
            "n_items": int(items[annotator]),
            "n_surplus": int(surplus.get(annotator, 0)),
            "median_seconds": _num(seconds.get(annotator)),
            "rejection_rate": {"share": n_rejected / n if n else None, "n_rejected": n_rejected, "n": n},
            "with_others": {
                "share": _num(others.at[annotator, "share"]) if has_pairs else None,
                "n_pairs": int(others.at[annotator, "n_pairs"]) if has_pairs else 0,
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


def weekly_section(frames: Mapping[str, pd.DataFrame], weeks: pd.Series) -> dict[str, Any]:
    """Alpha per field for the items completed in each week (n = pairable items of the week)."""
    all_weeks = sorted(set(weeks)) if len(weeks) else []
    out: dict[str, Any] = {"weeks": [w.isoformat() for w in all_weeks], "fields": {}}
    for name, frame in frames.items():
        spec = FIELDS[name]
        by_week = ag.krippendorff_alpha_by_group(frame, weeks, spec.level, order=spec.order).reindex(all_weeks)
        out["fields"][name] = {
            "alpha": [_num(a) for a in by_week["alpha"]],
            "n_items": [int(n) if n == n else 0 for n in by_week["n_items"]],
        }
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
) -> dict[str, Any]:
    """Every number the dashboard shows, JSON-friendly, each figure with its n."""
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}")
    frames = {name: field_frame(annotations, name) for name in FIELDS}
    summaries = []
    for name, spec in FIELDS.items():
        summary = ag.field_summary(frames[name], spec.level, n_boot=n_boot, seed=seed, order=spec.order)
        summaries.append({"field": name, **summary})
    per_item = annotations.groupby("item").size() if len(annotations) else pd.Series([], dtype=int)
    disagreed, n_disagreed = disagreed_items(frames[field], top_n)
    decided = finals.index.isin(per_item.index) if len(finals) else np.zeros(0, bool)
    return {
        "totals": {
            "n_annotations": int(len(annotations)),
            "n_items": int(len(per_item)),
            "n_items_pairable": int((per_item >= 2).sum()),
            "n_annotators": int(annotations["annotator"].nunique()) if len(annotations) else 0,
            "n_surplus": int(annotations["is_surplus"].fillna(False).astype(bool).sum()) if len(annotations) else 0,
            "n_decided": int(decided.sum()),
            "n_adjudicated": int((finals["resolution"][decided] == "adjudicated").sum()) if len(finals) else 0,
        },
        "fields": summaries,
        "field": field,
        "kappa": kappa_section(frames[field], min_shared),
        "weekly": weekly_section(frames, item_weeks(annotations, tz)),
        "annotators": annotator_table(annotations, finals, field, frame=frames[field]),
        "disagreed": disagreed,
        "n_disagreed": n_disagreed,
        "params": {"n_boot": n_boot, "seed": seed, "ci": 0.95, "min_shared": min_shared, "top_n": top_n},
    }


def matrix_table(annotations: pd.DataFrame, finals: pd.DataFrame, field: str) -> pd.DataFrame:
    """Item x annotator matrix of one field's values, with the final value and the item's agreement."""
    frame = field_frame(annotations, field)
    frame["value"] = frame["value"].astype(object)
    items = pd.Index(sorted(annotations["item"].unique()) if len(annotations) else [], name="item")
    wide = frame.pivot(index="item", columns="annotator", values="value") if len(frame) else pd.DataFrame()
    wide = wide.reindex(index=items, columns=sorted(frame["annotator"].unique()) if len(frame) else [])
    wide.columns.name = None
    wide["final"] = final_series(finals, field).reindex(items)
    wide["agreement"] = ag.per_item_agreement(frame).reindex(items)
    wide["n_annotations"] = frame.groupby("item").size().reindex(items).fillna(0).astype(int)
    return wide
