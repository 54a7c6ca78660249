"""`manage.py seed_demo` creates a demo review queue with the demo annotators and fills it."""

import pytest
from django.core.management import call_command

from annotation.demo import DEMO_QUEUE
from annotation.models import QueueItem, ReviewQueue
from curation.models import Prompt

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_filled_demo_queue_and_can_run_twice(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    queue = ReviewQueue.objects.get(name=DEMO_QUEUE)
    assert queue.taxonomy.code == "v251030"
    assert sorted(queue.members.values_list("username", flat=True)) == ["annotator1", "annotator2", "annotator3"]
    demo = Prompt.objects.filter(dimension__taxonomy__code="v251030")
    assert demo.exists()
    # The demo release approves a few items directly; every other demo prompt waits in the queue.
    waiting = demo.exclude(status="approved")
    assert waiting.exists()
    assert QueueItem.objects.filter(queue=queue).count() == waiting.count()
    assert set(waiting.values_list("status", flat=True)) == {"in_review"}


def test_seed_demo_again_does_not_bring_back_a_demo_item_edited_in_review(settings):
    """Demo items are known by their question_id: one whose text a review changed is not imported anew."""
    from curation.services import prompt_decide

    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    prompt = Prompt.objects.filter(external_id__startswith="demo-", status="in_review").order_by("external_id").first()
    original = prompt.text
    prompt_decide(prompt_id=prompt.pk, decision="approved", reason="reviewed: wording tightened",
                  final={"text": original + "（请给出具体步骤）"})
    before = sorted(Prompt.objects.values_list("pk", "text"))
    call_command("seed_demo", verbosity=0)
    assert sorted(Prompt.objects.values_list("pk", "text")) == before  # nothing new, nothing changed
    assert not Prompt.objects.filter(text=original).exists()
    assert Prompt.objects.filter(external_id=prompt.external_id).count() == 1
