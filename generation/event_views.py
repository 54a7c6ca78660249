"""Pages of event sources: list, create, edit, fetch now; and the confirmation of an event's dimensions."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import maintainer_required
from curation.text import error_message

from . import event_services as evs
from .event_forms import EventDimensionsForm, EventSourceForm
from .models import Event, EventSource


@maintainer_required
def source_list(request):
    return render(request, "generation/event_source_list.html", {
        "sources": EventSource.objects.select_related("created_by"),
    })


@maintainer_required
def source_edit(request, pk: int | None = None):
    source = get_object_or_404(EventSource, pk=pk) if pk else None
    form = EventSourceForm(request.POST or None, instance=source)
    if request.method == "POST" and form.is_valid():
        try:
            if source is None:
                evs.event_source_create(**form.cleaned_data, actor=request.user)
            else:
                evs.event_source_update(source=source, **form.cleaned_data)
        except (evs.SourceError, ValueError) as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("Event source saved."))
            return redirect("generation:event_source_list")
    return render(request, "generation/event_source_form.html", {"form": form, "source": source},
                  status=400 if form.errors else 200)


@maintainer_required
@require_POST
def source_fetch(request, pk: int):
    source = get_object_or_404(EventSource, pk=pk)
    if source.kind not in EventSource.FETCHED:
        messages.error(request, _("An API source receives its events through the API; there is nothing to fetch."))
        return redirect("generation:event_source_list")
    evs.event_source_enqueue(source=source)
    messages.success(request, _("A fetch of %(name)s is queued; reload to see its result.") % {"name": source.name})
    return redirect("generation:event_source_list")


@maintainer_required
@require_POST
def event_dimensions(request, pk: int):
    event = get_object_or_404(Event, pk=pk)
    form = EventDimensionsForm(request.POST)
    if form.is_valid():
        evs.event_dimensions_confirm(event=event, dimensions=form.cleaned_data["dimensions"], actor=request.user)
        messages.success(request, _("Dimensions confirmed."))
    else:
        messages.error(request, _("Choose dimensions from the list."))
    return redirect("generation:event_edit", pk=pk)
