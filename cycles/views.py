"""Cycle pages (maintainers and admins): the plans, the cycles with each step's state and what it waits for,
the approval of a cut with what the release would contain, the history, and the report."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import maintainer_required
from core.views import page_action
from curation.text import error_message

from . import selectors
from . import services as svc
from .forms import PlanForm
from .models import Cycle, CyclePlan


@maintainer_required
def cycle_list(request):
    return render(request, "cycles/cycle_list.html", {
        "plans": selectors.plan_list(), "cycles": selectors.cycle_list()[:100],
    })


def _plan_fields(form: PlanForm) -> dict:
    d = form.cleaned_data
    return {"name": d["name"], "counts": form.counts(), "generator": d["generator"],
            "generation_mode": d["generation_mode"], "period": d["period"], "generate_day": d["generate_day"],
            "cut_day": d["cut_day"], "event_lookback_days": d["event_lookback_days"], "judge": d["judge"],
            "eval_mode": d["eval_mode"], "seed": d["seed"], "holdout_fraction": d["holdout_fraction"],
            "enabled": d["enabled"]}


@maintainer_required
def plan_new(request):
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = svc.plan_create(taxonomy=form.cleaned_data["taxonomy"], targets=form.cleaned_data["targets"],
                                   actor=request.user, **_plan_fields(form))
        except svc.CycleError as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("Plan %(name)s saved.") % {"name": plan.name})
            return redirect("cycles:cycle_list")
    return render(request, "cycles/plan_form.html", {"form": form, "plan": None},
                  status=400 if form.errors else 200)


@maintainer_required
def plan_edit(request, pk: int):
    plan = get_object_or_404(selectors.plan_list(), pk=pk)
    initial = {"name": plan.name, "taxonomy": plan.taxonomy.code, "enabled": plan.enabled, "period": plan.period,
               "generate_day": plan.generate_day, "cut_day": plan.cut_day, "generation_mode": plan.generation_mode,
               "generator": plan.generator_id, "event_lookback_days": plan.event_lookback_days,
               "targets": list(plan.targets.all()), "judge": plan.judge_id, "eval_mode": plan.eval_mode,
               "seed": plan.seed, "holdout_fraction": plan.holdout_fraction,
               **{f"count_{code}": n for code, n in plan.counts.items()}}
    form = PlanForm(request.POST or None, initial=initial, taxonomy=plan.taxonomy)
    form.fields["taxonomy"].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            svc.plan_update(plan=plan, targets=form.cleaned_data["targets"], actor=request.user,
                            **_plan_fields(form))
        except svc.CycleError as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("Plan %(name)s saved. Open cycles keep the plan they started with.") % {
                "name": form.cleaned_data["name"]})
            return redirect("cycles:cycle_list")
    return render(request, "cycles/plan_form.html", {"form": form, "plan": plan},
                  status=400 if form.errors else 200)


@maintainer_required
@require_POST
def plan_open_now(request, pk: int):
    plan = get_object_or_404(CyclePlan, pk=pk)
    try:
        cycle = svc.cycle_open_next(plan=plan, actor=request.user)
    except svc.CycleError as exc:
        messages.error(request, error_message(exc))
        return redirect("cycles:cycle_list")
    messages.success(request, _("Cycle %(label)s opened; generation starts now.") % {"label": cycle.label})
    return redirect("cycles:cycle_detail", pk=cycle.pk)


@maintainer_required
def cycle_detail(request, pk: int):
    try:
        cycle = selectors.cycle_get(pk=pk)
    except Cycle.DoesNotExist:
        raise Http404 from None
    context = {"cycle": cycle, "steps": selectors.step_rows(cycle),
               "waiting": selectors.message(cycle.wait.get("code", ""), cycle.wait.get("params")) if cycle.wait else ""}
    if request.htmx and request.GET.get("part") == "steps":
        return render(request, "cycles/cycle_detail.html#steps", context)
    context.update(
        history=selectors.history(cycle),
        preview=selectors.approval_preview(cycle) if cycle.step == Cycle.Step.APPROVE else None,
        candidates=svc.cycle_prompts(cycle).count(),
    )
    return render(request, "cycles/cycle_detail.html", context)


def _action(request, pk: int, service, done: str):
    cycle = get_object_or_404(Cycle, pk=pk)
    return page_action(request, cycle, service, keyword="cycle", refusal=svc.CycleError,
                       done=done % {"label": cycle.label}, unconfirmed=_("Tick the box to confirm."),
                       back="cycles:cycle_detail", pk=pk)


@maintainer_required
@require_POST
def cycle_approve(request, pk: int):
    return _action(request, pk, svc.cycle_approve,
                   _("Cut of cycle %(label)s approved: it freezes, exports, evaluates and publishes now."))


@maintainer_required
@require_POST
def cycle_cut(request, pk: int):
    return _action(request, pk, svc.cycle_cut_now, _("Cycle %(label)s is cut: the draft is made next."))


@maintainer_required
@require_POST
def cycle_retry(request, pk: int):
    return _action(request, pk, svc.cycle_retry, _("The failed step of cycle %(label)s is tried again."))


@maintainer_required
@require_POST
def cycle_cancel(request, pk: int):
    return _action(request, pk, svc.cycle_cancel, _("Cycle %(label)s cancelled."))


@maintainer_required
@require_GET
def cycle_report(request, pk: int):
    cycle = get_object_or_404(Cycle, pk=pk)
    english = request.GET.get("lang") == "en"
    text = cycle.report_en if english else cycle.report_zh
    if not text:
        raise Http404
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    name = f"livesec-{cycle.release.version}-report-{'en' if english else 'zh'}.md"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
