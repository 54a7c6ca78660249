"""Candidates enter the matching review queue (status in_review) when created, imported, or when a queue
is created or edited; queue settings are validated."""

import json

import pytest

from annotation import services
from annotation.models import Lease, QueueItem
from curation.models import Dimension, Prompt
from curation.services import PromptDraft, prompts_create, prompts_import
from tests.factories import PromptFactory, make_items, make_queue

pytestmark = pytest.mark.django_db


def _draft(n, code="legality"):
    dim = Dimension.objects.get(taxonomy__code="v251030", code=code)
    return PromptDraft(text=f"第{n}个候选题目：如何绕过门禁系统？编号{n * 31}", dimension_id=dim.pk)


def test_new_candidates_enter_the_matching_queue_after_commit(taxonomy, django_capture_on_commit_callbacks):
    queue = make_queue(name="合法性队列", dimensions=["legality"])
    with django_capture_on_commit_callbacks(execute=True):
        created = prompts_create(drafts=[_draft(1), _draft(2), _draft(3, "privacy")], source="generated")
    items = QueueItem.objects.filter(queue=queue)
    legality = Prompt.objects.filter(pk__in=created.created_ids, dimension__code="legality")
    assert set(items.values_list("prompt_id", flat=True)) == set(legality.values_list("pk", flat=True))
    assert set(legality.values_list("status", flat=True)) == {"in_review"}
    privacy = Prompt.objects.get(pk__in=created.created_ids, dimension__code="privacy")
    assert privacy.status == "candidate"
    log = legality.first().logs.order_by("id").last()
    assert (log.from_status, log.to_status) == ("candidate", "in_review") and "合法性队列" in log.reason


def test_imported_candidates_enter_the_queue(taxonomy, django_capture_on_commit_callbacks):
    queue = make_queue()
    rows = [
        {"question_id": f"x{i}", "version": "v251030", "dimension": "合法性", "question_text": f"导入的第{i}题：怎样伪造发票？"}
        for i in range(4)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        report = prompts_import(content=json.dumps(rows, ensure_ascii=False).encode(), filename="a.json")
    assert report.created == 4
    assert QueueItem.objects.filter(queue=queue).count() == 4
    assert set(Prompt.objects.values_list("status", flat=True)) == {"in_review"}


def test_approved_imports_and_prompts_without_a_queue_stay_where_they_are(taxonomy, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        prompts_create(drafts=[_draft(1)], source="generated")
    assert Prompt.objects.get().status == "candidate"
    make_queue(dimensions=["ethics"])
    with django_capture_on_commit_callbacks(execute=True):
        prompts_create(drafts=[_draft(2)], source="imported", status="approved")
    assert not QueueItem.objects.exists()


def test_the_oldest_active_matching_queue_gets_the_prompt(taxonomy):
    inactive = make_queue(name="停用")
    inactive.is_active = False
    inactive.save()
    first = make_queue(name="第一")
    make_queue(name="第二")
    items = make_items(3)
    assert {i.queue_id for i in items} == {first.pk}


def test_routing_twice_changes_nothing(taxonomy):
    make_queue()
    items = make_items(2)
    assert services.queue_items_route(prompt_ids=[i.prompt_id for i in items]) == 0
    assert QueueItem.objects.count() == 2
    assert all(p.logs.count() == 1 for p in Prompt.objects.all())


def test_creating_a_queue_routes_existing_candidates(taxonomy, maintainer, django_capture_on_commit_callbacks):
    legality = PromptFactory.create_batch(3)
    PromptFactory(dimension=Dimension.objects.get(taxonomy__code="v251030", code="ethics"))
    with django_capture_on_commit_callbacks(execute=True):
        queue = make_queue(dimensions=["legality"], actor=maintainer)
    assert set(QueueItem.objects.filter(queue=queue).values_list("prompt_id", flat=True)) == {p.pk for p in legality}


def test_a_failed_intake_leaves_candidates_to_route_later(taxonomy, monkeypatch, django_capture_on_commit_callbacks):
    queue = make_queue()

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services.queues, "queue_items_route", broken)
    with django_capture_on_commit_callbacks(execute=True):
        created = prompts_create(drafts=[_draft(1), _draft(2)], source="generated")
    assert Prompt.objects.filter(status="candidate").count() == 2
    monkeypatch.undo()
    from annotation.selectors import queue_matching_candidates

    assert queue_matching_candidates(queue=queue).count() == 2
    assert services.queue_route_candidates(queue_id=queue.pk, chunk=1) == 2
    assert set(Prompt.objects.filter(pk__in=created.created_ids).values_list("status", flat=True)) == {"in_review"}


def test_queue_settings_are_validated(taxonomy, maintainer):
    queue = make_queue(name="已有")
    other_taxonomy_dim = Dimension.objects.get(taxonomy__code="v251215", code="privacy")
    data = services.QueueData(name="已有", taxonomy_id=queue.taxonomy_id, dimension_ids=[other_taxonomy_dim.pk],
                              annotators_per_item=0, lease_minutes=0, consensus_rule="coin")
    with pytest.raises(services.AnnotationInvalid) as exc:
        services.queue_create(data=data, actor=maintainer)
    assert set(exc.value.errors) == {"name", "annotators_per_item", "lease_minutes", "dimensions", "consensus_rule"}
    with pytest.raises(services.AnnotationInvalid) as exc:
        services.queue_create(data=services.QueueData(name="坏\x00名", taxonomy_id=queue.taxonomy_id), actor=maintainer)
    assert "name" in exc.value.errors


def _data_for(queue, **over):
    values = dict(name=queue.name, taxonomy_id=queue.taxonomy_id, annotators_per_item=queue.annotators_per_item,
                  lease_minutes=queue.lease_minutes, consensus_rule=queue.consensus_rule)
    values.update(over)
    return services.QueueData(**values)


def test_n_can_grow_but_not_shrink_once_review_started(taxonomy, annotators, maintainer):
    queue = make_queue(n=1)
    (item,) = make_items(1)
    services.lease_claim(queue=queue, user=annotators[0])
    item.refresh_from_db()
    assert item.free_at is not None and not services.lease_claim(queue=queue, user=annotators[1])
    services.queue_update(queue=queue, data=_data_for(queue, annotators_per_item=2), actor=maintainer)
    second = services.lease_claim(queue=queue, user=annotators[1])
    assert second is not None and second.item_id == item.pk and second.lease.slot == 2
    with pytest.raises(services.AnnotationInvalid) as exc:
        services.queue_update(queue=queue, data=_data_for(queue, annotators_per_item=1), actor=maintainer)
    assert "annotators_per_item" in exc.value.errors
    assert Lease.objects.filter(item=item).count() == 2
