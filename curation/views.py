from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from accounts.permissions import maintainer_required

from . import selectors, services
from .forms import ImportForm
from .importers import ImportRejected
from .models import Prompt, Taxonomy
from .prompt_forms import PromptFilterForm
from .provenance import provenance_entries


@maintainer_required
def import_items(request):
    report = errors = None
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        taxonomy = form.cleaned_data["taxonomy"]
        try:
            report = services.prompts_import(
                content=upload.read(),
                filename=upload.name,
                fmt=form.cleaned_data["format"] or None,
                status=form.cleaned_data["status"],
                taxonomy_code=taxonomy.code if taxonomy else None,
                actor=request.user,
            )
            messages.success(
                request,
                _("%(imported)s; %(skipped)s.") % {
                    "imported": ngettext("Imported %(n)s item", "Imported %(n)s items", report.created) % {
                        "n": report.created},
                    "skipped": ngettext("skipped %(n)s duplicate", "skipped %(n)s duplicates", len(report.duplicates))
                    % {"n": len(report.duplicates)},
                },
            )
        except ImportRejected as exc:
            errors = exc.errors
            messages.error(request, ngettext("The file has %(n)s error; nothing was imported.",
                                             "The file has %(n)s errors; nothing was imported.", len(errors)) % {
                "n": len(errors)})
    return render(request, "curation/import.html", {"form": form, "report": report, "errors": errors})


def _prompt_filter_form(request) -> PromptFilterForm:
    english = get_language() == "en"
    # Short labels: the dimension options sit in one group per taxonomy code.
    taxonomies = [(code, code) for code in Taxonomy.objects.order_by("-code").values_list("code", flat=True)]
    dimensions = [
        (d.taxonomy.code, d.code, d.name_en if english else d.name_zh)
        for d in selectors.dimension_list().order_by("-taxonomy__code", "order", "code")
    ]
    attrs = {"hx-get": reverse("curation:prompt_list"), "hx-trigger": "change", "hx-target": "#field-dimension",
             "hx-swap": "outerHTML", "hx-select": "#field-dimension"}
    return PromptFilterForm(request.GET or None, taxonomies=taxonomies, dimensions=dimensions, taxonomy_attrs=attrs)


@maintainer_required
def prompt_list(request):
    form = _prompt_filter_form(request)
    qs = selectors.prompt_list(**form.selector_filters()) if not form.is_bound or form.is_valid() else Prompt.objects.none()
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "curation/prompt_list.html", {"form": form, "page": page, "query": query.urlencode()})


@maintainer_required
def prompt_detail(request, pk: int):
    prompt = selectors.prompt_get(pk=pk)
    # The log stores status codes; the page shows their labels (a code no longer in use is shown as stored).
    labels = dict(Prompt.Status.choices)
    logs = [{"log": log, "from": labels.get(log.from_status, log.from_status), "to": labels.get(log.to_status, log.to_status)}
            for log in prompt.logs.all()]
    return render(request, "curation/prompt_detail.html",
                  {"prompt": prompt, "provenance": provenance_entries(prompt.provenance), "logs": logs})


@maintainer_required
def taxonomy(request):
    return render(
        request,
        "curation/taxonomy.html",
        {"taxonomies": selectors.taxonomy_list(), "techniques": selectors.technique_list()},
    )
