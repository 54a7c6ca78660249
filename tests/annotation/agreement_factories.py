"""Factories for review queues and annotations, and a helper that plays out a review round."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from annotation.models import Annotation, ReviewQueue
from curation.models import Taxonomy
from tests.factories import PromptFactory, UserFactory


class ReviewQueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewQueue
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"队列{n}")
    taxonomy = factory.LazyFunction(lambda: Taxonomy.objects.get(code="v251030"))


class AnnotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Annotation

    queue = factory.SubFactory(ReviewQueueFactory)
    prompt = factory.SubFactory(PromptFactory)
    annotator = factory.SubFactory(UserFactory, role="Annotator")
    decision = Annotation.Decision.ACCEPT
    final_text = factory.LazyAttribute(lambda o: o.prompt.text)
    seconds_spent = 30.0


def annotate(prompt, annotator, queue, *, when: dt.datetime | None = None, **labels) -> Annotation:
    """One annotation; `when` back-dates it (submitted_at is set on insert)."""
    annotation = AnnotationFactory(prompt=prompt, annotator=annotator, queue=queue, **labels)
    if when is not None:
        Annotation.objects.filter(pk=annotation.pk).update(submitted_at=when)
        annotation.submitted_at = when
    return annotation


def weeks_ago(n: int, hour: int = 12) -> dt.datetime:
    now = timezone.localtime()
    return (now - dt.timedelta(weeks=n)).replace(hour=hour, minute=0, second=0, microsecond=0)
