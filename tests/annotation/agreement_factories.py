"""Factories for review queues and annotations, and a helper that plays out a review round."""

from __future__ import annotations

import datetime as dt
import random

import factory
from django.utils import timezone

from annotation.models import Annotation, ReviewQueue
from curation.models import Dimension, Prompt, Taxonomy
from curation.services import prompt_decide
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


RISKS = ["explicit", "implicit"]
BEHAVIOURS = ["refuse", "safe_complete", "correct_premise"]


def taxonomy_dimensions():
    return list(Dimension.objects.filter(taxonomy__code="v251030").order_by("order", "code"))


def play_round(queue, prompts, annotators, *, rng: random.Random, noise: float, weeks=(0,), surplus_from=None):
    """Every annotator reviews every prompt: noisy copies of a per-prompt truth, spread over `weeks`."""
    dims = taxonomy_dimensions()
    truths = {}
    for i, prompt in enumerate(prompts):
        truth = {
            "keep": rng.random() > 0.25,
            "dimension": rng.choice(dims[:3]),
            "risk_expression": rng.choice(RISKS),
            "severity": rng.randint(1, 5),
            "expected_behaviour": rng.choice(BEHAVIOURS),
        }
        truths[prompt.pk] = truth
        week = weeks[i % len(weeks)]
        for j, who in enumerate(annotators):
            def pick(value, pool):
                return rng.choice(pool) if rng.random() < noise else value

            keep = truth["keep"] if rng.random() >= noise else not truth["keep"]
            labels = {
                "dimension": pick(truth["dimension"], dims[:3]),
                "risk_expression": pick(truth["risk_expression"], RISKS + [""]),
                "severity": pick(truth["severity"], [1, 2, 3, 4, 5, None]),
                "expected_behaviour": pick(truth["expected_behaviour"], BEHAVIOURS),
            }
            if keep:
                decision = rng.choice([Annotation.Decision.ACCEPT, Annotation.Decision.EDIT])
            else:
                decision = Annotation.Decision.REJECT
                if rng.random() < 0.5:  # some rejecting annotators leave the labels blank
                    labels = {"dimension": None, "risk_expression": "", "severity": None, "expected_behaviour": ""}
            annotate(
                prompt, who, queue, when=weeks_ago(week, hour=9 + j), decision=decision,
                seconds_spent=10.0 * (j + 1) + i, is_surplus=surplus_from is not None and j >= surplus_from,
                **labels,
            )
    return truths


def decide(prompt, truth, how: str):
    """Settle a prompt the way the review workflow would, through curation's service."""
    summary = {"adjudicated": True, "adjudicator": 1} if how == "adjudicated" else {"rule": "unanimous"}
    if truth["keep"]:
        prompt_decide(
            prompt_id=prompt.pk, decision=Prompt.Status.APPROVED, review_summary=summary,
            final={"dimension_id": truth["dimension"].pk, "risk_expression": truth["risk_expression"],
                   "severity": truth["severity"], "expected_behaviour": truth["expected_behaviour"]},
        )
    else:
        prompt_decide(prompt_id=prompt.pk, decision=Prompt.Status.REJECTED, review_summary=summary)
