"""Pages of generation: start runs, follow them, events, templates and the candidates list."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.permissions import maintainer_required
from curation import selectors as curation_selectors
from curation.text import error_message

from . import mutations, selectors
from . import quality_gate as qg
from . import services as gen
from .forms import CandidateFilterForm, EventForm, LLMRunForm, MutationRunForm, TemplateForm
from .models import Event, GenerationRun, GeneratorTemplate


def _generation_page(request, llm_form=None, mutation_form=None, status=200):
    from llm.models import ModelEndpoint

    return render(request, "generation/generation.html", {
        "llm_form": llm_form or LLMRunForm(initial={"endpoint": ModelEndpoint.objects.order_by("name").first()}),
        "mutation_form": mutation_form or MutationRunForm(),
        "runs": selectors.run_list()[:30],
        "strategies": mutations.list_strategies(),
        "has_endpoints": ModelEndpoint.objects.exists(),
    }, status=status)


@maintainer_required
def generation(request):
    return _generation_page(request)


@maintainer_required
@require_POST
def run_start(request):
    mode = request.POST.get("mode", "llm")
    if mode == "mutation":
        form = MutationRunForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    run = gen.run_create(
                        mode="mutation", count=data["count"], seed=data["seed"], strategies=form.strategies(),
                        dimension=data["dimension"], source_statuses=data["source_statuses"], actor=request.user,
                    )
            except gen.RunError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Run %(id)s queued.") % {"id": run.pk})
                return redirect("generation:run_detail", pk=run.pk)
        return _generation_page(request, mutation_form=form, status=400)
    form = LLMRunForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                run = gen.run_create(
                    mode="llm", count=data["count"], endpoint=data["endpoint"], dimension=data["dimension"],
                    sub_dimension=data["sub_dimension"], techniques=list(data["techniques"]),
                    seed_topics=data["seed_topics"], events=list(data["events"]), temperature=data["temperature"],
                    batch_size=data["batch_size"], actor=request.user,
                )
        except gen.RunError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Run %(id)s queued.") % {"id": run.pk})
            return redirect("generation:run_detail", pk=run.pk)
    return _generation_page(request, llm_form=form, status=400)


GATE_REASON_LABELS = {
    qg.ECHO: gettext_lazy("repeats the generation prompt"),
    qg.REFUSAL: gettext_lazy("the generator refused"),
    qg.CODE: gettext_lazy("code or JSON fragment"),
    qg.TRUNCATED: gettext_lazy("cut off"),
    qg.NOT_CHINESE: gettext_lazy("mostly not Chinese"),
    qg.TOO_SHORT: gettext_lazy("too short"),
}


def _gate_context(run: GenerationRun, batches) -> dict:
    """The quality gate's summary per reason and every text it dropped, batch by batch."""
    summary = [(code, GATE_REASON_LABELS.get(code, code), n) for code, n in (run.gate_reasons or {}).items()]
    dropped = [
        {"batch": b.index + 1, "reason": item.get("reason", ""),
         "label": GATE_REASON_LABELS.get(item.get("reason", ""), item.get("reason", "")),
         "detail": item.get("detail", ""), "text": item.get("text", "")}
        for b in batches if b.gated_count for item in b.gated_items
    ]
    return {"gate_summary": summary, "gated_texts": dropped}


@maintainer_required
def run_detail(request, pk: int):
    run = get_object_or_404(selectors.run_list(), pk=pk)
    # The polled fragment holds every live part of the page: progress, the gate's summary and the batches.
    batches = list(run.batches.order_by("index").defer("raw_output", "sources"))
    context = {"run": run, "failed_batches": selectors.run_failed_batches(run=run), "batches": batches,
               **_gate_context(run, batches)}
    if request.htmx:
        return render(request, "generation/run_detail.html#progress", context)
    return render(request, "generation/run_detail.html", context)


@maintainer_required
@require_POST
def run_cancel(request, pk: int):
    run = get_object_or_404(GenerationRun, pk=pk)
    if request.POST.get("confirm") != "1":
        messages.error(request, _("Tick the confirmation to cancel."))
        return redirect("generation:run_detail", pk=pk)
    try:
        gen.run_cancel(run=run, actor=request.user)
        messages.success(request, _("Run %(id)s cancelled; finished batches are kept.") % {"id": run.pk})
    except gen.RunError as exc:
        messages.error(request, str(exc))
    return redirect("generation:run_detail", pk=pk)


@maintainer_required
@require_POST
def run_resume(request, pk: int):
    run = get_object_or_404(GenerationRun, pk=pk)
    try:
        gen.run_resume(run=run, actor=request.user)
        messages.success(request, _("Run %(id)s queued again.") % {"id": run.pk})
    except gen.RunError as exc:
        messages.error(request, str(exc))
    return redirect("generation:run_detail", pk=pk)


@maintainer_required
def event_list(request):
    return render(request, "generation/event_list.html", {"events": selectors.event_list()})


@maintainer_required
def event_edit(request, pk: int | None = None):
    event = get_object_or_404(Event, pk=pk) if pk else None
    form = EventForm(request.POST or None, instance=event)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if event is None:
                gen.event_create(**data, actor=request.user)
            else:
                gen.event_update(event=event, **data)
        except (ValueError, gen.RunError) as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("Event saved."))
            return redirect("generation:event_list")
    dimensions_form = None
    if event is not None:
        from .event_forms import EventDimensionsForm

        dimensions_form = EventDimensionsForm(initial={"dimensions": list(event.dimensions.all())})
    return render(request, "generation/event_form.html", {"form": form, "event": event,
                                                        "dimensions_form": dimensions_form},
                  status=400 if form.errors else 200)


@maintainer_required
def template_list(request):
    return render(request, "generation/template_list.html", {"templates": selectors.template_current_list()})


@maintainer_required
def template_edit(request, pk: int):
    template = get_object_or_404(GeneratorTemplate.objects.select_related("dimension__taxonomy", "technique"), pk=pk)
    form = TemplateForm(request.POST or None, initial={"system_text": template.system_text, "body": template.body})
    if request.method == "POST" and form.is_valid():
        try:
            new = gen.template_update(template=template, body=form.cleaned_data["body"],
                                      system_text=form.cleaned_data["system_text"], notes=form.cleaned_data["notes"],
                                      actor=request.user)
        except (ValueError, gen.RunError) as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("Saved as version %(v)s.") % {"v": new.version})
            return redirect("generation:template_edit", pk=new.pk)
    return render(request, "generation/template_form.html", {
        "form": form, "template": template, "history": selectors.template_history(template=template),
    }, status=400 if form.errors else 200)


@maintainer_required
def candidate_list(request):
    form = CandidateFilterForm(request.GET or None)
    filters = {k: v for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v}
    page = Paginator(selectors.candidate_list(**filters), 50).get_page(request.GET.get("page"))
    names = {t.code: t for t in curation_selectors.technique_list()}
    for prompt in page:
        # Asked of the generator but not (yet) confirmed: shown apart, marked "requested".
        confirmed = {t.code for t in prompt.techniques.all()}
        codes = (prompt.provenance or {}).get("techniques_requested") if isinstance(prompt.provenance, dict) else None
        prompt.requested_only = [names.get(str(c)) or str(c) for c in (codes if isinstance(codes, list) else [])
                                 if str(c) not in confirmed]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "generation/candidate_list.html", {"form": form, "page": page, "query": query.urlencode()})
