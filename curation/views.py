from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.permissions import maintainer_required

from . import selectors, services
from .forms import ImportForm, PromptFilterForm
from .importers import ImportRejected


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
                _("Imported %(created)s items; skipped %(dups)s duplicates.") % {"created": report.created, "dups": len(report.duplicates)},
            )
        except ImportRejected as exc:
            errors = exc.errors
            messages.error(request, _("The file has %(n)s errors; nothing was imported.") % {"n": len(errors)})
    return render(request, "curation/import.html", {"form": form, "report": report, "errors": errors})


@maintainer_required
def prompt_list(request):
    form = PromptFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = selectors.prompt_list(**{k: v for k, v in filters.items() if v})
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "curation/prompt_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "dimensions": selectors.dimension_list()},
    )


@maintainer_required
def prompt_detail(request, pk: int):
    prompt = selectors.prompt_get(pk=pk)
    return render(request, "curation/prompt_detail.html", {"prompt": prompt})


@maintainer_required
def taxonomy(request):
    return render(
        request,
        "curation/taxonomy.html",
        {"taxonomies": selectors.taxonomy_list(), "techniques": selectors.technique_list()},
    )
