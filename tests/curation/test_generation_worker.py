"""A real Celery worker is killed (-9) in the middle of a run; a fresh worker finishes it, repeating nothing."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from curation import generation_services as gen
from curation.models import GenerationRun, Prompt

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """`celery -A config worker` on the test database, a broker and a queue of this test's own."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.queue = f"livesec-test-{uuid.uuid4().hex[:10]}"
        broker = os.environ.get("CELERY_BROKER_URL", "")
        self.broker = broker if broker.startswith(("redis://", "rediss://")) else "filesystem://"
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "LIVESEC_VAR_DIR": str(tmp),
            "GENERATION_LEASE_SECONDS": "5",
            "LLM_MAX_ATTEMPTS": "3",
            "LLM_BACKOFF_BASE": "0.01",
            "PYTHONUNBUFFERED": "1",
        }
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.tmp / f"worker-{self.starts}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", self.queue,
             "--loglevel", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def send(self, task: str, *args):
        from celery import Celery

        # Not the current app: shared tasks sent later in this process must still go through config's app.
        app = Celery("livesec-test-client", broker=self.broker, set_as_current=False)
        if self.broker.startswith("filesystem"):
            folder = str(self.tmp / "celery-queue")
            os.makedirs(folder, exist_ok=True)
            app.conf.broker_transport_options = {"data_folder_in": folder, "data_folder_out": folder}
        app.send_task(task, args=list(args), queue=self.queue)
        app.close()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("worker-*.log")))


def _wait(predicate, timeout, worker, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{worker.logs()}")


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_run_and_restarting_finishes_with_nothing_duplicated(
    make_endpoint, legality, sim, tmp_path
):
    sim.set_latency(300)
    run = gen.run_create(count=40, batch_size=2, endpoint=make_endpoint(max_concurrency=2), dimension=legality,
                         enqueue=False)
    worker = Worker(tmp_path)
    try:
        worker.start()
        worker.send("curation.tasks.generation_run_execute", run.pk)

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
