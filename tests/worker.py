"""A real Celery worker for the tests that kill one: `celery -A config worker` as a process of its own, on the
test database, with a queue of the test's own on Redis (CELERY_BROKER_URL) or the embedded on-disk broker."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """`start()`, `kill()` (SIGKILL to the worker and its pool), `start()` again; `send()` queues a task by name."""

    def __init__(self, tmp: Path, pool: str = "solo", *, beat: bool = False, **env: str):
        self.tmp = tmp
        # With beat: the periodic tasks run inside the worker, as `make run`'s worker has them (schedule file in tmp).
        self.beat = ["-B", "--schedule", str(tmp / "beat-schedule")] if beat else []
        self.pool = ["--pool", "solo"] if pool == "solo" else ["--pool", pool, "--concurrency", "4"]
        self.queue = f"livesec-test-{uuid.uuid4().hex[:10]}"
        broker = os.environ.get("CELERY_BROKER_URL", "")
        self.broker = broker if broker.startswith(("redis://", "rediss://")) else "filesystem://"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": self.broker,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "LIVESEC_VAR_DIR": str(tmp),
            "LLM_MAX_ATTEMPTS": "3",
            "LLM_BACKOFF_BASE": "0.01",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        # A file, not a pipe: a pipe nobody reads would stall the worker once its buffer is full.
        log = open(self.tmp / f"worker-{self.starts}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", *self.pool, "-Q", self.queue,
             "--loglevel", "info", "--without-gossip", "--without-mingle", "--without-heartbeat", *self.beat],
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

    def wait(self, predicate, timeout: float, what: str, every: float = 0.05):
        """The predicate's first true value; fails with the worker's log after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")
