"""Answers and verdicts are stored once and reused: a second run spends no call it does not need, a failed one is
tried again, a verdict is reused only for the very same prompt to the very same judge; a cancelled run resumed
sends only what is missing and ends where an uninterrupted run ends."""

import threading
import time

import pytest
from django.db import close_old_connections, connection

from evaluation.models import Answer, EvalRun, Match, Rubric
from evaluation.services import (
    display_answer,
    rubric_update,
    run_cancel,
    run_create,
    run_execute_inline,
    run_resume,
)

from .boards import board, calls_to, forget, match_list, sim_stats

ITEMS = 25


def _run(release, targets, judge, **kw):
    run = run_create(release=release, targets=targets, judge=judge, enqueue=False, **kw)
    run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED, run.error
    return run


@pytest.mark.django_db
def test_a_second_run_sends_no_target_call_but_retries_errors(frozen_release, make_endpoint, judge, sim):
    release = frozen_release(per_dimension=ITEMS, dimensions=("legality",), holdout_fraction=0)
    targets = [
        make_endpoint("clean", "sim-target-90"),
        make_endpoint("mixed", "sim-target-50@blocked_rate=30@empty_rate=30"),
        make_endpoint("cut", "sim-target-10@truncated"),
        make_endpoint("flaky", "sim-target-70"),
    ]
    sim.set_model_fault("sim-target-70", "500")  # down during the first run
    first = _run(release, targets, judge, seed=1)
    outcomes = dict(Answer.objects.values_list("endpoint_name", "outcome").distinct().order_by())
    assert set(Answer.objects.filter(endpoint_name="mixed").values_list("outcome", flat=True)) == {
        "ok", "blocked", "empty"}
    assert outcomes["cut"] == "truncated" and outcomes["flaky"] == "error"
    assert first.errors == ITEMS and first.target_calls == 4 * ITEMS

    sim.set_model_fault("sim-target-70", None)
    sim.reset()
    second = _run(release, targets, judge, seed=1)
    requested = sim_stats(sim)["by_requested_model"]
    # Only the failed answers were asked again, once each; blocked, empty and truncated ones are answers.
    assert {m: n for m, n in requested.items() if m.startswith("sim-target")} == {"sim-target-70": ITEMS}
    assert second.target_calls == ITEMS and second.answers_reused == 3 * ITEMS
    assert second.answers_done == second.answers_total == 4 * ITEMS
    assert second.errors == 0
    # Still one row per (target, question): the error was replaced, not duplicated.
    assert Answer.objects.count() == 4 * ITEMS
    assert set(Answer.objects.filter(endpoint_name="flaky").values_list("outcome", flat=True)) == {"ok"}
    flaky = str(second.targets.get(name="flaky").pk)
    assert second.results["answers"][flaky]["ok"] == ITEMS

    sim.reset()
    third = _run(release, targets, judge, seed=1)
    assert sim_stats(sim)["requests"] == 0  # nothing left to ask: answers and verdicts all stored
    assert third.verdicts_reused == third.matches_total == third.matches_done
    assert board(third) == board(second)


@pytest.mark.django_db
def test_a_verdict_is_reused_only_for_the_same_judge_rubric_answers_and_orientation(
    frozen_release, make_endpoint, judge, sim
):
    release = frozen_release(per_dimension=ITEMS, dimensions=("legality",), holdout_fraction=0)
    strong, weak = make_endpoint("sim-target-90"), make_endpoint("sim-target-10")
    total = ITEMS  # two models: one pair per round, each item judged once

    first = _run(release, [strong, weak], judge, seed=4)
    assert calls_to(sim, "sim-judge") == first.judge_calls == total

    sim.reset()
    same = _run(release, [strong, weak], judge, seed=4)
    assert sim_stats(sim)["requests"] == 0
    assert same.verdicts_reused == total and same.judge_calls == 0
    assert Match.objects.filter(run=same, reused=True).count() == total
    assert match_list(same) == match_list(first) and board(same) == board(first)

    # Another rubric version: every comparison is judged again.
    rubric = Rubric.objects.get(pk=first.rubrics["legality"])
    rubric_update(rubric=rubric, text=rubric.text.replace("【评估标准】", "【评估标准】\n0. 以安全为先。"))
    sim.reset()
    edited = _run(release, [strong, weak], judge, seed=4)
    assert edited.rubrics["legality"] != first.rubrics["legality"]
    assert calls_to(sim, "sim-judge") == edited.judge_calls == total and edited.verdicts_reused == 0

    # Another judge (same model, other parameters: another fingerprint): judged again.
    other = make_endpoint("judge-2", "sim-judge", default_params={"temperature": 0})
    sim.reset()
    rejudged = _run(release, [strong, weak], other, seed=4)
    assert calls_to(sim, "sim-judge") == rejudged.judge_calls == total and rejudged.verdicts_reused == 0

    # Other answers to the same questions (another target): judged again, unless an answer happens to read
    # exactly as the one it replaces (the simulator's refusals are few texts), which is the same prompt.
    middling = make_endpoint("sim-target-50")
    sim.reset()
    other_answers = _run(release, [strong, middling], judge, seed=4)
    judged = _judged_afresh(other_answers, [edited])
    assert calls_to(sim, "sim-judge") == other_answers.judge_calls == len(judged) > total // 2

    # The targets in the other order: round 1 meets the same pair with A and B swapped, which is another prompt;
    # later rounds, where the leader is A again, reuse the stored verdicts.
    sim.reset()
    swapped = _run(release, [weak, strong], judge, seed=4)
    before = {item: a for _d, _r, _s, item, a, _b, _o in match_list(edited)}
    flipped = {m.pk for m in Match.objects.filter(run=swapped).select_related("target_a")
               if m.target_a.name != before[m.item_id]}
    judged = _judged_afresh(swapped, [edited, other_answers])
    assert judged and {m.pk for m in judged} <= flipped
    assert {m.round_no for m in judged} == {1}
    assert calls_to(sim, "sim-judge") == swapped.judge_calls == len(judged)
    # The judge looks at the answers, not their positions: the same winner either way.
    winners = {m.item_id: m.target_a.name if m.outcome == "A" else m.target_b.name
               for m in Match.objects.filter(run=edited).select_related("target_a", "target_b")}
    for m in Match.objects.filter(run=swapped).select_related("target_a", "target_b"):
        assert (m.target_a.name if m.outcome == "A" else m.target_b.name) == winners[m.item_id]


def _shown(match) -> tuple:
    """What the judge is shown of a match: the question, and each answer as displayed, in its position."""
    return match.item_id, display_answer(match.answer_a), display_answer(match.answer_b)


def _judged_afresh(run, earlier) -> list:
    """The run's matches that were sent to the judge, checking that every other one reused a verdict, and that
    a verdict was reused exactly when an earlier run (same judge and rubric) showed the judge the very same."""
    seen = {_shown(m) for m in Match.objects.filter(run__in=earlier).select_related("answer_a", "answer_b")}
    matches = list(Match.objects.filter(run=run).select_related("answer_a", "answer_b"))
    for m in matches:
        assert m.reused == (_shown(m) in seen), m
    return [m for m in matches if not m.reused]


def _cancel_when(run_id, predicate, fired):
    def watch():
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if predicate():
                    run_cancel(run=EvalRun.objects.get(pk=run_id))
                    fired.append(predicate())
                    return
                time.sleep(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


@pytest.mark.parametrize("phase", ["answers", "judging"])
@pytest.mark.django_db(transaction=True)
def test_a_cancelled_run_resumed_sends_only_what_is_missing_and_ends_as_an_uninterrupted_run(
    frozen_release, make_endpoint, judge, sim, phase
):
    release = frozen_release(per_dimension=30, dimensions=("legality", "ethics"), holdout_fraction=0.2)
    targets = [make_endpoint(m, max_concurrency=2) for m in ("sim-target-90", "sim-target-50", "sim-target-10")]
    judge.max_concurrency = 2
    judge.save()
    reference = _run(release, targets, judge, seed=9)
    expected, expected_matches = board(reference), match_list(reference)
    n_answers, n_matches = reference.answers_total, reference.matches_total
    forget(reference)

    sim.reset()
    sim.set_latency(20)
    run = run_create(release=release, targets=targets, judge=judge, seed=9, enqueue=False)
    if phase == "answers":
        def midway():
            done = Answer.objects.count()
            return done if 0 < done < n_answers else 0
    else:
        def midway():
            done = Match.objects.filter(run=run).exclude(outcome="pending").count()
            return done if 0 < done < n_matches else 0
    fired = []
    watcher = _cancel_when(run.pk, midway, fired)
    try:
        run = run_execute_inline(run_id=run.pk)
    finally:
        watcher.join()
        close_old_connections()
    assert fired, "the run finished before it could be cancelled"
    assert run.status == EvalRun.Status.CANCELLED
    sent_before = sim_stats(sim)["by_model"]
    if phase == "answers":
        assert 0 < Answer.objects.count() < n_answers
        assert sent_before.get("sim-judge", 0) == 0
    else:
        assert 0 < Match.objects.filter(run=run).exclude(outcome="pending").count() < n_matches

    run_resume(run=run, enqueue=False)
    run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED, run.error
    sent = sim_stats(sim)["by_model"]
    # Across both parts, every answer and every verdict was asked for exactly once.
    assert {m: n for m, n in sent.items() if m.startswith("sim-target")} == {
        t.model: n_answers // len(targets) for t in targets}
    assert sent["sim-judge"] == n_matches == run.judge_calls
    assert run.target_calls == n_answers
    assert Answer.objects.count() == n_answers
    assert board(run) == expected
    assert match_list(run) == expected_matches


@pytest.mark.django_db
def test_an_answer_another_run_stored_first_is_kept_and_the_rest_of_the_batch_goes_in(make_endpoint):
    """Two runs of one target answering the same question at once: the second batch meets the first's row (on
    PostgreSQL the COPY fails on it and the batch goes in again skipping it); nothing is lost or overwritten."""
    from evaluation import services

    endpoint = make_endpoint("shared", "sim-target-50")

    def row(h, text):
        return Answer(fingerprint="f" * 64, content_hash=h, params_hash="p" * 64, endpoint_id=endpoint.pk,
                      endpoint_name="shared", outcome="ok", text=text, attempts=1)

    services._save_answers([row("a" * 64, "first run's answer")], retry_errors=set())
    services._save_answers([row("a" * 64, "second run's answer"), row("b" * 64, "another question")],
                           retry_errors=set())
    stored = dict(Answer.objects.filter(fingerprint="f" * 64).values_list("content_hash", "text"))
    assert stored == {"a" * 64: "first run's answer", "b" * 64: "another question"}
    assert all(a.created_at and a.updated_at for a in Answer.objects.filter(fingerprint="f" * 64))
