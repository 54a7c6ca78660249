"""Pages: queue list and management, the keyboard-first review page, My work, adjudication.

Views parse, check the role, call one service and render; the rules live in services.py.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.permissions import annotator_required, maintainer_required
from curation.models import Prompt
from curation.text import from_textarea

from . import labels, selectors, services
from .forms import QueueForm
from .models import Annotation, Claim, QueueItem, ReviewQueue, SubmitStatus

SUBMIT_MESSAGES = {
    SubmitStatus.COUNTED: ("success", gettext_lazy("Saved. Here is the next item.")),
    SubmitStatus.LATE: ("warning", gettext_lazy("Your lease had expired, but the item still needed your review: it counts.")),
    SubmitStatus.SURPLUS: (
        "warning",
        gettext_lazy(
            "Your lease had expired and the item already had enough reviews: your review is stored as surplus "
            "and does not count towards the decision."
        ),
    ),
    SubmitStatus.REVISED: ("success", gettext_lazy("Your annotation was revised.")),
}


def _message(status: str) -> tuple[str, str]:
    level, text = SUBMIT_MESSAGES[status]
    return level, str(text)


# ----------------------------------------------------------------------------- parsing


def _int_or_none(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1  # refused by the service as not part of the taxonomy


def _float_or_none(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _typed(post, name: str, shown: dict) -> str:
    """A textarea's value as the person meant it (see curation.text.from_textarea)."""
    return from_textarea(post.get(name, ""), shown.get(name) or "")


def _label_values(post, shown: dict) -> dict:
    """A review or adjudication form's label fields as sent, keyed as `labels.input_from` reads them (the
    API's serializer gives the same keys); `shown` holds the texts the page showed, which an untouched
    textarea gives back."""
    return {
        "decision": post.get("decision", ""),
        "final_text": _typed(post, "final_text", shown),
        "dimension": _int_or_none(post.get("dimension")),
        "sub_dimension": _int_or_none(post.get("sub_dimension")),
        "techniques": [t for t in (_int_or_none(v) for v in post.getlist("techniques")) if t is not None],
        "risk_expression": post.get("risk_expression", ""),
        "severity": _int_or_none(post.get("severity")),
        "expected_behaviour": post.get("expected_behaviour", ""),
        "reference_answer": _typed(post, "reference_answer", shown),
        "reject_reason": post.get("reject_reason", ""),
        "note": _typed(post, "note", shown),
        "seconds_spent": _float_or_none(post.get("seconds_spent")),
        "shown_prompt": _int_or_none(post.get("shown_prompt")),
    }


def _input_from_post(post, shown: dict) -> labels.AnnotationInput:
    return labels.input_from(_label_values(post, shown))


def _values_from_prompt(prompt: Prompt) -> dict:
    return {
        "decision": "",
        "final_text": prompt.text,
        "dimension": prompt.dimension_id,
        "sub_dimension": prompt.sub_dimension_id,
        "techniques": {t.pk for t in selectors.techniques_of(prompt)},
        "risk_expression": prompt.risk_expression,
        "severity": prompt.severity,
        "expected_behaviour": prompt.expected_behaviour,
        "reference_answer": (prompt.reference_answers or [""])[0],
        "reject_reason": "",
        "note": "",
    }


def _texts_of_prompt(prompt: Prompt) -> dict:
    return {"final_text": prompt.text, "reference_answer": (prompt.reference_answers or [""])[0]}


def _values_from_annotation(ann: Annotation) -> dict:
    return {
        "decision": ann.decision,
        "final_text": ann.final_text,
        "dimension": ann.dimension_id,
        "sub_dimension": ann.sub_dimension_id,
        "techniques": {t.pk for t in selectors.techniques_of(ann)},
        "risk_expression": ann.risk_expression,
        "severity": ann.severity,
        "expected_behaviour": ann.expected_behaviour,
        "reference_answer": ann.reference_answer,
        "reject_reason": ann.reject_reason,
        "note": ann.note,
    }


def _values_from_post(post) -> dict:
    return {
        "decision": post.get("decision", ""),
        "final_text": post.get("final_text", ""),
        "dimension": _int_or_none(post.get("dimension")),
        "sub_dimension": _int_or_none(post.get("sub_dimension")),
        "techniques": {_int_or_none(v) for v in post.getlist("techniques")},
        "risk_expression": post.get("risk_expression", ""),
        "severity": _int_or_none(post.get("severity")),
        "expected_behaviour": post.get("expected_behaviour", ""),
        "reference_answer": post.get("reference_answer", ""),
        "reject_reason": post.get("reject_reason", ""),
        "note": post.get("note", ""),
    }


def _label_choices(taxonomy_id: int) -> dict:
    dimensions = selectors.taxonomy_choices(taxonomy_id=taxonomy_id)
    return {
        "dimensions": dimensions,
        "reference_dimension_ids": {d.pk for d in dimensions if d.uses_reference_answers},
        "techniques": selectors.technique_choices(),
        "risk_choices": Prompt.RiskExpression.choices,
        "behaviour_choices": Prompt.ExpectedBehaviour.choices,
        "severity_choices": [1, 2, 3, 4, 5],
        "reject_reasons": list(enumerate(Annotation.RejectReason.choices, start=1)),
    }


# ----------------------------------------------------------------------------- queues (annotators)


@annotator_required
def queue_list(request):
    queues = list(selectors.queue_list_for(user=request.user))
    counts = selectors.queue_state_counts(queue_ids=[q.pk for q in queues])
    rows = [
        {
            "queue": q,
            "counts": counts[q.pk],
            "can_claim": selectors.queue_can_claim(queue=q, user=request.user),
        }
        for q in queues
    ]
    return render(request, "annotation/queue_list.html", {"rows": rows})


def _queue_for_review(request, pk: int) -> ReviewQueue:
    queue = get_object_or_404(ReviewQueue.objects.select_related("taxonomy"), pk=pk)
    if not selectors.queue_can_claim(queue=queue, user=request.user):
        raise PermissionDenied
    return queue


def _review_context(request, queue: ReviewQueue) -> dict:
    return {
        "queue": queue,
        "progress": selectors.review_progress(queue=queue, user=request.user),
        "key_guard_ms": settings.REVIEW_KEY_GUARD_MS,
    }


@annotator_required
def review_start(request, pk: int):
    queue = _queue_for_review(request, pk)
    context = {**_review_context(request, queue), "claim": None, "started": False}
    return render(request, "annotation/review.html", context)


def _requested_techniques(prompt: Prompt, techniques, current_ids: set[int]) -> list:
    """Techniques the generator was asked for but nobody has confirmed: offered unchecked, marked "requested"."""
    codes = (prompt.provenance or {}).get("techniques_requested") or []
    if not isinstance(codes, list):
        return []
    wanted = {str(c) for c in codes}
    return [t for t in techniques if t.code in wanted and t.pk not in current_ids]


def _render_claim(
    request, claim: Claim | None, queue: ReviewQueue, *, flash=None, values=None, errors=None, status=200, started=True
):
    context = {
        **_review_context(request, queue), "claim": claim, "flash": flash, "errors": errors or {}, "started": started,
    }
    if claim is not None:
        prompt = claim.item.prompt
        context.update(_label_choices(queue.taxonomy_id))
        context["values"] = values or _values_from_prompt(prompt)
        context["prompt"] = prompt
        context["current_techniques"] = selectors.techniques_of(prompt)
        requested = _requested_techniques(prompt, context["techniques"], {t.pk for t in context["current_techniques"]})
        context["requested_techniques"] = requested
        context["requested_technique_ids"] = {t.pk for t in requested}
        context["lease_status"] = selectors.claim_status(claim=claim)
        context["lease"] = claim.lease
    template = "annotation/review.html#item" if request.htmx else "annotation/review.html"
    response = render(request, template, context, status=status)
    if request.htmx:
        url = reverse("annotation:claim", args=[claim.pk]) if claim else reverse("annotation:review", args=[queue.pk])
        response["HX-Push-Url"] = url
    return response


def _next(request, queue: ReviewQueue, flash=None):
    """Claim the next item and show it (htmx) or go to it (plain form post)."""
    try:
        claim = services.lease_claim(queue=queue, user=request.user)
    except services.NotAllowed:
        raise PermissionDenied
    except services.QueueBusy as exc:
        if request.htmx:
            return _render_claim(request, None, queue, flash=("warning", exc.message), started=False)
        messages.warning(request, exc.message)
        return redirect("annotation:review", pk=queue.pk)
    if claim is not None:
        claim = selectors.claim_get(pk=claim.pk, user=request.user)
    if request.htmx:
        return _render_claim(request, claim, queue, flash=flash)
    if flash:
        getattr(messages, flash[0])(request, flash[1])
    if claim is None:
        messages.info(request, _("Nothing left for you in this queue. Thank you!"))
        return redirect("annotation:review", pk=queue.pk)
    return redirect("annotation:claim", pk=claim.pk)


@annotator_required
@require_POST
def queue_next(request, pk: int):
    return _next(request, _queue_for_review(request, pk))


def _own_claim(request, pk: int) -> Claim:
    try:
        return selectors.claim_get(pk=pk, user=request.user)
    except Claim.DoesNotExist:
        raise Http404


@annotator_required
def claim_detail(request, pk: int):
    claim = _own_claim(request, pk)
    return _render_claim(request, claim, claim.item.queue)


@annotator_required
@require_POST
def claim_submit(request, pk: int):
    claim = _own_claim(request, pk)
    queue = claim.item.queue
    try:
        data = _input_from_post(request.POST, _texts_of_prompt(claim.item.prompt))
        result = services.annotation_submit(claim_id=claim.pk, user=request.user, data=data)
    except services.NotAllowed:
        raise PermissionDenied
    except services.AnnotationInvalid as exc:
        return _render_claim(
            request, claim, queue, values=_values_from_post(request.POST), errors=exc.errors,
            flash=("error", _("Please correct the marked fields.")), status=200 if request.htmx else 400,
        )
    except services.AnnotationError as exc:
        return _render_claim(request, claim, queue, flash=("error", exc.message), status=200 if request.htmx else 409)
    return _next(request, queue, flash=_message(result.status))


@annotator_required
@require_POST
def claim_skip(request, pk: int):
    claim = _own_claim(request, pk)
    try:
        services.lease_skip(claim_id=claim.pk, user=request.user)
    except services.AnnotationError as exc:
        return _render_claim(request, claim, claim.item.queue, flash=("error", exc.message))
    return _next(request, claim.item.queue, flash=("info", _("Skipped. It will not be offered to you again.")))


@annotator_required
@require_POST
def claim_heartbeat(request, pk: int):
    claim = _own_claim(request, pk)
    lost = ""
    try:
        lease = services.lease_heartbeat(claim_id=claim.pk, user=request.user)
    except services.AnnotationError as exc:
        lease, lost = None, exc.message
    return render(
        request,
        "annotation/review.html#lease_status",
        {"claim": claim, "lease": lease, "lease_status": "lost" if lost else "live", "lost_message": lost},
    )


@annotator_required
def claim_twin(request, pk: int):
    claim = _own_claim(request, pk)
    twin = claim.item.prompt.near_duplicate_of
    if twin is None:
        raise Http404
    template = "annotation/review.html#twin" if request.htmx else "annotation/twin.html"
    return render(request, template, {"claim": claim, "twin": twin, "prompt": claim.item.prompt})


# ----------------------------------------------------------------------------- my work and revisions


@annotator_required
def my_work(request):
    return render(request, "annotation/my_work.html", selectors.my_work(user=request.user))


@annotator_required
@require_POST
def unskip(request, item_id: int):
    if services.lease_unskip(item_id=item_id, user=request.user):
        messages.success(request, _("The item will be offered to you again."))
    return redirect("annotation:my_work")


@annotator_required
def annotation_revise(request, pk: int):
    try:
        ann = selectors.annotation_get_own(pk=pk, user=request.user)
    except Annotation.DoesNotExist:
        raise Http404
    item = QueueItem.objects.select_related("queue").get(prompt_id=ann.prompt_id)
    values, errors, status = _values_from_annotation(ann), {}, 200
    if request.method == "POST":
        try:
            data = _input_from_post(request.POST, values)
            result = services.annotation_revise(annotation_id=ann.pk, user=request.user, data=data)
        except services.AnnotationInvalid as exc:
            values, errors, status = _values_from_post(request.POST), exc.errors, 400
        except services.AnnotationError as exc:
            messages.error(request, exc.message)
            return redirect("annotation:my_work")
        else:
            level, text = _message(result.status)
            getattr(messages, level)(request, text)
            return redirect("annotation:my_work")
    context = {
        "annotation": ann,
        "item": item,
        "queue": item.queue,
        "prompt": ann.prompt,
        "values": values,
        "errors": errors,
        "decided": item.state == QueueItem.State.DECIDED,
        "key_guard_ms": settings.REVIEW_KEY_GUARD_MS,
        **_label_choices(item.queue.taxonomy_id),
    }
    return render(request, "annotation/revise.html", context, status=status)


# ----------------------------------------------------------------------------- queue management


def _queue_data(form: QueueForm) -> services.QueueData:
    d = form.cleaned_data
    return services.QueueData(
        name=d["name"],
        taxonomy_id=d["taxonomy"].pk,
        dimension_ids=[x.pk for x in d["dimensions"]],
        annotators_per_item=d["annotators_per_item"],
        lease_minutes=d["lease_minutes"],
        guidelines=from_textarea(d["guidelines"], form.initial.get("guidelines") or ""),
        member_ids=[u.pk for u in d["members"]],
        consensus_rule=d["consensus_rule"],
        is_active=d["is_active"],
    )


def _apply_errors(form: QueueForm, exc: services.AnnotationInvalid) -> None:
    for field, message in exc.errors.items():
        form.add_error(field if field in form.fields else None, message)


@maintainer_required
def queue_create(request):
    form = QueueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            queue = services.queue_create(data=_queue_data(form), actor=request.user)
        except services.AnnotationInvalid as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Queue created. Matching candidates are being routed into it."))
            return redirect("annotation:queue_detail", pk=queue.pk)
    return render(request, "annotation/queue_form.html", {"form": form, "queue": None},
                  status=400 if form.errors else 200)


@maintainer_required
def queue_edit(request, pk: int):
    queue = get_object_or_404(ReviewQueue, pk=pk)
    form = QueueForm(request.POST or None, initial=QueueForm.initial_for(queue))
    if request.method == "POST" and form.is_valid():
        try:
            services.queue_update(queue=queue, data=_queue_data(form), actor=request.user)
        except services.AnnotationInvalid as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Queue saved."))
            return redirect("annotation:queue_detail", pk=queue.pk)
    return render(request, "annotation/queue_form.html", {"form": form, "queue": queue},
                  status=400 if form.errors else 200)


@maintainer_required
def queue_detail(request, pk: int):
    try:
        queue = selectors.queue_get(pk=pk)
    except ReviewQueue.DoesNotExist:
        raise Http404
    context = {
        "queue": queue,
        "counts": selectors.queue_state_counts(queue_ids=[queue.pk])[queue.pk],
        "live_leases": selectors.queue_live_leases(queue=queue),
        "pending": selectors.queue_matching_candidates(queue=queue).count(),
        "adjudications": selectors.adjudication_list(queue_id=queue.pk)[:20],
        "decided": selectors.adjudication_list(queue_id=queue.pk, state=QueueItem.State.DECIDED).order_by("-decided_at")[:20],
        "can_claim": selectors.queue_can_claim(queue=queue, user=request.user),
    }
    template = "annotation/queue_detail.html#stats" if request.htmx else "annotation/queue_detail.html"
    return render(request, template, context)


@maintainer_required
@require_POST
def queue_route(request, pk: int):
    queue = get_object_or_404(ReviewQueue, pk=pk)
    services.queue_route_later(queue_id=queue.pk)
    messages.info(request, _("Routing matching candidates into the queue; the counts update as it goes."))
    return redirect("annotation:queue_detail", pk=queue.pk)


# ----------------------------------------------------------------------------- adjudication


@maintainer_required
def adjudication_list(request):
    state = request.GET.get("state") or QueueItem.State.ADJUDICATION
    if state not in (QueueItem.State.ADJUDICATION, QueueItem.State.DECIDED):
        state = QueueItem.State.ADJUDICATION
    queue_id = _int_or_none(request.GET.get("queue"))
    qs = selectors.adjudication_list(queue_id=queue_id, state=state)
    if state == QueueItem.State.DECIDED:
        qs = qs.order_by("-decided_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "annotation/adjudication_list.html",
        {"page": page, "state": state, "queue_id": queue_id, "queues": ReviewQueue.objects.all()},
    )


def _adjudication_values(item: QueueItem, pick: Annotation | None) -> dict:
    if pick is not None:
        values = _values_from_annotation(pick)
        values["decision"] = Prompt.Status.REJECTED if pick.decision == Annotation.Decision.REJECT else Prompt.Status.APPROVED
        return values
    values = _values_from_prompt(item.prompt)
    values["decision"] = Prompt.Status.APPROVED
    return values


@maintainer_required
def adjudication_detail(request, pk: int):
    try:
        item = selectors.adjudication_get(pk=pk)
    except QueueItem.DoesNotExist:
        raise Http404
    rows = selectors.adjudication_annotations(item=item)
    pick = None
    pick_id = _int_or_none(request.GET.get("pick"))
    if pick_id:
        pick = next((r["annotation"] for r in rows if r["annotation"].pk == pick_id), None)
    values, errors, status = _adjudication_values(item, pick), {}, 200
    values["reason"] = ""
    if request.method == "POST":
        post = request.POST
        decision = post.get("decision", "")
        final = None
        if decision == Prompt.Status.APPROVED:
            final = services.FinalLabels.from_input(_input_from_post(post, values))
        try:
            services.item_adjudicate(item_id=item.pk, actor=request.user, decision=decision, reason=post.get("reason", ""), final=final)
        except services.AnnotationInvalid as exc:
            values = {**_values_from_post(post), "decision": decision, "reason": post.get("reason", "")}
            errors, status = exc.errors, 400
        except services.AnnotationError as exc:
            messages.error(request, exc.message)
            return redirect("annotation:adjudication_detail", pk=item.pk)
        else:
            messages.success(request, _("Decided and logged."))
            following = selectors.adjudication_list(queue_id=item.queue_id).exclude(pk=item.pk).first()
            if following is not None:
                return redirect("annotation:adjudication_detail", pk=following.pk)
            return redirect("annotation:adjudication_list")
    context = {
        "item": item,
        "prompt": item.prompt,
        "rows": rows,
        "values": values,
        "errors": errors,
        "pick": pick,
        "logs": list(item.prompt.logs.all()),
        "decision_choices": [(Prompt.Status.APPROVED, _("Approve")), (Prompt.Status.REJECTED, _("Reject"))],
        **_label_choices(item.queue.taxonomy_id),
    }
    template = "annotation/adjudication_detail.html"
    if request.htmx and request.method == "GET" and pick_id:
        template += "#decide_form"
    return render(request, template, context, status=status)


@maintainer_required
@require_POST
def adjudication_reopen(request, pk: int):
    item = get_object_or_404(QueueItem, pk=pk)
    try:
        services.item_reopen(item_id=item.pk, actor=request.user, reason=request.POST.get("reason", ""))
    except services.AnnotationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Reopened: the item is back in adjudication."))
    return redirect("annotation:adjudication_detail", pk=item.pk)



@maintainer_required
def adjudication_for_prompt(request, prompt_id: int):
    """Open the adjudication page of a prompt's most recent queue item (linked from the agreement dashboard)."""
    item = selectors.queue_item_latest_for_prompt(prompt_id=prompt_id)
    if item is None:
        raise Http404
    return redirect("annotation:adjudication_detail", pk=item.pk)
