"""Release pages: list, draft form, detail (chart, digest, diff, downloads, freeze progress), diff lists.

Everyone with a role may read frozen releases and download public exports; drafts, writes, hold-out texts and
full exports are for maintainers. Every write calls a service in releases.services.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import any_role_required, maintainer_required
from accounts.roles import is_maintainer
from curation.models import Dimension, Prompt, Taxonomy
from curation.templatetags.livesec_text import display_name

from . import selectors
from . import services as releases
from .forms import ConfirmForm, ReleaseDraftForm, RetireForm, dimension_value
from .models import FrozenReleaseError, Release, ReleaseExport

DIFF_KINDS = ("added", "carried", "retired")


def _release_or_404(request, version: str) -> Release:
    try:
        return selectors.release_get(version=version, user=request.user)
    except Release.DoesNotExist:
        raise Http404(_("No such release"))


@any_role_required
def release_list(request):
    maintainer = is_maintainer(request.user)
    rows = selectors.release_list(user=request.user, include_drafts=maintainer)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "releases/list.html", {"page": page, "maintainer": maintainer})


def _taxonomy_choices(approved: dict[str, int], only: Taxonomy | None = None) -> list[tuple[str, str]]:
    english = get_language() == "en"
    rows = [only] if only is not None else list(Taxonomy.objects.order_by("-code"))
    out = []
    for t in rows:
        n = approved.get(t.code, 0)
        name = t.name_en if english else t.name_zh
        out.append((t.code, ngettext("%(code)s · %(name)s — %(n)s approved prompt",
                                     "%(code)s · %(name)s — %(n)s approved prompts", n)
                    % {"code": t.code, "name": name, "n": n}))
    return out


def _dimension_choices(taxonomy: Taxonomy | None) -> list[tuple[str, str]]:
    if taxonomy is None:
        return []
    approved = dict(
        Prompt.objects.filter(status=Prompt.Status.APPROVED, dimension__taxonomy=taxonomy)
        .values_list("dimension_id").annotate(n=Count("id")).values_list("dimension_id", "n")
    )
    out = []
    for d in Dimension.objects.filter(taxonomy=taxonomy).order_by("order", "code"):
        n = approved.get(d.pk, 0)
        out.append((dimension_value(taxonomy.code, d.code),
                    ngettext("%(code)s · %(zh)s / %(en)s — %(n)s approved", "%(code)s · %(zh)s / %(en)s — %(n)s approved", n)
                    % {"code": d.code, "zh": d.name_zh, "en": d.name_en, "n": n}))
    return out


def _parents(exclude: str = "") -> list[str]:
    return [v for v in selectors.release_list().values_list("version", flat=True) if v != exclude]


# Carried over from the no-JS "show this taxonomy's dimensions" button, which submits the form as GET.
_RELOADED_FIELDS = ("version", "title", "notes", "parent", "holdout_fraction", "date_from", "date_to", "min_agreement")


@maintainer_required
def release_create(request):
    approved = releases.release_approved_by_taxonomy()
    try:
        default, taxonomy_note = releases.release_default_taxonomy(), ""
    except releases.ReleaseError as exc:  # approved prompts in several taxonomies: the maintainer chooses
        default, taxonomy_note = None, str(exc)
    chosen = request.POST.get("taxonomy") if request.method == "POST" else request.GET.get("taxonomy")
    taxonomy = Taxonomy.objects.filter(code=chosen).first() if chosen else default
    form_kwargs = {
        "taxonomies": _taxonomy_choices(approved), "parents": _parents(), "dimensions": _dimension_choices(taxonomy),
        "choose_taxonomy": default is None,
        "taxonomy_attrs": {"hx-get": reverse("releases:release_create"), "hx-trigger": "change",
                           "hx-target": "#field-dimensions", "hx-swap": "outerHTML"},
    }
    if request.htmx and request.method == "GET":
        form = ReleaseDraftForm(initial={"taxonomy": taxonomy.code if taxonomy else ""}, **form_kwargs)
        return render(request, "releases/form.html#dimension-field", {"form": form})
    initial = {"version": releases.release_next_version(), "taxonomy": taxonomy.code if taxonomy else "",
               "parent": "latest", "include_new": True}
    initial.update({k: request.GET[k] for k in _RELOADED_FIELDS if request.GET.get(k)})
    form = ReleaseDraftForm(request.POST or None, initial=initial, **form_kwargs)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            release = releases.release_create_draft(
                version=d["version"], title=d["title"], notes=d["notes"], taxonomy=d["taxonomy"],
                parent={"latest": releases.LATEST, "none": None}.get(d["parent"] or "latest", d["parent"]),
                holdout_fraction=d["holdout_fraction"], filters=form.filters(), actor=request.user, require_items=True,
            )
        except releases.ReleaseError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Draft %(version)s created.") % {"version": release.version})
            return redirect("releases:release_detail", version=release.version)
    return render(request, "releases/form.html",
                  {"form": form, "release": None, "taxonomy_note": taxonomy_note}, status=400 if form.errors else 200)


@maintainer_required
def release_edit(request, version: str):
    release = _release_or_404(request, version)
    if release.is_frozen:
        raise PermissionDenied
    f = release.filters or {}
    initial = {
        "version": release.version, "title": release.title, "notes": release.notes, "taxonomy": release.taxonomy.code,
        "parent": release.parent.version if release.parent_id else "none", "holdout_fraction": release.holdout_fraction,
        "include_new": f.get("include_new", True),
        "dimensions": [dimension_value(release.taxonomy.code, code) for code in f.get("dimensions", [])],
        "date_from": f.get("date_from"), "date_to": f.get("date_to"), "min_agreement": f.get("min_agreement"),
    }
    form = ReleaseDraftForm(
        request.POST or None, initial=initial, editing=True, parents=_parents(exclude=version),
        taxonomies=_taxonomy_choices(releases.release_approved_by_taxonomy(), only=release.taxonomy),
        dimensions=_dimension_choices(release.taxonomy),
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            releases.release_update_draft(
                release_id=release.pk, actor=request.user, title=d["title"], notes=d["notes"],
                parent={"latest": releases.LATEST, "none": None}.get(d["parent"] or "none", d["parent"]),
                holdout_fraction=d["holdout_fraction"], filters=form.filters(),
            )
        except (releases.ReleaseError, FrozenReleaseError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Draft saved."))
            return redirect("releases:release_detail", version=release.version)
    return render(request, "releases/form.html", {"form": form, "release": release},
                  status=400 if form.errors else 200)


def _chart_data(release: Release) -> dict:
    by_dim = (release.manifest.get("counts") or {}).get("by_dimension") or {}
    names = {d.code: display_name(d) for d in Dimension.objects.filter(taxonomy=release.taxonomy)}
    return {
        "labels": [names.get(code, code) for code in by_dim],
        "public": [row["public"] for row in by_dim.values()],
        "holdout": [row["holdout"] for row in by_dim.values()],
        "public_label": _("Public"),
        "holdout_label": _("Hold-out"),
    }


@any_role_required
def release_detail(request, version: str):
    release = _release_or_404(request, version)
    maintainer = is_maintainer(request.user)
    context = {"release": release, "maintainer": maintainer}
    if release.is_frozen:
        exports = list(selectors.release_exports(release=release))
        if not maintainer:
            exports = [e for e in exports if e.scope == ReleaseExport.Scope.PUBLIC]
        counts = release.manifest.get("counts") or {}
        context.update(
            chart=_chart_data(release),
            diff=releases.release_diff(release),
            exports=exports,
            exports_busy=any(e.status in ("pending", "running") for e in exports),
            scopes=_scopes(exports, maintainer),
            dimension_counts=counts.get("by_dimension", {}),
            technique_counts=counts.get("by_technique", {}),
            stats=release.manifest.get("stats") or {},
        )
    else:
        context.update(preview=releases.release_preview(release), diff=releases.release_diff(release),
                       empty_reason=releases.release_empty_reason(release))
    return render(request, "releases/detail.html", context)


def _scopes(exports, maintainer: bool) -> list[dict]:
    scopes = [ReleaseExport.Scope.PUBLIC] + ([ReleaseExport.Scope.FULL] if maintainer else [])
    out = []
    for scope in scopes:
        rows = [e for e in exports if e.scope == scope]
        out.append({"scope": scope, "label": ReleaseExport.Scope(scope).label, "exports": rows})
    return out


@any_role_required
def release_progress(request, version: str):
    """htmx fragment polled while a freeze or an export runs; asks for a full reload once it is done."""
    release = _release_or_404(request, version)
    part = request.GET.get("part", "freeze")
    if part == "exports":
        exports = [e for e in selectors.release_exports(release=release)
                   if is_maintainer(request.user) or e.scope == ReleaseExport.Scope.PUBLIC]
        busy = any(e.status in ("pending", "running") for e in exports)
        if not busy:
            return HttpResponse(headers={"HX-Refresh": "true"})
        return render(request, "releases/detail.html#export-progress", {"release": release, "exports": exports,
                                                                                  "exports_busy": busy})
    if release.status != Release.Status.FREEZING:
        return HttpResponse(headers={"HX-Refresh": "true"})
    return render(request, "releases/detail.html#freeze-progress", {"release": release})


def _confirm(request, release: Release, action: str, form: ConfirmForm, status: int = 200):
    context = {"release": release, "action": action, "form": form, "preview": releases.release_preview(release),
               "empty_reason": releases.release_empty_reason(release) if action == "freeze" else None}
    return render(request, "releases/confirm.html", context, status=status)


def _draft_or_back(request, release: Release):
    """A frozen release has nothing to confirm: back to it, saying why."""
    if not release.is_frozen:
        return None
    messages.error(request, _("Release %(version)s is frozen and cannot change.") % {"version": release.version})
    return redirect("releases:release_detail", version=release.version)


@maintainer_required
def release_freeze(request, version: str):
    """GET: what the freeze will copy and a box to tick; POST with the box ticked: freeze."""
    release = _release_or_404(request, version)
    back = _draft_or_back(request, release)
    if back is not None:
        return back
    form = ConfirmForm(request.POST or None, label=_("I understand that release %(version)s can never change "
                                                     "once frozen.") % {"version": release.version})
    if request.method != "POST":
        return _confirm(request, release, "freeze", form)
    if not form.is_valid():
        return _confirm(request, release, "freeze", form, status=400)
    try:
        releases.release_freeze_start(release_id=release.pk, actor=request.user)
        messages.info(request, _("Freezing %(version)s…") % {"version": release.version})
    except (releases.ReleaseError, FrozenReleaseError) as exc:
        messages.error(request, str(exc))
    return redirect("releases:release_detail", version=release.version)


@maintainer_required
def release_delete(request, version: str):
    """GET: a box to tick; POST with the box ticked: delete the draft (approved prompts stay in the pool)."""
    release = _release_or_404(request, version)
    back = _draft_or_back(request, release)
    if back is not None:
        return back
    form = ConfirmForm(request.POST or None, label=_("I understand that draft %(version)s, its filters and its "
                                                     "retirements are deleted.") % {"version": release.version})
    if request.method != "POST":
        return _confirm(request, release, "delete", form)
    if not form.is_valid():
        return _confirm(request, release, "delete", form, status=400)
    try:
        releases.release_delete_draft(release_id=release.pk, actor=request.user)
    except (releases.ReleaseError, FrozenReleaseError) as exc:
        messages.error(request, str(exc))
        return redirect("releases:release_detail", version=release.version)
    messages.success(request, _("Draft %(version)s deleted.") % {"version": version})
    return redirect("releases:release_list")


@maintainer_required
@require_POST
def release_retire(request, version: str):
    release = _release_or_404(request, version)
    form = RetireForm(request.POST)
    error = None
    if form.is_valid():
        try:
            releases.release_retire(
                release_id=release.pk, public_ids=[form.cleaned_data["public_id"]], reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except (releases.ReleaseError, FrozenReleaseError) as exc:
            error = str(exc)
    else:
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Retired %(id)s.") % {"id": form.cleaned_data["public_id"]})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("releases:release_diff", args=[release.version]) + "?kind=carried"
    return redirect(back)


@maintainer_required
@require_POST
def release_unretire(request, version: str):
    release = _release_or_404(request, version)
    try:
        prompt_id = int(request.POST.get("prompt_id", ""))
        releases.release_unretire(release_id=release.pk, prompt_ids=[prompt_id], actor=request.user)
    except ValueError:
        messages.error(request, _("Which item?"))
    except (releases.ReleaseError, FrozenReleaseError) as exc:
        messages.error(request, str(exc))
    return redirect(reverse("releases:release_diff", args=[release.version]) + "?kind=retired")


@maintainer_required
@require_POST
def release_export_prepare(request, version: str):
    release = _release_or_404(request, version)
    scope = request.POST.get("scope", ReleaseExport.Scope.PUBLIC)
    try:
        releases.release_export_start(release_id=release.pk, scope=scope, actor=request.user,
                                      force=request.POST.get("force") == "1")
        messages.info(request, _("Preparing the exports…"))
    except releases.ReleaseError as exc:
        messages.error(request, str(exc))
    return redirect("releases:release_detail", version=release.version)


@any_role_required
def release_download(request, version: str, scope: str, fmt: str):
    release = _release_or_404(request, version)
    if scope == ReleaseExport.Scope.FULL and not is_maintainer(request.user):
        raise PermissionDenied
    export = ReleaseExport.objects.filter(release=release, scope=scope, format=fmt).first()
    if export is None or not releases.export_is_current(export):
        raise Http404(_("This export is not ready"))
    response = FileResponse(open(releases.export_path(export), "rb"), as_attachment=True,
                            filename=releases.export_file_name(release.version, scope, fmt))
    response["X-Content-SHA256"] = export.sha256
    return response


@any_role_required
def release_diff(request, version: str):
    release = _release_or_404(request, version)
    maintainer = is_maintainer(request.user)
    kind = request.GET.get("kind", "added")
    if kind not in DIFF_KINDS:
        kind = "added"
    dimension = request.GET.get("dimension", "")
    rows = releases.release_diff_items(release, kind=kind, dimension=dimension)
    if not maintainer:  # hold-out texts stay with maintainers
        rows = rows.filter(parent_item__is_holdout=False) if kind == "retired" else rows.filter(is_holdout=False)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    diff = releases.release_diff(release)
    return render(
        request,
        "releases/diff.html",
        {
            "release": release, "maintainer": maintainer, "kind": kind, "kinds": DIFF_KINDS, "dimension": dimension,
            "page": page, "diff": diff, "draft": not release.is_frozen, "dimensions": sorted(diff["by_dimension"]),
        },
    )
