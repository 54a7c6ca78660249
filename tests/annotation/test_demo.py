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
