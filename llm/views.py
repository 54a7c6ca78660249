from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import maintainer_required

from . import selectors, services
from .forms import EndpointForm
from .models import ModelEndpoint


@maintainer_required
def endpoint_list(request):
    return render(request, "llm/endpoint_list.html", {"endpoints": selectors.endpoint_list()})


@maintainer_required
def endpoint_create(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(**form.cleaned_data)
        except services.EndpointError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Endpoint %(name)s saved.") % {"name": endpoint.name})
            return redirect("llm:endpoint_list")
    return render(request, "llm/endpoint_form.html", {"form": form, "endpoint": None},
                  status=400 if form.errors else 200)


@maintainer_required
def endpoint_edit(request, pk: int):
    endpoint = get_object_or_404(ModelEndpoint, pk=pk)
    form = EndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, **form.cleaned_data)
        except services.EndpointError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Endpoint %(name)s saved.") % {"name": endpoint.name})
            return redirect("llm:endpoint_list")
    return render(request, "llm/endpoint_form.html", {
        "form": form, "endpoint": endpoint, "calls": selectors.call_list(endpoint=endpoint, limit=20),
    }, status=400 if form.errors else 200)


@maintainer_required
@require_POST
def endpoint_test(request, pk: int):
    endpoint = get_object_or_404(ModelEndpoint, pk=pk)
    result = services.endpoint_test(endpoint=endpoint)
    context = {"endpoint": endpoint, "result": result}
    if request.htmx:
        return render(request, "llm/endpoint_list.html#test-result", context)
    if result.ok:
        messages.success(request, _("Connection OK: %(name)s answered in %(ms)s ms.") % {
            "name": endpoint.name, "ms": round(result.latency_ms)})
    else:
        messages.error(request, _("Connection failed (%(outcome)s): %(error)s") % {
            "outcome": result.outcome, "error": result.error or ""})
    return redirect("llm:endpoint_list")
