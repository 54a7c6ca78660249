"""Batched row writes (core.db.Writes): what the ORM's saves would write, or nothing at all."""

import pytest
from django.db import DatabaseError, transaction

from core import db
from curation.models import Prompt, PromptLog
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


def test_writes_store_what_the_orm_would_and_give_new_rows_their_ids(taxonomy, annotator, hostile_strings):
    prompt = PromptFactory()
    before = prompt.updated_at
    text = next(s for s in hostile_strings if "<script>" in s)
    log = PromptLog(prompt=prompt, actor=annotator, from_status="in_review", to_status="approved", reason=text)
    prompt.text, prompt.severity, prompt.review_summary = text, 2, {"note": text}
    writes = db.Writes()
    writes.update(prompt, ["text", "severity", "review_summary", "updated_at"])
    writes.insert(log)
    writes.flush()
    assert log.pk is not None and log.created_at is not None and prompt.updated_at > before
    stored = PromptLog.objects.get(pk=log.pk)
    assert (stored.reason, stored.actor_id, stored.to_status, stored.created_at) == (text, annotator.pk, "approved", log.created_at)
    again = Prompt.objects.get(pk=prompt.pk)
    assert (again.text, again.severity, again.review_summary, again.updated_at) == (text, 2, {"note": text}, prompt.updated_at)


def test_an_update_that_finds_no_row_is_an_error_and_the_whole_batch_is_undone(taxonomy):
    kept, gone = PromptFactory(), PromptFactory()
    Prompt.objects.filter(pk=gone.pk).delete()
    gone.severity = 3
    with pytest.raises(DatabaseError), transaction.atomic():
        writes = db.Writes()
        writes.insert(PromptLog(prompt=kept, from_status="candidate", to_status="in_review"))
        writes.update(gone, ["severity", "updated_at"])
        writes.flush()
    assert not PromptLog.objects.filter(prompt=kept).exists()
