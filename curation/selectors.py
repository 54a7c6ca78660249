import unicodedata

from django.db.models import Count, Q, QuerySet

from .models import Dimension, Prompt, Taxonomy, Technique


def prompt_status_counts() -> list[dict]:
    counts = dict(Prompt.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return [{"status": value, "label": label, "count": counts.get(value, 0)} for value, label in Prompt.Status.choices]


def prompt_list(*, status: str = "", dimension: str = "", source: str = "", taxonomy: str = "", q: str = "") -> QuerySet[Prompt]:
    qs = Prompt.objects.with_taxonomy().prefetch_related("techniques")
    if status:
        qs = qs.filter(status=status)
    if taxonomy:
        qs = qs.filter(dimension__taxonomy__code=taxonomy)
    if dimension:
        qs = qs.filter(dimension__code=dimension)
    if source:
        qs = qs.filter(source=source)
    if q:
        # Text is stored as written, so "é" may be stored as "e" + U+0301: the search matches either form.
        match = Q()
        for form in dict.fromkeys([q, unicodedata.normalize("NFC", q), unicodedata.normalize("NFD", q)]):
            match |= Q(text__icontains=form)
        qs = qs.filter(match)
    return qs


def prompt_get(*, pk: int) -> Prompt:
    return Prompt.objects.with_taxonomy().prefetch_related("techniques", "logs__actor").get(pk=pk)


def taxonomy_list() -> QuerySet[Taxonomy]:
    return Taxonomy.objects.prefetch_related("dimensions__sub_dimensions")


def dimension_list() -> QuerySet[Dimension]:
    return Dimension.objects.select_related("taxonomy")


def technique_list() -> QuerySet[Technique]:
    return Technique.objects.all()


# --- releases -------------------------------------------------------------------------------------------------


def release_list(*, user=None, include_drafts: bool = False):
    """Frozen releases for everyone with a role; drafts only when asked (maintainers)."""
    from accounts.roles import is_maintainer

    from .models import Release

    qs = Release.objects.select_related("taxonomy", "parent", "frozen_by", "created_by").order_by("-created_at", "-id")
    if not (include_drafts and user is not None and is_maintainer(user)):
        qs = qs.filter(frozen_at__isnull=False)
    return qs


def release_get(*, version: str, user=None):
    """A release by version; drafts are visible to maintainers only (Release.DoesNotExist otherwise)."""
    return release_list(user=user, include_drafts=True).get(version=version)


def release_exports(*, release, scope: str | None = None):
    from .models import ReleaseExport

    qs = ReleaseExport.objects.filter(release=release).order_by("scope", "format")
    return qs.filter(scope=scope) if scope else qs
# -- generation ----------------------------------------------------------------------------------

from .models import Event, GenerationBatch, GenerationRun, GeneratorTemplate, Prompt  # noqa: E402


def run_list() -> QuerySet[GenerationRun]:
    return GenerationRun.objects.select_related("dimension", "dimension__taxonomy", "endpoint", "created_by")


def run_get(*, pk: int) -> GenerationRun:
    return run_list().prefetch_related("techniques", "events").get(pk=pk)


def run_failed_batches(*, run: GenerationRun) -> QuerySet[GenerationBatch]:
    return run.batches.filter(status=GenerationBatch.Status.FAILED).order_by("index")


def event_list() -> QuerySet[Event]:
    return Event.objects.select_related("source").prefetch_related("dimensions")


TECHNIQUE_CONFIRMED, TECHNIQUE_REQUESTED = "confirmed", "requested"  # else either


def candidate_list(
    *, run: int | None = None, dimension=None, technique=None, technique_match: str = "", status: str = "",
    source: str = "", near_duplicate: str = "",
) -> QuerySet[Prompt]:
    """Candidates by filter. `technique` matches a prompt that carries it (confirmed by import or review) or whose
    generator was asked for it (provenance `techniques_requested`); `technique_match` narrows to one of the two."""
    qs = Prompt.objects.with_taxonomy().select_related("near_duplicate_of").prefetch_related("techniques")
    if run:
        qs = qs.filter(provenance__run=run)
    if dimension:
        qs = qs.filter(dimension=dimension)
    if technique:
        confirmed = Q(pk__in=Prompt.techniques.through.objects.filter(technique=technique).values("prompt_id"))
        # The codes of a JSON list, each quoted: the quotes make the match whole-code on SQLite and PostgreSQL.
        requested = Q(provenance__techniques_requested__icontains=f'"{technique.code}"')
        qs = qs.filter({TECHNIQUE_CONFIRMED: confirmed, TECHNIQUE_REQUESTED: requested}.get(technique_match,
                                                                                           confirmed | requested))
    if status:
        qs = qs.filter(status=status)
    if source:
        qs = qs.filter(source=source)
    if near_duplicate == "yes":
        qs = qs.filter(near_duplicate_score__isnull=False)
    elif near_duplicate == "no":
        qs = qs.filter(near_duplicate_score__isnull=True)
    return qs


def template_current_list() -> list[GeneratorTemplate]:
    """The latest version of every template, dimensions first."""
    latest: dict[tuple, GeneratorTemplate] = {}
    for t in GeneratorTemplate.objects.select_related("dimension__taxonomy", "technique").order_by("version"):
        latest[(t.scope, t.dimension_id, t.technique_id)] = t
    return sorted(latest.values(), key=lambda t: (
        t.scope != "dimension",
        (t.dimension.taxonomy.code, t.dimension.order) if t.dimension else ("", t.technique.order),
    ))


def template_history(*, template: GeneratorTemplate) -> QuerySet[GeneratorTemplate]:
    qs = GeneratorTemplate.objects.select_related("created_by").filter(scope=template.scope)
    if template.scope == "dimension":
        return qs.filter(dimension_id=template.dimension_id).order_by("-version")
    return qs.filter(technique_id=template.technique_id).order_by("-version")
