"""Batched row writes (annotation.sqlrows.Writes): what the ORM's saves would write, or nothing at all."""

import pytest
from django.db import DatabaseError, transaction

from annotation import sqlrows
from annotation.models import Annotation, Lease, QueueItem
from tests.factories import make_items, make_queue

pytestmark = pytest.mark.django_db


def test_writes_store_what_the_orm_would_and_give_new_rows_their_ids(taxonomy, annotators, hostile_strings):
    queue = make_queue(n=2)
    item = make_items(1)[0]
    text = next(s for s in hostile_strings if "<script>" in s)
    annotation = Annotation(queue=queue, prompt=item.prompt, annotator=annotators[0], decision="edit", final_text=text,
                            severity=2, reference_answer=text)
    item.submitted, item.leased = 1, 0
    writes = sqlrows.Writes()
    writes.insert(annotation)
    writes.update(item, ["submitted", "leased", "updated_at"])
    writes.flush()
    assert annotation.pk is not None and annotation.submitted_at is not None
    stored = Annotation.objects.get(pk=annotation.pk)
    assert (stored.final_text, stored.reference_answer, stored.severity, stored.annotator_id) == (text, text, 2, annotators[0].pk)
    assert stored.submitted_at == annotation.submitted_at and stored.revisions == 0 and not stored.is_surplus
    assert QueueItem.objects.filter(pk=item.pk, submitted=1, leased=0, updated_at=item.updated_at).exists()


def test_an_update_that_finds_no_row_is_an_error_and_the_whole_batch_is_undone(taxonomy, annotators):
    queue = make_queue(n=2)
    item = make_items(1)[0]
    gone = Lease.objects.create(item=item, annotator=annotators[0], slot=1, state="active", claimed_at=item.created_at,
                                expires_at=item.created_at)
    Lease.objects.filter(pk=gone.pk).delete()
    gone.state = "submitted"
    with pytest.raises(DatabaseError), transaction.atomic():
        writes = sqlrows.Writes()
        writes.insert(Annotation(queue=queue, prompt=item.prompt, annotator=annotators[1], decision="accept", final_text="x"))
        writes.update(gone, ["state", "updated_at"])
        writes.flush()
    assert not Annotation.objects.exists()
