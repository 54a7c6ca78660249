"""Badly behaved providers must not crash a run: bounded retries, failed batches with reasons, no duplicates."""

import json
import time

import pytest
from django.urls import reverse

from curation.models import Prompt
from generation import quality_gate as qg
from generation import services as gen
from llm.client import LLMResult
from llm.models import LLMCall

pytestmark = pytest.mark.django_db

MAX_ATTEMPTS = 3  # tests/pipeline_fixtures.py FAST_RETRIES


def _finish(make_endpoint, legality, model, *, count=20, batch_size=10, **endpoint_fields):
    endpoint = make_endpoint(model=model, **endpoint_fields)
    run = gen.run_create(count=count, batch_size=batch_size, endpoint=endpoint, dimension=legality, enqueue=False)
    started = time.monotonic()
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status in ("succeeded", "failed")  # finished, whatever happened
    prompts = list(Prompt.objects.filter(provenance__run=run.pk))
    assert len({p.normalized_hash for p in prompts}) == len(prompts) == run.candidates_created
    assert sum(b.created_count for b in run.batches.all()) == run.candidates_created
    assert all(b.status in ("done", "failed") for b in run.batches.all())
    calls = list(LLMCall.objects.filter(endpoint=endpoint, cached=False))
    assert calls and all(1 <= c.attempts <= MAX_ATTEMPTS for c in calls)  # retries stay bounded
    return run, calls, time.monotonic() - started


def _failed_reasons(run):
    failed = list(run.batches.filter(status="failed"))
    assert failed and all(b.reason for b in failed)
    return " | ".join(b.reason for b in failed)


def test_429_with_retry_after_is_honoured_then_succeeds(make_endpoint, legality):
    run, calls, elapsed = _finish(make_endpoint, legality, "sim-generator@429=1@burst=1")
    assert run.status == "succeeded" and run.candidates_created == 20
    assert {c.attempts for c in calls} == {2} and elapsed >= 1.0  # waited the 1 s the server asked for


def test_persistent_429_gives_up_after_the_attempt_limit(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@429=0.01")
    assert run.status == "failed" and run.candidates_created == 0
    assert {c.attempts for c in calls} == {MAX_ATTEMPTS}
    assert "429" in _failed_reasons(run)


def test_500_burst_is_retried_and_recovers(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@500=2")
    assert run.status == "succeeded" and run.candidates_created == 20
    assert {c.attempts for c in calls} == {3}


def test_persistent_500_fails_the_batches_with_the_reason(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@500")
    assert run.status == "failed" and "HTTP 500" in _failed_reasons(run)
    assert {c.attempts for c in calls} == {MAX_ATTEMPTS}


def test_timeouts_are_retried_a_bounded_number_of_times(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@slow=1", timeout=0.2)
    assert run.status == "failed" and "timeout" in _failed_reasons(run).lower()
    assert {c.attempts for c in calls} == {MAX_ATTEMPTS}


def test_malformed_json_is_salvaged(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@malformed")
    assert run.status == "succeeded" and run.candidates_created > 0
    assert {c.attempts for c in calls} == {1}


def test_empty_output_is_a_failed_batch(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@empty")
    assert run.status == "failed" and run.candidates_created == 0
    assert "empty" in _failed_reasons(run)
    assert {c.outcome for c in calls} == {"empty"}


def test_truncated_output_keeps_the_complete_items_only(make_endpoint, legality):
    run, calls, _ = _finish(make_endpoint, legality, "sim-generator@truncated")
    batches = list(run.batches.all())
    assert all("truncated" in b.reason for b in batches)
    assert all(b.llm_outcome == "truncated" and b.raw_output for b in batches)
    assert 0 < run.candidates_created < 20  # ~60 % of each batch arrived
    for p in Prompt.objects.filter(provenance__run=run.pk):
        assert p.text in next(b.raw_output for b in batches if b.index == p.provenance["batch"])


@pytest.mark.parametrize("spec", ["blocked", "blocked=200", "blocked=data_inspection_failed"])
def test_blocked_responses_are_not_retried(make_endpoint, legality, spec):
    run, calls, _ = _finish(make_endpoint, legality, f"sim-generator@{spec}")
    assert run.status == "failed" and "blocked" in _failed_reasons(run)
    assert {c.outcome for c in calls} == {"blocked"} and {c.attempts for c in calls} == {1}


def test_a_real_small_badly_behaved_model_does_not_crash_a_run(make_endpoint, legality):
    """tiny-markov (a character n-gram model) rambles, repeats itself and ignores the JSON format."""
    run, calls, _ = _finish(make_endpoint, legality, "tiny-markov", count=40, batch_size=2,
                            default_params={"max_tokens": 40})
    run = type(run).objects.get(pk=run.pk)
    batches = list(run.batches.all())
    assert run.batches_total == len(batches) >= 20
    failed = [b for b in batches if b.status == "failed"]
    done = [b for b in batches if b.status == "done"]
    assert failed and done  # some output is unusable, some is not
    assert all(b.reason and b.raw_output for b in failed)
    assert not any(b.raw_output.lstrip().startswith(("[", "{")) for b in batches)  # it never wrote JSON
    kept = list(Prompt.objects.filter(provenance__run=run.pk))
    assert kept and run.status == "succeeded"
    for p in kept:  # what was kept really came out of the model, and passes the quality gate
        batch = next(b for b in batches if b.index == p.provenance["batch"])
        assert p.text in batch.raw_output
        asked = [m["content"] for m in gen.batch_messages(run, type(batch)(index=batch.index, requested=batch.requested,
                                                                        attempts=batch.attempts - 1))]
        assert qg.check_text(p.text, instructions=qg.Instructions(asked)) is None
    assert run.gated == sum(b.gated_count for b in batches) == sum(run.gate_reasons.values())


FRAME = "请帮我看看下面这段文字会不会带来安全风险，应该怎样防范："


def test_hostile_generated_text_is_stored_intact_and_rendered_escaped(
    client_for, maintainer, make_endpoint, legality, hostile_strings
):
    # Hostile strings inside Chinese questions, as a generator writes them: stored as they came.
    run = gen.run_create(count=40, batch_size=40, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    batch = run.batches.get()
    framed = [FRAME + s for s in hostile_strings]
    content = json.dumps([{"text": t, "risk_expression": "implicit"} for t in framed], ensure_ascii=False)
    gen._record_llm_batch(run, batch.pk, LLMResult("ok", content=content))
    batch.refresh_from_db()
    assert batch.status == "done"  # the NUL string is dropped, nothing crashes
    stored = set(Prompt.objects.filter(provenance__run=run.pk).values_list("text", flat=True))
    assert FRAME + "<script>alert('xss')</script>" in stored and not any("\x00" in t for t in stored)
    assert FRAME + "{{ request.user.password }}" in stored
    gated = {g["text"] for g in batch.gated_items}
    assert stored | gated <= {t.strip() for t in framed}  # kept or dropped, intact (the parser trims the ends)
    assert len(stored) + len(gated) >= len(framed) - 5  # near-identical strings may collapse as exact duplicates
    # Bare hostile strings are no test questions: the gate drops most and the run page shows them escaped.
    run2 = gen.run_create(count=40, batch_size=40, endpoint=run.endpoint, dimension=legality, enqueue=False)
    bare = json.dumps([{"text": s} for s in hostile_strings if "\x00" not in s], ensure_ascii=False)
    gen._record_llm_batch(run2, run2.batches.get().pk, LLMResult("ok", content=bare))
    dropped = {g["text"] for g in run2.batches.get().gated_items}
    assert {"<script>alert('xss')</script>", "<img src=x onerror=alert(1)>", "{{ request.user.password }}"} <= {
        t.lstrip('">') for t in dropped}
    # An unusable, hostile answer ends as a failed batch whose raw text is shown escaped.
    run3 = gen.run_create(count=5, endpoint=run.endpoint, dimension=legality, enqueue=False)
    gen._record_llm_batch(run3, run3.batches.get().pk,
                          LLMResult("ok", content="<script>alert('xss')</script><img src=x onerror=alert(1)>"))
    client = client_for(maintainer)
    for url in (reverse("generation:candidate_list") + f"?run={run.pk}", reverse("generation:run_detail", args=[run2.pk]),
                reverse("generation:run_detail", args=[run3.pk])):
        page = client.get(url).content.decode()
        assert "<script>alert('xss')</script>" not in page
        assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page
        assert "<img src=x onerror=alert(1)>" not in page
    page = client.get(reverse("generation:run_detail", args=[run2.pk])).content.decode()
    assert 'id="gated-texts"' in page and "{{ request.user.password }}" in page and maintainer.password not in page
    page = client.get(reverse("generation:candidate_list") + f"?run={run.pk}").content.decode()
    assert "{{ request.user.password }}" in page and maintainer.password not in page
