"""The agreement dashboard and its CSV downloads (admins and maintainers)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pandas as pd
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from accounts.permissions import maintainer_required
from core.spreadsheet import spreadsheet_row
from curation.models import Prompt

from . import agreement_report as report
from . import agreement_selectors as selectors
from .agreement_forms import FIELD_LABELS, AgreementFilterForm

BAND_LABELS = {
    "good": gettext_lazy("good"),
    "tentative": gettext_lazy("tentative"),
    "poor": gettext_lazy("poor"),
    "not_computable": gettext_lazy("undefined"),
}
LEVEL_LABELS = {"nominal": gettext_lazy("nominal"), "ordinal": gettext_lazy("ordinal")}


# --------------------------------------------------------------------------- presentation


def value_label(field: str, value: Any, dimensions: dict[int, dict[str, str]]) -> str:
    if value is None:
        return "—"
    if field == "decision":
        return _("Keep") if value == report.KEEP else _("Reject")
    if field == "dimension":
        dim = dimensions.get(value)
        if dim is None:
            return str(value)
        name = dim["name_en"] if (get_language() or "").startswith("en") else dim["name_zh"]
        return f"{dim['taxonomy']} · {name}"
    if field == "risk_expression" and value in Prompt.RiskExpression.values:
        return str(Prompt.RiskExpression(value).label)
    if field == "expected_behaviour" and value in Prompt.ExpectedBehaviour.values:
        return str(Prompt.ExpectedBehaviour(value).label)
    return str(value)


def kappa_colour(kappa: float | None) -> str:
    """Red (kappa <= 0) through amber to green (kappa = 1); grey where there is no kappa."""
    if kappa is None or not math.isfinite(kappa):
        return "#eef1f7"
    k = max(-1.0, min(1.0, kappa))
    hue = round(120 * max(k, 0.0))
    light = round(90 - 32 * abs(k))
    return f"hsl({hue}, 62%, {light}%)"


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    alpha = summary["alpha"]
    return {
        "name": summary["field"],
        "label": FIELD_LABELS[summary["field"]],
        "level": LEVEL_LABELS.get(summary["level"], summary["level"]),
        "alpha": alpha["value"],
        "band": alpha["band"],
        "band_label": BAND_LABELS[alpha["band"]],
        "n_items": alpha["n_items"],
        "n_annotations": alpha["n_annotations"],
        "ci_lo": summary["alpha_ci"]["lo"],
        "ci_hi": summary["alpha_ci"]["hi"],
        "fleiss": summary["fleiss_kappa"]["value"],
        "fleiss_raters": summary["fleiss_kappa"]["raters_per_item"],
        "fleiss_n": summary["fleiss_kappa"]["n_items"],
        "percent": summary["percent_agreement"]["value"],
        "percent_pairs": summary["percent_agreement"]["n_pairs"],
    }


def _heat_map(kappa: dict[str, Any]) -> dict[str, Any]:
    names = kappa["usernames"]
    rows = []
    for i, name in enumerate(names):
        cells = []
        for j, other in enumerate(names):
            value, n = kappa["kappa"][i][j], kappa["n"][i][j]
            cells.append({
                "diag": i == j,
                "kappa": value,
                "n": n,
                "colour": "#f6f7fb" if i == j else kappa_colour(value),
                "title": f"{name} × {other}: κ={'—' if value is None else f'{value:.3f}'}, n={n}",
            })
        rows.append({"name": name, "cells": cells})
    return {"names": names, "rows": rows, "min_shared": kappa["min_shared"], "n_pairs": kappa["n_pairs"]}


def _weekly_chart(weekly: dict[str, Any]) -> dict[str, Any]:
    return {
        "weeks": weekly["weeks"],
        "datasets": [
            {"label": str(FIELD_LABELS[name]), "alpha": series["alpha"], "n": series["n_items"]}
            for name, series in weekly["fields"].items()
        ],
        "thresholds": [
            {"label": _("good (α ≥ 0.8)"), "value": 0.8},
            {"label": _("tentative (α ≥ 0.667)"), "value": 0.667},
        ],
        "y_label": _("Krippendorff's alpha"),
        "n_label": _("items"),
        # A tooltip's "n = 1 item": the singular from the server (the script knows no plural rules).
        "n_label_one": ngettext("item", "items", 1),
    }


def dashboard_view_model(data: dict[str, Any]) -> dict[str, Any]:
    field = data["field"]
    dimensions = selectors.dimension_names() if field == "dimension" else {}
    disagreed = [
        {**row, "value_labels": [(value_label(field, v["value"], dimensions), v["count"]) for v in row["values"]]}
        for row in data["disagreed"]
    ]
    return {
        "totals": data["totals"],
        "headlines": [_headline(s) for s in data["fields"]],
        "field": field,
        "field_label": FIELD_LABELS[field],
        "heat": _heat_map(data["kappa"]),
        "weekly": _weekly_chart(data["weekly"]),
        "annotators": sorted(data["annotators"], key=lambda r: (-r["n_annotations"], r["username"])),
        "disagreed": disagreed,
        "n_disagreed": data["n_disagreed"],
        "params": data["params"],
    }


def _filters_from(request) -> tuple[AgreementFilterForm, selectors.AgreementFilters | None]:
    form = AgreementFilterForm(request.GET or None)
    if not form.is_bound:
        return form, selectors.AgreementFilters()
    return form, (form.filters() if form.is_valid() else None)


@maintainer_required
def dashboard(request):
    form, filters = _filters_from(request)
    view = None
    if filters is not None:
        data = selectors.agreement_dashboard(
            filters=filters, field=form.selected_field(), min_shared=form.selected_min_shared()
        )
        view = dashboard_view_model(data)
    query = request.GET.copy()
    template = "annotation/agreement/dashboard.html"
    if request.htmx:
        template += "#results"
    return render(request, template, {"form": form, "view": view, "query": query.urlencode()})


# --------------------------------------------------------------------------- CSV


def csv_response(rows: list[list[Any]], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(spreadsheet_row(row))
    # The BOM makes Excel read the file as UTF-8 (Chinese names would be garbled otherwise).
    response = HttpResponse(("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


def matrix_rows(table, names: dict[int, str], field: str, dimensions: dict[int, dict[str, str]]) -> list[list[Any]]:
    annotators = [c for c in table.columns if c not in ("final", "agreement", "n_annotations")]

    def code(value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        if field == "dimension":
            return dimensions.get(int(value), {}).get("code", value)
        return report._py(value)

    header = ["prompt_id", *[names.get(a, str(a)) for a in annotators], "final", "agreement", "n_annotations"]
    rows = [header]
    for item, row in table.iterrows():
        rows.append([
            int(item),
            *[code(row[a]) for a in annotators],
            code(row["final"]),
            report._num(row["agreement"]),
            int(row["n_annotations"]),
        ])
    return rows


METRIC_HEADER = [
    "section", "field", "metric", "annotator", "other_annotator", "week", "value", "ci_low", "ci_high", "band",
    "n", "n_unit",
]


def metrics_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [METRIC_HEADER]
    for s in data["fields"]:
        f = s["field"]
        rows.append(["headline", f, "krippendorff_alpha", "", "", "", s["alpha"]["value"], s["alpha_ci"]["lo"],
                     s["alpha_ci"]["hi"], s["alpha"]["band"], s["alpha"]["n_items"], "items"])
        rows.append(["headline", f, "fleiss_kappa", "", "", "", s["fleiss_kappa"]["value"], "", "", "",
                     s["fleiss_kappa"]["n_items"], "items"])
        rows.append(["headline", f, "percent_agreement", "", "", "", s["percent_agreement"]["value"], "", "", "",
                     s["percent_agreement"]["n_pairs"], "pairs"])
    field = data["field"]
    kappa = data["kappa"]
    names = kappa["usernames"]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if kappa["n"][i][j] > 0:
                rows.append(["cohen_kappa", field, "cohen_kappa", names[i], names[j], "", kappa["kappa"][i][j],
                             "", "", "", kappa["n"][i][j], "items"])
    for name, series in data["weekly"]["fields"].items():
        for week, alpha, n in zip(data["weekly"]["weeks"], series["alpha"], series["n_items"], strict=True):
            rows.append(["weekly", name, "krippendorff_alpha", "", "", week, alpha, "", "", "", n, "items"])
    for a in data["annotators"]:
        who = a["username"]
        rows.append(["annotator", "", "annotations", who, "", "", a["n_annotations"], "", "", "",
                     a["n_annotations"], "annotations"])
        rows.append(["annotator", "", "median_seconds", who, "", "", a["median_seconds"], "", "", "",
                     a["n_annotations"], "annotations"])
        rows.append(["annotator", "decision", "rejection_rate", who, "", "", a["rejection_rate"]["share"], "", "",
                     "", a["rejection_rate"]["n"], "annotations"])
        rows.append(["annotator", field, "agreement_with_others", who, "", "", a["with_others"]["share"], "", "",
                     "", a["with_others"]["n_pairs"], "pairs"])
        for key, metric in (("with_final", "agreement_with_final"),
                            ("with_final_adjudicated", "agreement_with_final_adjudicated"),
                            ("with_final_consensus", "agreement_with_final_consensus")):
            rows.append(["annotator", field, metric, who, "", "", a[key]["share"], "", "", "", a[key]["n"], "items"])
    return rows


def _bad_filters(form: AgreementFilterForm) -> HttpResponse:
    return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain; charset=utf-8")


@maintainer_required
def export_matrix(request):
    form, filters = _filters_from(request)
    if filters is None:
        return _bad_filters(form)
    field = form.selected_field()
    table, names = selectors.item_annotator_matrix(filters=filters, field=field)
    dimensions = selectors.dimension_names() if field == "dimension" else {}
    return csv_response(matrix_rows(table, names, field, dimensions), f"agreement-matrix-{field}-{_stamp()}.csv")


@maintainer_required
def export_metrics(request):
    form, filters = _filters_from(request)
    if filters is None:
        return _bad_filters(form)
    data = selectors.agreement_dashboard(
        filters=filters, field=form.selected_field(), min_shared=form.selected_min_shared()
    )
    return csv_response(metrics_rows(data), f"agreement-metrics-{_stamp()}.csv")
