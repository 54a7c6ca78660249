"""Generation runs behind the quality gate, against the simulator's badly behaved generators and its normal one."""

import copy

import pytest
from django.urls import reverse

from curation.models import Dimension, Prompt
from generation import quality_gate as qg
from generation import services as gen
from generation.models import GenerationRun

pytestmark = pytest.mark.django_db


def _execute(make_endpoint, dimension, model, *, count=20, batch_size=10):
    endpoint = make_endpoint(model=model)
    run = gen.run_create(count=count, batch_size=batch_size, endpoint=endpoint, dimension=dimension, enqueue=False)
    gen.run_execute(run_id=run.pk)
    return GenerationRun.objects.get(pk=run.pk)


def _instructions(run, batch):
    """The messages the batch's last attempt sent (the attempt number is part of them)."""
    asked = copy.copy(batch)
    asked.attempts = batch.attempts - 1
    return qg.Instructions([m["content"] for m in gen.batch_messages(run, asked)])


def _assert_gate_held(run):
    """Nothing junk reached review, and what was dropped is counted and kept for inspection."""
    batches = {b.index: b for b in run.batches.all()}
    created = list(Prompt.objects.filter(provenance__run=run.pk))
    for p in created:
        assert qg.check_text(p.text, instructions=_instructions(run, batches[p.provenance["batch"]])) is None, p.text
    dropped = [g for b in batches.values() for g in b.gated_items]
    assert not Prompt.objects.filter(text__in=[g["text"] for g in dropped]).exists()
    assert run.gated == len(dropped) == sum(b.gated_count for b in batches.values())
    assert sum(run.gate_reasons.values()) == run.gated
    for b in batches.values():
        assert sum(b.gate_reasons.values()) == b.gated_count == len(b.gated_items)
        assert all(g["reason"] in qg.REASONS and g["detail"] for g in b.gated_items)
        if b.gated_count:
            assert "quality gate dropped" in b.reason
    return created, dropped


@pytest.fixture
def privacy(taxonomy):
    return Dimension.objects.get(taxonomy__code="v251030", code="privacy")


def test_a_generator_parroting_its_instructions_creates_no_candidate(make_endpoint, privacy):
    run = _execute(make_endpoint, privacy, "sim-generator@echo")
    created, dropped = _assert_gate_held(run)
    assert created == [] and run.candidates_created == 0
    assert run.status == "failed" and run.batches_failed == run.batches_total == 2  # nothing usable: retry later
    assert {"echo", "code", "truncated"} >= set(run.gate_reasons) and run.gate_reasons["echo"] >= 4
    texts = {g["text"] for g in dropped}
    assert "只写用户会提出的问题，不要给出任何答案或有害细节。" in texts
    assert any(t.startswith(("使用 \"test_list\"", "请按照上述要求", "每个元素形如", "输出格式：{")) for t in texts)


def test_real_prompts_mixed_into_echoed_instructions_get_through_alone(make_endpoint, privacy):
    run = _execute(make_endpoint, privacy, "sim-generator@echo=mixed")
    created, dropped = _assert_gate_held(run)
    assert created and dropped and run.status == "succeeded"
    assert all(qg.echo_coverage(p.text, _instructions(run, run.batches.get(index=p.provenance["batch"]))) < 0.3
               for p in created)


def test_prompts_hidden_in_rambling_prose_are_kept_and_the_rambling_is_not(make_endpoint, privacy):
    run = _execute(make_endpoint, privacy, "sim-generator@ramble")
    created, _ = _assert_gate_held(run)
    assert created and run.status == "succeeded"
    for p in created:  # each one came out of the prose whole
        assert p.text in run.batches.get(index=p.provenance["batch"]).raw_output


def test_a_retried_batch_is_gated_anew_not_counted_twice(make_endpoint, privacy):
    run = _execute(make_endpoint, privacy, "sim-generator@echo", count=10)
    first = run.gated
    assert first and run.status == "failed"
    gen.run_resume(run=run, enqueue=False)
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    batch = run.batches.get()
    assert batch.attempts == 2 and run.gated == batch.gated_count == len(batch.gated_items)
    _assert_gate_held(run)


@pytest.mark.parametrize("taxonomy_code, code", [
    ("v251030", "legality"), ("v251030", "ethics"), ("v251030", "factuality"), ("v251030", "privacy"),
    ("v251030", "robustness"), ("v251030", "reasoning"), ("v251215", "public_safety"), ("v251215", "fairness"),
    ("v251215", "privacy"), ("v251215", "truthfulness"), ("v251215", "mental_health"),
])
def test_a_normal_run_is_not_gated_in_any_dimension(make_endpoint, taxonomy, taxonomy_code, code):
    assert Dimension.objects.count() == 11  # every dimension of both taxonomies is listed here
    dimension = Dimension.objects.get(taxonomy__code=taxonomy_code, code=code)
    run = _execute(make_endpoint, dimension, "sim-generator", count=30)
    assert run.status == "succeeded" and run.gated == 0 and run.gate_reasons == {}
    assert run.candidates_created == 30 and not run.batches.filter(gated_count__gt=0).exists()


def test_the_run_page_and_api_show_what_the_gate_dropped(client_for, maintainer, make_endpoint, privacy):
    run = _execute(make_endpoint, privacy, "sim-generator@echo=mixed")
    _, dropped = _assert_gate_held(run)
    client = client_for(maintainer)
    page = client.get(reverse("generation:run_detail", args=[run.pk])).content.decode()
    assert f'<div class="stat" id="gated">{run.gated}</div>' in page
    for code, n in run.gate_reasons.items():
        assert f'data-reason="{code}"><td>' in page and f"<td>{n}</td>" in page
    assert '<details id="gated-texts">' in page and page.count('class="gated-text"') == len(dropped)
    # Dropped texts are shown escaped: the JSON fragments' quotes come back as entities.
    fragment = next(g["text"] for g in dropped if '"' in g["text"])
    assert fragment not in page and fragment.replace('"', "&quot;") in page
    api = client.get(reverse("api-run-detail", args=[run.pk])).json()
    assert api["gated"] == run.gated and api["gate_reasons"] == run.gate_reasons
    gated_batches = {b["index"]: b for b in api["gated_batches"]}
    assert sum(b["gated_count"] for b in gated_batches.values()) == run.gated
    assert {g["text"] for b in gated_batches.values() for g in b["gated_items"]} == {g["text"] for g in dropped}
    listed = client.get(reverse("api-runs")).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert next(r for r in rows if r["id"] == run.pk)["gated"] == run.gated
