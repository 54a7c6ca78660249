"""Pages of attack runs (maintainers): start a run, follow it and read its chains of rewrites."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.permissions import maintainer_required

from . import attack
from . import attack_services as svc
from .attack_forms import AttackRunForm
from .models import AttackRun
from .services import RunError

FORM_FIELDS = ("streams", "iterations", "branching", "width", "tap", "threshold", "mutation_rate", "seed",
               "max_calls", "max_tokens", "max_seconds")


def _runs():
    return AttackRun.objects.select_related("attacker", "target", "judge", "dimension", "dimension__taxonomy",
                                            "created_by")


def _list_page(request, form=None, status=200):
    return render(request, "generation/attack/list.html", {
        "form": form or AttackRunForm(), "runs": _runs().defer("state")[:30],
    }, status=status)


@maintainer_required
def attack_list(request):
    return _list_page(request)


@maintainer_required
@require_POST
def attack_start(request):
    form = AttackRunForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                run = svc.attack_run_create(
                    seed_prompt=data["seed_prompt"] or None, seed_text=data["seed_text"], dimension=data["dimension"],
                    attacker=data["attacker"], target=data["target"], judge=data["judge"], actor=request.user,
                    **{name: data[name] for name in FORM_FIELDS})
        except (RunError, ValueError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Attack run %(id)s queued.") % {"id": run.pk})
            return redirect("generation:attack_detail", pk=run.pk)
    return _list_page(request, form=form, status=400)


STOP_LABELS = {
    attack.STOP_DONE: gettext_lazy("every stream finished"),
    attack.STOP_CALLS: gettext_lazy("call budget spent"),
    attack.STOP_TOKENS: gettext_lazy("token budget spent"),
    attack.STOP_TIME: gettext_lazy("time budget spent"),
}


@maintainer_required
def attack_detail(request, pk: int):
    run = get_object_or_404(_runs(), pk=pk)
    state = run.state or {}
    context = {
        "run": run, "streams": attack.streams_view(state), "stop_label": STOP_LABELS.get(run.stop_reason, ""),
        "active": run.status in AttackRun.ACTIVE,
    }
    if request.htmx:
        return render(request, "generation/attack/detail.html#progress", context)
    return render(request, "generation/attack/detail.html", context)


@maintainer_required
@require_POST
def attack_cancel(request, pk: int):
    run = get_object_or_404(AttackRun, pk=pk)
    if request.POST.get("confirm") != "1":
        messages.error(request, _("Tick the confirmation to cancel."))
        return redirect("generation:attack_detail", pk=pk)
    svc.attack_run_cancel(run=run, actor=request.user)
    messages.success(request, _("Attack run %(id)s cancelled; its chains so far are kept.") % {"id": run.pk})
    return redirect("generation:attack_detail", pk=pk)
