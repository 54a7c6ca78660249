from typing import Any

from django.db.models import Q, QuerySet

from curation.models import Prompt

from .models import Event, GenerationBatch, GenerationRun, GeneratorTemplate


def event_summaries(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Title and date of the events with these ids (curation.selectors.provenance_events reads them here)."""
    return {pk: {"title": title, "date": date}
            for pk, title, date in Event.objects.filter(pk__in=ids).values_list("pk", "title", "date")}


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
