"""A real Celery worker is killed (-9) in the middle of a run; a fresh worker finishes it, repeating nothing."""


import pytest

from curation.models import Prompt
from generation import services as gen
from generation.models import GenerationRun
from tests.worker import Worker


def _wait(predicate, timeout, worker, what):
    return worker.wait(predicate, timeout, what, every=0.2)


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_run_and_restarting_finishes_with_nothing_duplicated(
    make_endpoint, legality, sim, tmp_path
):
    sim.set_latency(300)
    run = gen.run_create(count=40, batch_size=2, endpoint=make_endpoint(max_concurrency=2), dimension=legality,
                         enqueue=False)
    worker = Worker(tmp_path, GENERATION_LEASE_SECONDS="5")
    try:
        worker.start()
        worker.send("generation.tasks.generation_run_execute", run.pk)

        def some_done():
            run.refresh_from_db()
            return run.status == "running" and run.batches_done >= 4

        _wait(some_done, 120, worker, "the first batches")
        worker.kill()
        run.refresh_from_db()
        assert run.status == "running" and run.batches_done < run.batches_total  # really killed mid-run
        before = {b.index: (b.created_count, b.attempts) for b in run.batches.filter(status="done")}
        kept_ids = set(Prompt.objects.filter(provenance__run=run.pk).values_list("pk", flat=True))
        assert len(kept_ids) == sum(c for c, _ in before.values())

        worker.start()  # recovers the run on start-up: its lease holder is dead

        def finished():
            run.refresh_from_db()
            return run.status not in GenerationRun.ACTIVE

        _wait(finished, 180, worker, "the run to finish after the restart")
    finally:
        worker.kill()
    assert run.status == "succeeded", worker.logs()
    assert run.candidates_created == 40 and run.batches_failed == 0
    prompts = list(Prompt.objects.filter(provenance__run=run.pk))
    assert len(prompts) == 40 == len({p.normalized_hash for p in prompts})
    assert kept_ids <= {p.pk for p in prompts}  # finished work survived
    batches = {b.index: b for b in run.batches.all()}
    assert len(batches) == run.batches_total
    for index, (created, attempts) in before.items():  # finished batches were not done again
        assert (batches[index].created_count, batches[index].attempts) == (created, attempts)
    per_batch = {}
    for p in prompts:
        per_batch[p.provenance["batch"]] = per_batch.get(p.provenance["batch"], 0) + 1
    assert per_batch == {i: b.created_count for i, b in batches.items() if b.created_count}
