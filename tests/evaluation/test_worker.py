"""A real Celery worker is killed (-9) while answers are collected and again while a round is judged; a fresh
worker finishes the run with one answer per (target, question), one verdict per match, and the very leaderboard
an uninterrupted run with the same seed gets."""

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from evaluation.models import Answer, EvalRun, Match, Shard
from evaluation.services import run_create, run_execute_inline, shard_execute
from llm.services import endpoint_update
from tests.worker import Worker

from .boards import board, forget, match_list, sim_stats

TARGETS = ("sim-target-90", "sim-target-70", "sim-target-30", "sim-target-10")


def _worker(tmp: Path, pool: str) -> Worker:
    # The killed worker's limiter slots (Redis) must not hold the restarted one up for a minute.
    return Worker(tmp, pool, EVAL_LEASE_SECONDS="3", LLM_LIMITER_LEASE_SECONDS="3")


def _wait(predicate, timeout, worker, what):
    return worker.wait(predicate, timeout, what)


def _concurrency(endpoints, n: int) -> None:
    for endpoint in endpoints:
        endpoint_update(endpoint=endpoint, max_concurrency=n)


def _target_calls(sim) -> int:
    return sum(n for m, n in sim_stats(sim)["by_model"].items() if m.startswith("sim-target"))


def _judged(shard_id: int) -> int:
    return Match.objects.filter(shard_id=shard_id).exclude(outcome=Match.Outcome.PENDING).count()


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pool", ["solo", "threads", "prefork"])
def test_killing_the_worker_mid_answers_and_mid_round_ends_as_an_uninterrupted_run(
    frozen_release, make_endpoint, sim, tmp_path, pool, settings
):
    release = frozen_release(per_dimension=30, dimensions=("legality", "ethics"), holdout_fraction=0.2)
    targets = [make_endpoint(name, max_concurrency=8) for name in TARGETS]
    judge = make_endpoint("sim-judge", max_concurrency=8)
    # The reference: the same release, targets, judge, seed and answer parameters, uninterrupted. It is then
    # forgotten (run, answers and verdicts), so that the interrupted run has to ask for everything itself. The
    # simulator's targets and judge are deterministic, so the same prompt gets the same reply in both runs; how
    # many calls are in flight changes no result (verdicts apply in task order, whenever they arrive).
    reference = run_execute_inline(
        run_id=run_create(release=release, targets=targets, judge=judge, seed=5, enqueue=False).pk)
    assert reference.status == EvalRun.Status.SUCCEEDED, reference.error
    expected, expected_matches = board(reference), match_list(reference)
    n_answers, n_matches = reference.answers_total, reference.matches_total
    forget(reference)

    _concurrency(targets, 2)
    _concurrency([judge], 1)
    sim.reset()
    sim.set_latency(150)  # 2 in flight per target: 13 answers/s, a chunk of 30 takes 2.3 s (two flushes)
    settings.EVAL_ANSWER_CHUNK = 30  # two shards per target, which one task takes one after the other
    run = run_create(release=release, targets=targets, judge=judge, seed=5, enqueue=False)
    worker = _worker(tmp_path, pool)
    try:
        worker.start()
        worker.send("evaluation.tasks.eval_run_advance", run.pk)

        def mid_chunk():
            return any(0 < s.done < s.total for s in Shard.objects.filter(run=run, kind="answers", status="running"))

        _wait(mid_chunk, 60, worker, "a chunk of answers half done")
        worker.kill()
        saved, sent = Answer.objects.count(), _target_calls(sim)
        assert 0 < saved < n_answers  # really killed while answers were being collected
        assert Shard.objects.filter(run=run, kind="answers", status="running").exists()
        lost_answers = sent - saved  # in flight or not yet written when the worker died

        sim.set_latency(0)
        _concurrency(targets, 8)  # the rest of the answers quickly
        sim.set_model_fault("sim-judge", "latency=200")  # one in flight: a round of 12 matches takes 2.4 s
        worker.start()  # recovers the run on start-up: its lease holders are dead

        def mid_round():
            for shard in Shard.objects.filter(run=run, kind="round", status="running"):
                if 0 < _judged(shard.pk) < shard.total:
                    return shard.pk
            return None

        shard_id = _wait(mid_round, 60, worker, "a round half judged")
        worker.kill()
        shard = Shard.objects.get(pk=shard_id)
        judged_at_kill = Match.objects.filter(run=run).exclude(outcome=Match.Outcome.PENDING).count()
        assert 0 < _judged(shard_id) < shard.total and shard.status == "running"
        lost_verdicts = sim_stats(sim)["by_model"]["sim-judge"] - judged_at_kill

        sim.set_model_fault("sim-judge", None)
        _concurrency([judge], 8)
        worker.start()

        def finished():
            run.refresh_from_db()
            return run.status not in EvalRun.ACTIVE

        _wait(finished, 60, worker, "the run to finish after the restarts")
    finally:
        worker.kill()
    assert run.status == EvalRun.Status.SUCCEEDED, f"{run.error}\n{worker.logs()}"

    # One answer per (target, question), and nothing stored was asked for again.
    per_target = {t.fingerprint: 0 for t in run.targets.all()}
    for fp in Answer.objects.values_list("fingerprint", flat=True):
        per_target[fp] += 1
    assert list(per_target.values()) == [n_answers // len(TARGETS)] * len(TARGETS)
    assert _target_calls(sim) == n_answers + lost_answers
    # One row and one verdict per match, each round paired once; only the lost verdicts were asked again.
    assert Match.objects.filter(run=run).count() == run.matches_total == n_matches
    assert set(Match.objects.filter(run=run).values_list("outcome", flat=True)) <= {"A", "B"}
    rounds = list(Shard.objects.filter(run=run, kind="round").values_list("dimension_code", "round_no"))
    assert sorted(rounds) == [(code, r) for code in ("ethics", "legality") for r in range(1, 6)]
    assert sim_stats(sim)["by_model"]["sim-judge"] == n_matches + lost_verdicts
    # The run's counters: everything done, and nothing counted as reused that this very run stored before a kill.
    assert (run.answers_done, run.answers_reused) == (n_answers, 0)
    assert (run.matches_done, run.verdicts_reused) == (n_matches, 0)

    # The same board, number for number, and the same matches in the same order with the same verdicts.
    assert match_list(run) == expected_matches
    assert board(run) == expected


@pytest.mark.django_db(transaction=True)
def test_a_shard_whose_calls_outlast_the_lease_keeps_it_while_they_run(frozen_release, make_endpoint, judge, sim,
                                                                      settings):
    """A second delivery of the task (or a run advance queueing the shard again) must not take over a shard whose
    executor is alive but waiting on calls longer than the lease: every call would be sent twice."""
    settings.EVAL_LEASE_SECONDS = 1.5
    release = frozen_release(per_dimension=4, dimensions=("legality",), holdout_fraction=0)
    slow = make_endpoint("slow", "sim-target-90@slow=3", max_concurrency=4)  # all four in flight for 3 s
    run = run_create(release=release, targets=[slow, make_endpoint("sim-target-10")], judge=judge, enqueue=False)
    shard = Shard.objects.get(run=run, target__name="slow")
    outcome = {}

    def execute():
        try:
            outcome["first"] = shard_execute(shard_id=shard.pk, enqueue=False)
        finally:
            connection.close()

    first = threading.Thread(target=execute)
    first.start()
    try:
        claimed = _wait_for(lambda: Shard.objects.filter(pk=shard.pk, status="running").values_list(
            "lease_expires_at", flat=True).first(), 10)
        _wait_for(lambda: timezone.now() > claimed + timedelta(seconds=0.2), 10)  # past the lease first taken
        assert first.is_alive()  # the calls are still in flight
        outcome["second"] = shard_execute(shard_id=shard.pk, enqueue=False)
    finally:
        first.join()
    assert outcome == {"first": True, "second": False}
    assert sim_stats(sim)["by_requested_model"]["sim-target-90@slow=3"] == 4
    shard.refresh_from_db()
    assert (shard.status, shard.done, shard.total) == ("done", 4, 4)
    assert Answer.objects.filter(endpoint_name="slow", outcome="ok").count() == 4


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.mark.django_db(transaction=True)
def test_a_shard_delivered_to_many_threads_at_once_is_executed_once(frozen_release, make_endpoint, judge, sim):
    """Duplicate deliveries of a shard's task (a run advance and a recovery queue it again; a task goes on with
    its target's next chunk while that chunk's own task arrives) land on threads of one worker process."""
    release = frozen_release(per_dimension=20, dimensions=("legality",), holdout_fraction=0)
    target = make_endpoint("sim-target-50", max_concurrency=4)
    run = run_create(release=release, targets=[target, make_endpoint("sim-target-10")], judge=judge,
                     enqueue=False)
    shard = Shard.objects.get(run=run, target__name="sim-target-50")
    sim.set_latency(50)
    start = threading.Barrier(16)
    ran = []

    def deliver():
        try:
            start.wait()
            ran.append(shard_execute(shard_id=shard.pk, enqueue=False))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ran.count(True) == 1, ran
    assert sim_stats(sim)["by_model"]["sim-target-50"] == 20
    shard.refresh_from_db()
    run.refresh_from_db()
    assert (shard.status, shard.done, shard.attempts) == ("done", 20, 1)
    assert (run.answers_done, run.answers_reused, run.target_calls) == (20, 0, 20)
