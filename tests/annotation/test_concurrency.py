"""Fifty annotators on fifty connections claim and submit until the queue is empty (PostgreSQL).

Some of them let their lease run out before submitting, so takeovers, late submits and surplus
submissions all happen under contention too.
"""

import random
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.db.models import Count, Max

from annotation import services
from annotation.models import Annotation, Lease, QueueItem
from tests.annotation.conftest import expire
from tests.conftest import requires_postgres
from tests.factories import UserFactory, make_items, make_queue

THREADS = 50
ITEMS = 120
N = 3


def _work(queue, user, seed, barrier, results, errors):
    rng = random.Random(seed)
    try:
        barrier.wait(timeout=60)
        while True:
            try:
                claim = services.lease_claim(queue=queue, user=user)
            except services.QueueBusy:
                continue  # a heavily loaded machine: items exist but stayed locked; ask again
            if claim is None:
                return
            if rng.random() < 0.1:
                # This annotator wandered off: their lease runs out before they submit.
                expire(claim)
            roll = rng.random()
            if roll < 0.6:
                data = services.AnnotationInput(decision="accept", severity=3)
            elif roll < 0.85:
                data = services.AnnotationInput(decision="reject", reject_reason="unclear")
            else:
                data = services.AnnotationInput(decision="edit", final_text=f"改写 {user.pk}-{claim.item_id}", severity=3)
            result = services.annotation_submit(claim_id=claim.pk, user=user, data=data)
            results.append((user.pk, claim.item_id, result.annotation.pk, result.status))
    except Exception as exc:  # any error fails the test below, with its message
        errors.append(repr(exc))
    finally:
        connections.close_all()


@requires_postgres
@pytest.mark.django_db(transaction=True)
# The claim looks at a window of the most complete items first (services.claims.CLAIM_WINDOW); a window of 2 is
# clogged almost always, so the later passes run under the same contention.
@pytest.mark.parametrize("window", [services.claims.CLAIM_WINDOW, 2], ids=["window-default", "window-2"])
def test_fifty_annotators_claim_and_submit_until_the_queue_is_empty(taxonomy, window, monkeypatch):
    monkeypatch.setattr(services.claims, "CLAIM_WINDOW", window)
    users = [UserFactory(username=f"conc{i}", role="Annotator", password=None) for i in range(THREADS)]
    queue = make_queue(name="并发", n=N, rule="majority")
    items = make_items(ITEMS)
    assert len(items) == ITEMS
    results: list = []
    errors: list = []
    barrier = threading.Barrier(THREADS)
    threads = [
        threading.Thread(target=_work, args=(queue, user, i, barrier, results, errors)) for i, user in enumerate(users)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert connection.vendor == "postgresql"

    # No item exceeds N: neither counted annotations nor slot-holding leases.
    counted = Counter(
        dict(Annotation.objects.filter(is_surplus=False).values_list("prompt_id").annotate(n=Count("id")))
    )
    assert max(counted.values()) == N
    slots = Lease.objects.filter(slot__isnull=False).values("item_id").annotate(n=Count("id"), top=Max("slot"))
    assert all(row["n"] <= N and row["top"] <= N for row in slots)

    # No user annotates an item twice.
    pairs = Annotation.objects.values("prompt_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1)
    assert list(pairs) == []

    # No submission is lost: every accepted submit is a stored annotation, surplus ones included.
    stored = {
        a["id"]: a for a in Annotation.objects.values("id", "annotator_id", "prompt_id", "is_surplus", "queue_id")
    }
    assert len(results) == len(stored)
    item_prompt = dict(QueueItem.objects.values_list("pk", "prompt_id"))
    for user_id, item_id, annotation_id, status in results:
        row = stored[annotation_id]
        assert row["annotator_id"] == user_id and row["prompt_id"] == item_prompt[item_id]
        assert row["is_surplus"] == (status == "surplus")

    # Every item ends decided or in adjudication, with exactly N counted annotations.
    states = Counter(QueueItem.objects.values_list("state", flat=True))
    assert set(states) <= {QueueItem.State.DECIDED, QueueItem.State.ADJUDICATION}
    assert sum(states.values()) == ITEMS
    assert all(counted[prompt_id] == N for prompt_id in item_prompt.values())
    for item in QueueItem.objects.select_related("prompt"):
        expected = {"decided": {"approved", "rejected"}, "adjudication": {"in_review"}}[item.state]
        assert item.prompt.status in expected
    assert not Lease.objects.filter(state=Lease.State.ACTIVE).exists()
