"""LLM generation runs end to end against the simulator: page, API and command; progress; idempotency."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from curation.models import Prompt
from generation import services as gen
from generation.models import GenerationBatch, GenerationRun

pytestmark = pytest.mark.django_db


def _run_prompts(run):
    return Prompt.objects.filter(provenance__run=run.pk)


def _assert_consistent(run):
    """Counters match the batches and the pool; nothing is duplicated."""
    run.refresh_from_db()
    prompts = list(_run_prompts(run))
    batches = list(run.batches.all())
    assert len({p.normalized_hash for p in prompts}) == len(prompts)
    assert run.candidates_created == len(prompts) == sum(b.created_count for b in batches)
    assert len({b.index for b in batches}) == len(batches) == run.batches_total
    assert all(b.status in ("done", "failed") for b in batches)
    for b in batches:
        if b.status == "failed":
            assert b.reason
    return prompts


def test_maintainer_generates_50_candidates_from_the_page_and_watches_progress(
    client_for, maintainer, make_endpoint, legality, django_capture_on_commit_callbacks
):
    make_endpoint()
    client = client_for(maintainer)
    page = client.get(reverse("generation:generation")).content.decode()
    assert 'name="mode" value="llm"' in page and "sim-generator" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("generation:run_start"), {
            "mode": "llm", "endpoint": "sim-generator", "dimension": legality.pk, "count": 50, "batch_size": 10,
            "temperature": 0.9,
        })
    run = GenerationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("generation:run_detail", args=[run.pk])
    fragment = client.get(reverse("generation:run_detail", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="run-progress"' in fragment and "<html" not in fragment
    assert "hx-trigger" not in fragment  # finished: polling stops
    run.refresh_from_db()
    assert run.status == "succeeded" and run.candidates_created == 50 and run.progress_percent == 100
    prompts = _assert_consistent(run)
    assert all(p.status == "candidate" and p.source == "generated" and p.dimension_id == legality.pk for p in prompts)
    pv = prompts[0].provenance
    assert pv["run"] == run.pk and pv["endpoint"] == "sim-generator" and pv["model"] == "sim-generator"
    assert pv["templates"][0]["scope"] == "dimension" and pv["templates"][0]["version"] == 1
    assert pv["params"]["temperature"] == 0.9 and isinstance(pv["batch"], int)
    assert {p.risk_expression for p in prompts} <= {"explicit", "implicit"}


def test_progress_fragment_polls_while_the_run_is_active(client_for, maintainer, make_endpoint, legality):
    run = gen.run_create(count=20, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    client = client_for(maintainer)
    url = reverse("generation:run_detail", args=[run.pk])
    queued = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in queued and f'hx-get="{url}"' in queued and "0 / 2" in queued
    gen.run_execute(run_id=run.pk)
    done = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done and "2 / 2" in done
    api = client.get(reverse("api-run-detail", args=[run.pk])).json()
    assert api["status"] == "succeeded" and api["progress"] == 100 and api["candidates_created"] == 20


def _shape(run):
    run.refresh_from_db()
    return (run.status, run.count, run.candidates_created, run.batches_total, run.batches_done, run.batches_failed,
            run.exact_duplicates)


def test_api_and_manage_py_generate_give_the_same_result(
    client_for, maintainer, make_endpoint, legality, django_capture_on_commit_callbacks, capsys
):
    make_endpoint()
    client = client_for(maintainer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("api-runs"), {"endpoint": "sim-generator", "dimension": "legality",
                                                     "taxonomy": "v251030", "count": 50}, content_type="application/json")
    assert response.status_code == 201, response.content
    api_run = GenerationRun.objects.get(pk=response.json()["id"])
    call_command("generate", "--endpoint", "sim-generator", "--dimension", "legality", "--taxonomy", "v251030",
                 "--count", "50")
    out = capsys.readouterr().out
    cmd_run = GenerationRun.objects.exclude(pk=api_run.pk).get()
    assert f"run {cmd_run.pk} succeeded: requested=50 created=50" in out
    assert _shape(api_run) == _shape(cmd_run) == ("succeeded", 50, 50, 5, 5, 0, 0)
    _assert_consistent(api_run)
    _assert_consistent(cmd_run)
    listed = client.get(reverse("api-runs")).json()
    assert {r["id"] for r in listed["results"]} == {api_run.pk, cmd_run.pk}


def test_generate_async_queues_instead_of_running(make_endpoint, legality, capsys, django_capture_on_commit_callbacks):
    make_endpoint()
    from unittest import mock

    with mock.patch("generation.tasks.generation_run_execute.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        call_command("generate", "--endpoint", "sim-generator", "--dimension", "legality", "--taxonomy", "v251030",
                     "--count", "5", "--async")
    run = GenerationRun.objects.get()
    assert run.status == "queued" and "queued" in capsys.readouterr().out
    delay.assert_called_once_with(run.pk)


def test_command_errors_are_clear(make_endpoint, taxonomy):
    from django.core.management.base import CommandError

    make_endpoint()
    with pytest.raises(CommandError, match="no endpoint named"):
        call_command("generate", "--endpoint", "nope", "--dimension", "legality", "--count", "5")
    with pytest.raises(CommandError, match="several taxonomies"):
        call_command("generate", "--endpoint", "sim-generator", "--dimension", "privacy", "--count", "5")
    with pytest.raises(CommandError, match="unknown technique"):
        call_command("generate", "--endpoint", "sim-generator", "--dimension", "legality", "--technique", "zzz",
                     "--count", "5")
    assert not GenerationRun.objects.exists()


def test_executing_a_finished_run_again_repeats_nothing(make_endpoint, legality, sim):
    run = gen.run_create(count=30, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    gen.run_execute(run_id=run.pk)
    before = (Prompt.objects.count(), sim.stats()["requests"])
    assert gen.run_execute(run_id=run.pk) is None  # finished: not claimed
    for batch in run.batches.all():
        assert gen.run_execute_batch(batch_id=batch.pk) is None  # a done batch is skipped
    assert (Prompt.objects.count(), sim.stats()["requests"]) == before


def test_batches_of_a_run_are_unique(make_endpoint, legality):
    from django.db import IntegrityError, transaction

    run = gen.run_create(count=20, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        GenerationBatch.objects.create(run=run, index=0, requested=5)


def test_a_rerun_of_a_batch_is_answered_from_the_cache(make_endpoint, legality, sim):
    """A worker that dies after the call but before the commit: the next executor does not pay again."""
    from llm.models import LLMCall

    run = gen.run_create(count=10, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    batch = run.batches.get()
    # First executor: the call is made (and cached), then it "dies" before recording the batch.
    from llm.services import client_flush, client_for

    with client_for(run.endpoint) as client:
        client.chat(gen.batch_messages(run, batch), **gen.batch_call_params(run, batch))
        client_flush(client)
    assert sim.stats()["requests"] == 1
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.candidates_created == 10 and sim.stats()["requests"] == 1
    assert LLMCall.objects.filter(cached=True).count() == 1


def test_batches_run_in_parallel_up_to_the_endpoint_limit(make_endpoint, legality, sim):
    sim.set_latency(150)
    run = gen.run_create(count=40, batch_size=5, endpoint=make_endpoint(max_concurrency=3), dimension=legality,
                         enqueue=False)
    gen.run_execute(run_id=run.pk)
    stats = sim.stats()
    assert stats["max_inflight"] == 3  # parallel, and never above the limit
    _assert_consistent(run)


def test_exact_duplicates_are_dropped_counted_and_topped_up(make_endpoint, legality, sim):
    """Batch 1 repeats texts already in the pool: they are dropped and counted, and one extra batch
    makes up the shortfall, so the run still delivers the requested count."""
    from llm.parsing import parse_prompt_list
    from llm.services import client_flush, client_for
    from tests.factories import make_prompt

    run = gen.run_create(count=20, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    first = run.batches.get(index=0)
    with client_for(run.endpoint) as client:
        answer = client.chat(gen.batch_messages(run, first), **gen.batch_call_params(run, first))
        client_flush(client)
    for item in parse_prompt_list(answer.content)[0]:
        make_prompt(item["text"])  # already in the pool
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    first.refresh_from_db()
    assert first.status == "done" and first.exact_duplicates == 10 and first.created_count == 0
    assert run.exact_duplicates == 10 and run.topup_rounds == 1 and run.batches_total == 3
    assert run.candidates_created == 20 and run.status == "succeeded"
    _assert_consistent(run)


def test_no_endless_top_up_when_a_round_yields_nothing(make_endpoint, legality):
    run = gen.run_create(count=10, endpoint=make_endpoint(model="sim-generator@empty"), dimension=legality,
                         enqueue=False)
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.topup_rounds == 0 and run.batches_total == 1 and run.status == "failed"


def test_cancel_keeps_finished_batches_and_resume_finishes(client_for, maintainer, make_endpoint, legality):
    run = gen.run_create(count=30, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    batch = run.batches.order_by("index").first()
    gen.run_execute_batch(batch_id=batch.pk)
    client = client_for(maintainer)
    page = client.get(reverse("generation:run_detail", args=[run.pk])).content.decode()
    cancel_form = page.split(f'action="{reverse("generation:run_cancel", args=[run.pk])}"')[1].split("</form>")[0]
    assert '<input type="checkbox" name="confirm" value="1" required' in cancel_form and "onclick" not in page
    refused = client.post(reverse("generation:run_cancel", args=[run.pk]), follow=True)  # the box not ticked
    run.refresh_from_db()
    assert run.status != "cancelled" and "请先勾选确认框再取消。" in refused.content.decode()
    assert client.post(reverse("generation:run_cancel", args=[run.pk]), {"confirm": "1"}).status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled" and run.candidates_created == 10
    assert gen.run_execute(run_id=run.pk) is None  # a cancelled run is not executed
    assert client.post(reverse("api-run-cancel", args=[run.pk])).status_code == 409
    from unittest import mock

    with mock.patch("generation.services._enqueue") as enqueue:
        assert client.post(reverse("api-run-resume", args=[run.pk])).status_code == 200
    enqueue.assert_called_once_with(run.pk)
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.candidates_created == 30
    _assert_consistent(run)


def test_resume_retries_failed_batches_only(make_endpoint, legality):
    from llm.services import endpoint_update

    endpoint = make_endpoint(model="sim-generator@blocked")
    run = gen.run_create(count=20, endpoint=endpoint, dimension=legality, enqueue=False)
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.batches_failed == 2 and run.candidates_created == 0
    endpoint_update(endpoint=endpoint, model="sim-generator")
    gen.run_resume(run=run, enqueue=False)
    run = GenerationRun.objects.select_related("endpoint").get(pk=run.pk)
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.candidates_created == 20 and run.batches_failed == 0
    assert set(run.batches.values_list("attempts", flat=True)) == {2}


def test_events_seed_event_driven_generation(client_for, maintainer, make_endpoint, legality, sim):
    client = client_for(maintainer)
    response = client.post(reverse("generation:event_create"), {
        "title": "某市发生冒充快递客服诈骗", "date": "2025-12-01", "summary": "诈骗分子以理赔为名索要验证码。",
        "source_url": "https://example.org/a", "tags": "电信诈骗，时事"})
    assert response.status_code == 302
    from generation.models import Event

    event = Event.objects.get()
    assert event.tags == ["电信诈骗", "时事"]
    assert "某市发生冒充快递客服诈骗" in client.get(reverse("generation:event_list")).content.decode()
    run = gen.run_create(count=5, endpoint=make_endpoint(), dimension=legality, events=[event],
                         seed_topics=["电信诈骗"], enqueue=False)
    message = gen.batch_messages(run, run.batches.get())[-1]["content"]
    assert "某市发生冒充快递客服诈骗" in message and "电信诈骗" in message and "生成5条" in message
    gen.run_execute(run_id=run.pk)
    assert all(p.provenance["events"] == [event.pk] for p in _run_prompts(run))
    api = client.post(reverse("api-events"), {"title": "新事件", "date": "2025-12-02", "tags": ["a"]},
                      content_type="application/json")
    assert api.status_code == 201 and api.json()["tags"] == ["a"]


def test_reference_answers_are_asked_for_and_kept_where_the_dimension_needs_them(make_endpoint, taxonomy):
    from curation.models import Dimension

    factuality = Dimension.objects.get(taxonomy__code="v251030", code="factuality")
    run = gen.run_create(count=5, endpoint=make_endpoint(), dimension=factuality, enqueue=False)
    message = gen.batch_messages(run, run.batches.get())[-1]["content"]
    assert "reference_answers" in message and "错误前提" in message
    gen.run_execute(run_id=run.pk)
    prompts = list(_run_prompts(run))
    assert prompts and all(p.reference_answers and p.expected_behaviour == "correct_premise" for p in prompts)


def test_editing_a_template_makes_a_new_version_used_by_later_runs(client_for, maintainer, make_endpoint, legality):
    from generation.models import GeneratorTemplate

    tmpl = GeneratorTemplate.objects.get(dimension=legality)
    client = client_for(maintainer)
    body = tmpl.body.replace("请为安全评测基准", "【新版】请为安全评测基准")
    response = client.post(reverse("generation:template_edit", args=[tmpl.pk]),
                           {"body": body, "system_text": tmpl.system_text, "notes": "更清楚"})
    new = GeneratorTemplate.objects.get(dimension=legality, version=2)
    assert response.status_code == 302 and new.created_by == maintainer
    tmpl.refresh_from_db()
    assert tmpl.version == 1 and "【新版】" not in tmpl.body  # the old version is untouched
    run = gen.run_create(count=5, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    assert "【新版】" in gen.batch_messages(run, run.batches.get())[-1]["content"]
    assert run.params["templates"][0] == {"id": new.pk, "scope": "dimension", "target": "legality", "version": 2}
    assert GeneratorTemplate.objects.filter(scope="dimension").values("dimension").distinct().count() == 11
    assert GeneratorTemplate.objects.filter(scope="technique", version=1).count() == 15


def test_bad_run_requests_are_refused_with_a_reason(client_for, maintainer, make_endpoint, legality):
    make_endpoint()
    client = client_for(maintainer)
    client.cookies["django_language"] = "en"  # the reasons' English wording
    bad = [
        ({"endpoint": "sim-generator", "dimension": "legality", "taxonomy": "v251030", "count": 0}, "count"),
        ({"endpoint": "nope", "dimension": "legality", "taxonomy": "v251030", "count": 5}, "no endpoint"),
        ({"dimension": "legality", "taxonomy": "v251030", "count": 5}, "endpoint"),
        ({"endpoint": "sim-generator", "dimension": "privacy", "count": 5}, "several taxonomies"),
        ({"mode": "mutation", "strategies": ["nope"], "count": 5}, "unknown mutation strategy"),
        # Beyond 64 bits: SQLite overflowed looking the event up, and a seed could not be stored (500s).
        ({"mode": "mutation", "events": [2**63], "count": 5}, "events"),
        ({"mode": "mutation", "seed": 2**63, "count": 5}, "seed"),
    ]
    for payload, needle in bad:
        response = client.post(reverse("api-runs"), payload, content_type="application/json")
        assert response.status_code == 400, payload
        assert needle in json.dumps(response.json(), ensure_ascii=False)
    page = client.post(reverse("generation:run_start"), {"mode": "llm", "endpoint": "sim-generator", "count": 5})
    assert page.status_code == 400
    assert not GenerationRun.objects.exists()


def test_loading_a_taxonomy_seeds_templates_through_the_hook_generation_registers(db, monkeypatch):
    """Curation's taxonomy load knows nothing of generation: the templates come from the handler generation
    registered (generation/apps.py), inside the load's transaction; without it the load seeds none."""
    from pathlib import Path

    from curation import services as curation_services
    from generation.models import GeneratorTemplate

    data = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "taxonomy.json").read_text(encoding="utf-8"))
    assert gen.templates_seed_counts in curation_services._taxonomy_handlers
    monkeypatch.setattr(curation_services, "_taxonomy_handlers", [])
    counts = curation_services.taxonomy_load(data=data)
    assert "generator_templates" not in counts and not GeneratorTemplate.objects.exists()
    monkeypatch.undo()
    counts = curation_services.taxonomy_load(data=data)
    assert counts["generator_templates"] == GeneratorTemplate.objects.count() > 0
    assert not GeneratorTemplate.objects.filter(scope="dimension", dimension__isnull=True).exists()
    assert curation_services.taxonomy_load(data=data)["generator_templates"] == 0  # each gets its first only once
