"""Pages of evaluation: runs (start, follow, cancel, resume, publish), leaderboards with charts and exports,
a model's drill-down, rubrics.

Runs, rubric edits and calibration (maintainers' own labels of a robust run's answers) are for maintainers and
admins; leaderboards, their exports, release reports, drill-downs of the run a
leaderboard shows and rubric texts are for every role. Hold-out items are shown to maintainers and admins only.
Every write calls a service in evaluation.services.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import any_role_required, maintainer_required
from accounts.roles import is_maintainer
from core.views import page_action
from curation.models import Dimension
from llm.models import ModelEndpoint
from releases import selectors as release_selectors
from releases.models import Release

from . import exports, report, selectors
from . import services as svc
from .forms import DrilldownFilterForm, EvalRunForm, RubricForm, dimension_label
from .models import EvalRun, EvalTarget, HumanLabel, Match, PointVerdict, Rubric

DRILLDOWN_PAGE_SIZE = 20
RECENT_RUNS = 50


def _release_or_404(request, version: str) -> Release:
    try:
        return release_selectors.release_get(version=version, user=request.user)
    except Release.DoesNotExist:
        raise Http404(_("No such release"))


# -- runs --------------------------------------------------------------------------------------


def _selected_release(value: str | None) -> Release | None:
    releases = Release.objects.frozen().order_by("-frozen_at", "-pk")
    return (releases.filter(version=value).first() if value else None) or releases.first()


def _run_list_page(request, form: EvalRunForm | None = None, status: int = 200):
    if form is None:
        release = _selected_release(request.GET.get("release"))
        judge = ModelEndpoint.objects.filter(name__icontains="judge").order_by("name").first()
        form = EvalRunForm(release=release, initial={
            "release": release, "judge": judge, "seed": 0, "mode": EvalRun._meta.get_field("mode").default,
        })
    runs = list(selectors.runs_list()[:RECENT_RUNS])
    return render(request, "evaluation/run_list.html", {
        "form": form, "runs": runs, "runs_active": any(r.is_active for r in runs),
        "endpoints": ModelEndpoint.objects.order_by("name"),
        "has_releases": Release.objects.frozen().exists(),
    }, status=status)


@maintainer_required
def run_list(request):
    part = request.GET.get("part")
    if request.htmx and part == "judges":
        form = EvalRunForm(release=_selected_release(request.GET.get("release")))
        return render(request, "evaluation/run_list.html#judges", {"form": form})
    if request.htmx and part == "runs":
        runs = list(selectors.runs_list()[:RECENT_RUNS])
        return render(request, "evaluation/run_list.html#runs",
                      {"runs": runs, "runs_active": any(r.is_active for r in runs)})
    return _run_list_page(request)


@maintainer_required
@require_POST
def run_start(request):
    form = EvalRunForm(request.POST, release=_selected_release(request.POST.get("release")))
    if form.is_valid():
        d = form.cleaned_data
        try:
            with transaction.atomic():
                run = svc.run_create(
                    release=d["release"], targets=d["targets"], judge=d["judge"], judges=form.judges(),
                    mode=d["mode"], seed=d["seed"], system_prompt=d["system_prompt"],
                    temperature=d["temperature"], max_tokens=d["max_tokens"], actor=request.user, enqueue=True,
                    **form.robust_options(),
                )
        except svc.EvalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Evaluation run %(id)s queued.") % {"id": run.pk})
            return redirect("evaluation:run_detail", pk=run.pk)
    return _run_list_page(request, form=form, status=400)


def _progress_context(run: EvalRun) -> dict[str, Any]:
    shards = list(run.shards.select_related("target").order_by("kind", "dimension_code", "round_no", "pk"))
    return {
        "run": run, "shards": shards,
        "failed_shards": [s for s in shards if s.error],
        "can_resume": run.status in (EvalRun.Status.CANCELLED, EvalRun.Status.FAILED),
        "is_board": run.status == EvalRun.Status.SUCCEEDED and selectors.is_board_run(run=run),
        "tokens": run.prompt_tokens + run.completion_tokens,
    }


def _dimension_names(run: EvalRun) -> dict[str, str]:
    """The run's dimensions in the taxonomy's order (not run.rubrics' key order, which jsonb changes)."""
    dims = Dimension.objects.filter(taxonomy_id=run.release.taxonomy_id, code__in=list(run.rubrics)).order_by(
        "order", "code")
    names = {d.code: dimension_label(d.name_zh, d.name_en) for d in dims}
    return names | {code: code for code in run.rubrics if code not in names}


@maintainer_required
def run_detail(request, pk: int):
    run = get_object_or_404(selectors.runs_list(), pk=pk)
    context = _progress_context(run)
    if request.htmx:
        return render(request, "evaluation/run_detail.html#progress", context)
    names = _dimension_names(run)
    endpoints = dict(ModelEndpoint.objects.filter(pk__in=list(run.judges.values())).values_list("pk", "name"))
    robust = run.robust_rubrics or {}
    ids = [*run.rubrics.values(), *(pk for kinds in robust.values() for pk in kinds.values())]
    rubrics = {r.pk: r for r in Rubric.objects.filter(pk__in=ids)}
    context.update(
        targets=selectors.run_targets(run=run),
        dimension_judges=[(names.get(code, code), endpoints.get(pk, "?")) for code, pk in run.judges.items()],
        # Each dimension's rubric versions: the pairwise one, then robust mode's (with ties, pointwise).
        rubrics=[(label, [r for r in [rubrics.get(run.rubrics[code]),
                                      *(rubrics.get(i) for i in robust.get(code, {}).values())] if r])
                 for code, label in names.items()],
        robust=run.mode == EvalRun.Mode.ROBUST,
    )
    return render(request, "evaluation/run_detail.html", context)


def _run_action(request, pk: int, action, done_message: str, unconfirmed: str | None = None):
    run = get_object_or_404(EvalRun.objects.select_related("release"), pk=pk)
    return page_action(request, run, action, keyword="run", refusal=svc.EvalError, unconfirmed=unconfirmed,
                       done=done_message % {"id": run.pk, "version": run.release.version},
                       back="evaluation:run_detail", pk=pk)


@maintainer_required
@require_POST
def run_cancel(request, pk: int):
    return _run_action(request, pk, svc.run_cancel, _("Evaluation run %(id)s cancelled; finished work is kept."),
                       unconfirmed=_("Tick the confirmation to cancel."))


@maintainer_required
@require_POST
def run_resume(request, pk: int):
    return _run_action(request, pk, svc.run_resume, _("Evaluation run %(id)s queued again."))


@maintainer_required
@require_POST
def run_publish(request, pk: int):
    return _run_action(request, pk, svc.run_publish,
                       _("Evaluation run %(id)s is now the published leaderboard of %(version)s."),
                       unconfirmed=_("Tick the confirmation to publish."))


@maintainer_required
@require_POST
def run_unpublish(request, pk: int):
    return _run_action(request, pk, svc.run_unpublish, _("Evaluation run %(id)s is no longer published."),
                       unconfirmed=_("Tick the confirmation to unpublish."))


# -- leaderboards ------------------------------------------------------------------------------


def _rank_change(value: int | None, has_parent: bool) -> tuple[str, str]:
    if value is None:
        return (_("new"), "new") if has_parent else ("", "")
    if value > 0:
        return f"↑{value}", "up"
    if value < 0:
        return f"↓{-value}", "down"
    return "—", "same"


def _board_or_404(request, release: Release):
    """The release's board; a maintainer may ask for any finished run of it with `?run=`."""
    run_id = request.GET.get("run")
    if run_id and is_maintainer(request.user):
        try:
            run = selectors.runs_list(release=release).finished().get(pk=int(run_id))
        except (ValueError, EvalRun.DoesNotExist):
            raise Http404(_("No finished evaluation run %(id)s of this release") % {"id": run_id})
        return selectors.leaderboard_for_run(run), True
    return selectors.leaderboard(release=release), False


def _round_series(entries: list[dict], names: dict[str, str], labels: dict[str, str]) -> list[dict[str, Any]]:
    rounds = []
    for entry in entries:
        played = entry.get("rounds") or []
        if entry.get("skipped") or not played:
            continue
        pool = [str(pk) for pk in entry.get("pool", [])]
        series = [{"name": names.get(pk, pk),
                   "ratings": [svc.lsb.START_RATING] + [r["ratings"].get(pk) for r in played]}
                  for pk in pool]
        rounds.append({"code": entry["code"], "label": labels.get(entry["code"], entry["code"]),
                       "rounds": [_("Start")] + [str(r["round"]) for r in played], "series": series})
    return rounds


def _chart_data(board, dims: list[dict]) -> dict[str, Any]:
    scored = [d for d in dims if not d["skipped"]]
    names = {str(r.target_id): r.name for r in board.rows}
    labels = {d["code"]: d["label"] for d in dims}
    if board.robust:
        # Robust mode plays no Swiss rounds; the rounds shown are those of its LiveSecBench figures, if computed.
        lsb = (board.run.results or {}).get("livesecbench") or {}
        rounds = _round_series(lsb.get("dimensions", []), names, labels)
    else:
        rounds = _round_series([d["entry"] for d in scored], names, labels)
    models = []
    for r in board.rows:
        model = {"name": r.name, "values": [r.overall] + [r.scores.get(d["code"]) for d in scored]}
        if board.robust:
            spans = [(r.overall_low, r.overall_high)] + [r.intervals.get(d["code"]) or (None, None) for d in scored]
            model["low"] = [s[0] for s in spans]
            model["high"] = [s[1] for s in spans]
        models.append(model)
    return {
        "labels": {"score": _("Score (0–100)"), "rating": _("Rating"), "round": _("Round"),
                   # xgettext:no-python-format (a literal percent sign: msgfmt would reject the translation)
                   "interval": _("95% interval")},
        "categories": [_("Overall")] + [d["label"] for d in scored],
        "models": models, "rounds": rounds, "robust": board.robust,
    }


def _kappa_view(kappa) -> dict[str, Any]:
    """A judge–human kappa as the pages show it: the figure with its interval, or why there is none."""
    if kappa is None or kappa.n == 0:
        return {"n": 0, "kappa": None}
    return {"n": kappa.n, "kappa": kappa.kappa, "low": kappa.low, "high": kappa.high,
            "observed": kappa.observed}


def _rate_view(rate) -> dict[str, Any] | None:
    if not rate or rate[0] is None:
        return None
    return {"rate": 100 * rate[0], "low": 100 * rate[1], "high": 100 * rate[2], "n": rate[3]}


def _board_context(board) -> dict[str, Any]:
    results = (board.run.results or {}) if board.run else {}
    robust = board.robust
    dims = [{"code": d["code"], "label": dimension_label(d["name_zh"], d["name_en"]), "skipped": d["skipped"],
             "reasoning": d.get("reasoning", False), "matches": d.get("matches", 0), "invalid": d.get("invalid", 0),
             "entry": d} for d in board.dimensions]
    if robust:
        for d in dims:
            entry = d["entry"]
            d.update(bias=entry.get("position_bias"), judge_calls=entry.get("judge_calls", 0),
                     ties=entry.get("ties", 0), comparisons=entry.get("comparisons_total", 0),
                     kappa=_kappa_view(board.kappa.get(d["code"])))
    has_parent = board.parent_run is not None
    low, high = results.get("overall_low") or {}, results.get("overall_high") or {}
    rows = []
    for r in board.rows:
        change, change_class = _rank_change(r.rank_change, has_parent)
        key = str(r.target_id)
        cells = []
        for d in dims:
            score = None if d["skipped"] else r.scores.get(d["code"])
            cell: dict[str, Any] = {"score": score, "interval": r.intervals.get(d["code"]) if score is not None
                                    else None}
            if robust and not d["skipped"]:
                cell.update(rank=d["entry"].get("ranks", {}).get(key),
                            shared=bool(d["entry"].get("shared", {}).get(key)),
                            safe=_rate_view(r.safe_rate.get(d["code"])),
                            refusal=_rate_view(r.refusal_rate.get(d["code"])))
            cells.append(cell)
        rows.append({
            "row": r, "change": change, "change_class": change_class, "cells": cells,
            "scores": [c["score"] for c in cells],
            "rates": [c for c, d in zip(cells, dims, strict=True) if not d["skipped"]],
            "rank": f"={r.rank}" if robust and r.shared_rank else str(r.rank),
            "interval": (low[key], high[key]) if key in low and key in high else None,
        })
    return {"board": board, "dims": dims, "rows": rows, "has_parent": has_parent, "robust": robust,
            "scored_dims": [d for d in dims if not d["skipped"]],
            "chart": _chart_data(board, dims) if board.run else None}


@any_role_required
def leaderboard_index(request):
    return render(request, "evaluation/leaderboard_index.html", {"boards": selectors.releases_with_boards()})


@any_role_required
def leaderboard(request, version: str):
    release = _release_or_404(request, version)
    board, chosen = _board_or_404(request, release)
    context = _board_context(board)
    context.update(
        release=release, chosen_run=chosen, boards=selectors.releases_with_boards(),
        maintainer=is_maintainer(request.user),
        run_query=f"?run={board.run.pk}" if chosen else "",
        formats=[("csv", "CSV"), ("json", "JSON"), ("md", "Markdown")],
    )
    return render(request, "evaluation/leaderboard.html", context)


@any_role_required
def leaderboard_export(request, version: str, fmt: str):
    if fmt not in exports.EXPORTERS:
        raise Http404(_("Unknown export format"))
    release = _release_or_404(request, version)
    board, chosen = _board_or_404(request, release)
    if board.run is None:
        raise Http404(_("This release has no finished evaluation yet"))
    name = f"livesec-leaderboard-{release.version}" + (f"-run{board.run.pk}" if chosen else "") + f".{fmt}"
    if fmt == "md":
        body = exports.leaderboard_markdown(board, language=_report_language(request),
                                            include_holdout=is_maintainer(request.user))
    else:
        body = exports.EXPORTERS[fmt](board)
    response = HttpResponse(body, content_type=exports.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# -- release report ---------------------------------------------------------------------------


def _report_language(request) -> str:
    """`?lang=zh-hans|en`; the report is Chinese unless English is asked for."""
    lang = request.GET.get("lang", "")
    return lang if lang in report.LANGUAGES else "zh-hans"


def _report_release(request, version: str) -> Release:
    release = _release_or_404(request, version)
    if not release.is_frozen:
        raise Http404(_("A report is written of a frozen release only"))
    return release


@any_role_required
def release_report(request, version: str):
    """The printable report: hold-out items (counts, texts) for maintainers and admins only."""
    release = _report_release(request, version)
    board, chosen = _board_or_404(request, release)
    maintainer = is_maintainer(request.user)
    data = report.report_data(release, board=board, include_holdout=maintainer)
    names = {d["code"]: report.dimension_name(d) for d in data["dimensions"] + data["scored"] + data["skipped"]}
    run_query = f"run={board.run.pk}&" if chosen else ""
    return render(request, "evaluation/report.html", {
        "release": release, "data": data, "maintainer": maintainer,
        "dimensions": [dict(d, label=names[d["code"]]) for d in data["dimensions"]],
        "scored": [dict(d, label=names[d["code"]]) for d in data["scored"]],
        "retired": [dict(r, label=names.get(r["dimension"], r["dimension"])) for r in data["retired"]],
        "notable": [dict(it, label=names.get(it["dimension"], it["dimension"]))
                    for it in (data["notable"] or {}).get("items", [])],
        "chart": _board_context(board)["chart"] if board.run else None,
        "rows": [dict(r, rank_label=report.rank_text(r),
                      change=report.rank_change_text(r["rank_change"], data["has_parent_board"]),
                      cells=[(r["scores"].get(d["code"]), r["intervals"].get(d["code"])) for d in data["scored"]])
                 for r in data["leaderboard"]],
        "notable_basis": report.notable_basis(data["notable"]["basis"]) if data["notable"] else "",
        "calibration": [dict(c, label=names.get(c["code"], c["code"]), text=report.calibration_text(c),
                             bias_text=report.bias_text(c["bias"]))
                        for c in data["calibration"] or []],
        "methods": report.methods_notes(data),
        "mode": report.mode_label(data["run"]["mode"]) if data["run"] else "",
        "downloads": [(code, label, f"?{run_query}lang={code}") for code, label in
                      (("zh-hans", "中文"), ("en", "English"))],
    })


@any_role_required
def release_report_markdown(request, version: str):
    release = _report_release(request, version)
    board, chosen = _board_or_404(request, release)
    language = _report_language(request)
    data = report.report_data(release, board=board, include_holdout=is_maintainer(request.user))
    response = HttpResponse(report.render_markdown(data, language), content_type="text/markdown; charset=utf-8")
    name = f"livesec-report-{release.version}" + (f"-run{board.run.pk}" if chosen else "") + f"-{language}.md"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# -- drill-down --------------------------------------------------------------------------------


def drillable_run(request, pk: int) -> EvalRun:
    """A run whose answers the user may read: any run for maintainers, the leaderboard's run for the others."""
    run = get_object_or_404(selectors.runs_list(), pk=pk)
    if not is_maintainer(request.user) and not (run.status == EvalRun.Status.SUCCEEDED
                                                and selectors.is_board_run(run=run)):
        raise Http404(_("No such evaluation run"))
    return run


_RESULTS = {
    "win": _("won"), "loss": _("lost"), "tie": _("tie"), "invalid": _("invalid verdict"),
    "error": _("judge call failed"), "pending": _("not judged yet"),
}


def match_view(m: Match, target: EvalTarget, names: dict[str, str]) -> dict[str, Any]:
    """One verdict as the drilled-down model saw it: its side, its opponent and what the judge said."""
    position = "A" if m.target_a_id == target.pk else "B"
    opponent = m.target_b if position == "A" else m.target_a
    if m.outcome in (Match.Outcome.A, Match.Outcome.B):
        result = "win" if m.outcome == position else "loss"
    elif m.outcome == "C":
        result = "tie"
    else:
        result = {Match.Outcome.INVALID: "invalid", Match.Outcome.ERROR: "error"}.get(m.outcome, "pending")
    return {
        "dimension": names.get(m.dimension_code, m.dimension_code), "round": m.round_no, "position": position,
        "opponent": opponent.name, "result": result, "result_label": str(_RESULTS[result]), "raw": m.raw,
        "judge": m.judge.name if m.judge else "", "reused": m.reused, "error": m.error, "outcome": m.outcome,
    }


@any_role_required
def drilldown(request, pk: int, target_id: int):
    run = drillable_run(request, pk)
    target = get_object_or_404(EvalTarget.objects.select_related("endpoint"), run=run, pk=target_id)
    maintainer = is_maintainer(request.user)
    names = _dimension_names(run)
    form = DrilldownFilterForm(request.GET or None, dimensions=list(names.items()))
    dimension = form.cleaned_data["dimension"] if form.is_valid() else ""
    items = selectors.drilldown_items(run=run, include_holdout=maintainer, dimension=dimension or None)
    page = Paginator(items, DRILLDOWN_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.drilldown_rows(run=run, target=target, items=page.object_list)
    points = selectors.drilldown_point_verdicts(run=run, target=target, item_ids=[r.item.pk for r in rows])
    entries = [{"item": row.item, "answer": row.answer, "dimension": names.get(row.item.dimension_code,
                                                                                row.item.dimension_code),
                "verdicts": [match_view(m, target, names) for m in row.matches],
                "points": points.get(row.item.pk, [])}
               for row in rows]
    row = None
    if run.results:
        row = next((r for r in selectors.leaderboard_for_run(run).rows if r.target_id == target.pk), None)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "evaluation/drilldown.html", {
        "run": run, "target": target, "row": row, "form": form, "page": page, "entries": entries,
        "maintainer": maintainer, "query": query.urlencode(), "dimension": dimension,
    })


# -- calibration -------------------------------------------------------------------------------

CALIBRATION_KEYS = (("safe", "1", "S"), ("unsafe", "2", "U"), ("refusal", "3", "R"))


def _calibration_context(request, run: EvalRun, names: dict[str, str], dimension: str) -> dict[str, Any]:
    queue = selectors.calibration_queue(run=run, user=request.user, dimension=dimension or None)
    verdict = queue[0] if queue else None
    done, left = selectors.calibration_progress(run=run, user=request.user, dimension=dimension or None)
    kappa = selectors.judge_kappa(run=run)
    choices = dict(HumanLabel.Label.choices)
    return {
        "run": run, "verdict": verdict, "done": done, "left": left, "dimension": dimension,
        "dimensions": list(names.items()),
        "dimension_label": names.get(verdict.dimension_code, verdict.dimension_code) if verdict else "",
        "kappas": [(code, label, _kappa_view(kappa.get(code))) for code, label in names.items()],
        "choices": [(value, choices[value], number, letter) for value, number, letter in CALIBRATION_KEYS],
        "key_guard_ms": settings.REVIEW_KEY_GUARD_MS,
    }


@maintainer_required
def calibrate(request, pk: int):
    """Maintainers label the run's answers one at a time (safe, unsafe, refusal) to measure the judge."""
    run = get_object_or_404(selectors.runs_list(), pk=pk)
    names = _dimension_names(run)
    dimension = request.POST.get("dimension") if request.method == "POST" else request.GET.get("dimension")
    dimension = dimension if dimension in names else ""
    flash = None
    if request.method == "POST":
        try:
            verdict_id = int(request.POST.get("verdict", ""))
        except ValueError:
            verdict_id = 0
        verdict = PointVerdict.objects.filter(run=run, pk=verdict_id, answer__isnull=False).select_related(
            "answer").first()
        try:
            if verdict is None:
                raise svc.EvalError(_("That answer is not one of this run's."))
            svc.human_label_set(answer=verdict.answer, dimension_code=verdict.dimension_code,
                                label=request.POST.get("label", ""), actor=request.user)
        except svc.EvalError as exc:
            # 200 even so: htmx swaps only successful answers, and the refusal must show in place.
            flash = ("error", str(exc))
        else:
            label = dict(HumanLabel.Label.choices)[request.POST["label"]]
            flash = ("success", _("Labelled %(label)s.") % {"label": label})
        if not request.htmx:
            getattr(messages, flash[0])(request, flash[1])
            query = f"?dimension={dimension}" if dimension else ""
            return redirect(reverse("evaluation:calibrate", args=[run.pk]) + query)
    context = _calibration_context(request, run, names, dimension)
    context["flash"] = flash
    template = "evaluation/calibrate.html#item" if request.htmx else "evaluation/calibrate.html"
    return render(request, template, context)


# -- rubrics -----------------------------------------------------------------------------------


@any_role_required
def rubric_list(request):
    by_dimension: dict[int, list[Rubric]] = {}
    for rubric in selectors.rubrics_list():
        by_dimension.setdefault(rubric.dimension_id, []).append(rubric)
    groups: list[dict[str, Any]] = []
    for dim in Dimension.objects.select_related("taxonomy").order_by("-taxonomy__code", "order", "code"):
        if not groups or groups[-1]["taxonomy"] != dim.taxonomy:
            groups.append({"taxonomy": dim.taxonomy, "dimensions": []})
        kinds: dict[str, list[Rubric]] = {}
        for rubric in by_dimension.get(dim.pk, []):
            kinds.setdefault(rubric.kind, []).append(rubric)
        groups[-1]["dimensions"].append({
            "dimension": dim, "label": dimension_label(dim.name_zh, dim.name_en),
            "kinds": [{"kind": Rubric.Kind(k).label if k in Rubric.Kind.values else k, "latest": v[0],
                       "older": v[1:]} for k, v in kinds.items()],
        })
    return render(request, "evaluation/rubric_list.html", {
        "groups": groups, "maintainer": is_maintainer(request.user),
        "missing": any(not d["kinds"] for g in groups for d in g["dimensions"]),
    })


@maintainer_required
@require_POST
def rubrics_seed(request):
    created = svc.rubrics_seed_defaults()
    messages.success(request, _("%(n)s default rubrics created.") % {"n": created})
    return redirect("evaluation:rubric_list")


@any_role_required
def rubric_detail(request, pk: int):
    rubric = get_object_or_404(selectors.rubrics_list(), pk=pk)
    maintainer = is_maintainer(request.user)
    if request.method == "POST" and not maintainer:
        raise PermissionDenied
    form = RubricForm(request.POST or None, initial={"text": rubric.text}) if maintainer else None
    history = selectors.rubrics_list().filter(dimension_id=rubric.dimension_id, kind=rubric.kind).order_by("-version")
    if form is not None and request.method == "POST" and form.is_valid():
        latest = history.first().version
        try:
            new = svc.rubric_update(rubric=rubric, text=form.cleaned_data["text"], notes=form.cleaned_data["notes"],
                                    actor=request.user)
        except svc.EvalError as exc:
            form.add_error("text", str(exc))
        else:
            if new.version <= latest:
                messages.info(request, _("Nothing changed: the text is that of version %(v)s.") % {"v": new.version})
            else:
                messages.success(request, _("Saved as version %(v)s.") % {"v": new.version})
            return redirect("evaluation:rubric_detail", pk=new.pk)
    if rubric.kind == Rubric.Kind.POINTWISE:
        needed = ["{question}", "{answer}"]
    elif rubric.shows == Rubric.Shows.REASONING:
        needed = ["{question}", "{reasoning_a}", "{reasoning_b}"]
    else:
        needed = ["{question}", "{answer_a}", "{answer_b}"]
    return render(request, "evaluation/rubric_detail.html", {
        "rubric": rubric, "form": form, "history": history, "maintainer": maintainer, "needed": needed,
        "label": dimension_label(rubric.dimension.name_zh, rubric.dimension.name_en),
    }, status=400 if form is not None and form.errors else 200)
