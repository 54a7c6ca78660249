import unicodedata
from collections.abc import Callable
from typing import Any

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


# A prompt's provenance names the news events behind it by id. Generation owns the events and registers how to
# read them (generation/apps.py), so the stages after curation can name them without importing generation.
_event_reader: Callable[[list[int]], dict[int, dict[str, Any]]] | None = None


def register_event_reader(reader: Callable[[list[int]], dict[int, dict[str, Any]]]) -> None:
    global _event_reader
    _event_reader = reader


def provenance_events(*, ids: list[int]) -> dict[int, dict[str, Any]]:
    """{id: {"title": …, "date": date}} of the events with these ids that exist (none without a reader)."""
    return _event_reader(ids) if _event_reader is not None and ids else {}

