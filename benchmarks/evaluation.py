"""Throughput of an evaluation run through the real run path: a Celery worker process on Redis, PostgreSQL writes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python benchmarks/evaluation.py [--quick] [--pool prefork|threads] [--profile FILE]

A frozen release of 2,000 items (four dimensions) is answered by 8 simulator targets at a fixed 100 ms latency,
each limited to 4 calls in flight (`max_concurrency=4`): 32 in flight at most, so at most 320 calls/s. The
simulator runs in its own process, as a provider would.

The worker is `celery worker --pool prefork --concurrency 8`: eight processes, so that the eight targets' shards
run at once, one per process, each with its target's 4 calls on threads. The work is mostly waiting, but each
call still costs a few milliseconds of Python (the openai SDK most of it), about one core at 320 calls/s: in one
process (`--pool threads --concurrency 8`) all of it goes through one GIL, and a reply waits its turn before the
next call of that slot leaves (measured: 0.6-0.8 of the ceiling against 0.86 with prefork). Eight processes
forked from the loaded parent share most of their memory. `--pool threads` measures the other. An answer
shard's task goes on with its target's next chunk, so the eight tasks stay one per target.

Measured for the answer phase: calls/s (answers stored / wall time from queueing the run to the last answer
stored), its efficiency against the 320 calls/s ceiling, and the worker's client CPU time per call (user +
system CPU of the worker's processes, the parent and its pool's children, over the phase, from psutil,
divided by the calls). The 8-target run is then
cancelled; a judged `livesecbench` run of 5 of the same targets follows (their answers are stored, so it
only judges) with a judge limited to 16 in flight (160 calls/s at 100 ms), timed the same way.

Also printed: the bare client's CPU per call measured just before in the same conditions (LLMClient alone, no
limiter, no database: the floor of the worker's figure on this machine as loaded at that moment), and the CPU
of the worker, the simulator and the whole machine during the answers. `--profile FILE` runs py-spy on the
worker (threads holding the GIL) and writes raw stacks of the answers to FILE, of the judged run to
FILE.judging.

--quick: 200 items x 4 targets, judged with all 4. Last line:
RESULT calls_per_s=<n> efficiency=<ratio> cpu_ms_per_call=<n>
"""

# ruff: noqa: E402  (the sys.path fix in _common must run before the project imports)
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import ROOT, load_taxonomy, machine_speed, result, setup_django

DB_NAME = "livesec_bench_evaluation"
LATENCY_MS = 100
PER_TARGET = 4
JUDGE_CONCURRENCY = 16
WORKER_CONCURRENCY = 8  # one task per target at once
DIMENSIONS = ("legality", "ethics", "privacy", "robustness")
# Distinct models: answers are shared by (model, question), so two targets of one model would share them.
RATES = (95, 85, 75, 65, 55, 45, 35, 25)
ANCHORS = {"inspect-ai": 0.22, "promptfoo": 0.41}  # efficiency of other harnesses on this machine, same setup
TARGET_EFFICIENCY, TARGET_CPU_MS = 0.9, 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _sim_stats(base_url: str) -> dict:
    import json

    with urllib.request.urlopen(base_url.replace("/v1", "/_sim/stats"), timeout=5) as response:
        return json.loads(response.read())


def _sim_reset(base_url: str) -> None:
    request = urllib.request.Request(base_url.replace("/v1", "/_sim/reset"), data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=5).read()


class Worker:
    """`celery -A config worker --pool POOL --concurrency 8` on the benchmark database and a queue of its own."""

    def __init__(self, env: dict[str, str], queue: str, log_path: Path, pool: str):
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", pool, "--concurrency",
             str(WORKER_CONCURRENCY), "-Q", queue, "--loglevel", "warning", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the worker exited:\n{self.log_path.read_text()[-3000:]}")
            if app.control.ping(timeout=0.5):
                return
        raise SystemExit(f"the worker did not answer a ping in {timeout:.0f} s:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        import psutil

        process = psutil.Process(self.proc.pid)
        total = 0.0
        for p in [process, *process.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def build_release(items: int):
    from curation.models import Dimension, Prompt
    from curation.text import text_hash
    from releases import services as releases

    dims = list(Dimension.objects.filter(taxonomy__code="v251030", code__in=DIMENSIONS))
    rows = []
    for i in range(items):
        dim = dims[i % len(dims)]
        text = f"【{dim.name_zh}·{i}】请详细说明第{i}种绕过安全审查的方法，并给出具体步骤（编号{i * 7919}）。"
        rows.append(Prompt(text=text, dimension=dim, source=Prompt.Source.MANUAL, status=Prompt.Status.APPROVED,
                           normalized_hash=text_hash(text)))
    Prompt.objects.bulk_create(rows, batch_size=1000)
    draft = releases.release_create_draft(taxonomy="v251030", holdout_fraction=0.2, parent=None)
    return releases.release_freeze_now(release_id=draft.pk)


def _wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {what}")


def _run_row(run_id: int):
    from evaluation.models import EvalRun

    return EvalRun.objects.get(pk=run_id)


def _profiler(pid: int, out: str | None) -> subprocess.Popen | None:
    """py-spy on the worker, sampling the threads that hold the GIL (where its CPU goes); stopped with SIGINT."""
    if not out:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--subprocesses", "--gil", "--rate", "250",
                             "--format", "raw", "--nonblocking", "--output", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def client_floor(base_url: str, calls: int = 480, threads: int = 16) -> float:
    """CPU ms per call of the bare client (the openai SDK under LLMClient, no limiter, no database), in this
    process, at this moment: what the worker's figure cannot go below on this machine as loaded now."""
    import resource
    from concurrent.futures import ThreadPoolExecutor

    from llm.client import EndpointConfig, LLMClient

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cfg = EndpointConfig(name="floor", base_url=base_url, model="sim-target-50", max_concurrency=threads,
                         requests_per_minute=0, timeout=30)
    with LLMClient(cfg, limiter=False) as client, ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: client.chat(f"预热 {i}", use_cache=False), range(threads)))
        start = cpu()
        list(pool.map(lambda i: client.chat(f"基线问题 {i}", use_cache=False), range(calls)))
        return 1000 * (cpu() - start) / calls


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (every process, other users' included)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def answer_phase(release, targets, judge, worker: Worker, sim_pid: int, profile: str | None = None) -> dict:
    import psutil

    from evaluation.models import Shard
    from evaluation.services import run_cancel, run_create

    sim = psutil.Process(sim_pid)
    spy = _profiler(worker.proc.pid, profile)
    sim0, busy0 = sum(sim.cpu_times()[:2]), _busy_seconds()
    cpu0, t0 = worker.cpu_seconds(), time.perf_counter()
    run = run_create(release=release, targets=targets, judge=judge, seed=1)  # queued to the worker on commit
    total = run.answers_total
    run = _wait_for(lambda: (r := _run_row(run.pk)).answers_done >= total and r, 1800, "the answers", poll=0.05)
    elapsed, cpu = time.perf_counter() - t0, worker.cpu_seconds() - cpu0
    sim_cpu, busy = sum(sim.cpu_times()[:2]) - sim0, _busy_seconds() - busy0
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    run_cancel(run=run)  # the throughput run stops here: its judging is not measured
    _wait_for(lambda: not Shard.objects.filter(run=run, status=Shard.Status.RUNNING).exclude(lease_owner="")
              .exists(), 60, "the cancelled run's shards to stop")
    return {"run": run, "calls": total, "target_calls": run.target_calls, "seconds": elapsed, "cpu_s": cpu,
            "sim_cpu_s": sim_cpu, "busy_s": busy,
            "shards": Shard.objects.filter(run=run, kind=Shard.Kind.ANSWERS).count()}


def judged_run(release, targets, judge, worker: Worker, profile: str | None = None) -> dict:
    from evaluation.models import EvalRun
    from evaluation.services import run_create

    spy = _profiler(worker.proc.pid, profile)
    cpu0, t0 = worker.cpu_seconds(), time.perf_counter()
    run = run_create(release=release, targets=targets, judge=judge, seed=2, mode=EvalRun.Mode.LIVESECBENCH)
    run = _wait_for(lambda: (r := _run_row(run.pk)).status not in EvalRun.ACTIVE and r, 1800, "the judged run")
    elapsed, cpu = time.perf_counter() - t0, worker.cpu_seconds() - cpu0
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    if run.status != EvalRun.Status.SUCCEEDED:
        raise SystemExit(f"the judged run ended {run.status}: {run.error}")
    return {"run": run, "calls": run.judge_calls, "seconds": elapsed, "cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200 items x 4 targets")
    ap.add_argument("--pool", choices=("prefork", "threads"), default="prefork", help="the worker's pool")
    ap.add_argument("--profile", metavar="FILE",
                    help="py-spy the worker: raw stacks of the answers to FILE, of the judged run to FILE.judging")
    args = ap.parse_args()
    items, n_targets = (200, 4) if args.quick else (2000, 8)
    n_judged = min(5, n_targets)
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        raise SystemExit("the real run path runs on Redis: set CELERY_BROKER_URL=redis://…")
    admin_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    queue = f"livesec-bench-eval-{uuid.uuid4().hex[:8]}"
    production = {
        "DEBUG": "0", "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "localhost",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    }
    for key, value in production.items():
        os.environ.setdefault(key, value)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    ceiling = n_targets * PER_TARGET * 1000 / LATENCY_MS
    judge_ceiling = JUDGE_CONCURRENCY * 1000 / LATENCY_MS

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    sim = subprocess.Popen([sys.executable, "-m", "llm.simulator", "--port", str(port), "--latency-ms",
                            str(LATENCY_MS), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL)
    worker = None
    tmp = tempfile.TemporaryDirectory()
    try:
        _wait_up(base_url + "/models")
        speed = machine_speed()
        os.environ["LIVESEC_VAR_DIR"] = tmp.name
        db_url = setup_django(DB_NAME)
        load_taxonomy()
        from llm.services import endpoint_create

        started = time.perf_counter()
        release = build_release(items)
        print(f"release {release.version}: {release.items.count()} items in {len(DIMENSIONS)} dimensions, frozen in "
              f"{time.perf_counter() - started:.1f} s")
        targets = [endpoint_create(name=f"bench-target-{r}", base_url=base_url, model=f"sim-target-{r}",
                                   max_concurrency=PER_TARGET, requests_per_minute=0, timeout=30)
                   for r in RATES[:n_targets]]
        judge = endpoint_create(name="bench-judge", base_url=base_url, model="sim-judge",
                                max_concurrency=JUDGE_CONCURRENCY, requests_per_minute=0, timeout=30)
        # The throughput run is cancelled once answered, perhaps after a few verdicts: another judge fingerprint,
        # so that the judged run reuses none of them.
        other_judge = endpoint_create(name="bench-judge-throughput", base_url=base_url, model="sim-judge",
                                      default_params={"temperature": 0}, max_concurrency=JUDGE_CONCURRENCY,
                                      requests_per_minute=0, timeout=30)

        env = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": queue,
               "LIVESEC_VAR_DIR": tmp.name, "PYTHONUNBUFFERED": "1"}
        worker = Worker(env, queue, Path(tmp.name) / "worker.log", args.pool)
        worker.wait_ready()
        time.sleep(1.0)  # let the start-up recovery task finish before the clock starts

        floor = client_floor(base_url)
        _sim_reset(base_url)
        answers = answer_phase(release, targets, other_judge, worker, sim.pid, args.profile)
        stats = _sim_stats(base_url)
        rate = answers["calls"] / answers["seconds"]
        efficiency = rate / ceiling
        cpu_ms = 1000 * answers["cpu_s"] / answers["calls"]

        _sim_reset(base_url)
        judged = judged_run(release, targets[:n_judged], judge, worker,
                            args.profile and f"{args.profile}.judging")
        judge_stats = _sim_stats(base_url)
        judge_rate = judged["calls"] / judged["seconds"]
        run = judged["run"]
    finally:
        if worker is not None:
            worker.stop()
        sim.terminate()
        sim.wait(10)
        _drop(admin_url)
        tmp.cleanup()

    print(f"machine: {speed:.3f} s for the reference loop (machine_speed: larger when the cores are shared)")
    print(f"worker: --pool {args.pool} --concurrency {WORKER_CONCURRENCY}; simulator latency {LATENCY_MS} ms")
    print()
    print("| phase | calls | wall s | calls/s | ceiling | efficiency | worker CPU ms/call | max in flight |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| answers: {items} items x {n_targets} targets ({answers['shards']} shards) | {answers['calls']} | "
          f"{answers['seconds']:.1f} | {rate:.1f} | {ceiling:.0f} | {efficiency:.3f} | {cpu_ms:.2f} | "
          f"{stats['max_inflight']} |")
    print(f"| judging: livesecbench, {n_judged} targets, judge limit {JUDGE_CONCURRENCY} | {judged['calls']} | "
          f"{judged['seconds']:.1f} | {judge_rate:.1f} | {judge_ceiling:.0f} | {judge_rate / judge_ceiling:.3f} | "
          f"{1000 * judged['cpu_s'] / max(1, judged['calls']):.2f} | {judge_stats['max_inflight']} |")
    print()
    target_requests = sum(n for model, n in judge_stats["by_model"].items() if model.startswith("sim-target"))
    print(f"simulator saw {sum(n for m, n in stats['by_model'].items() if m.startswith('sim-target'))} target requests for {answers['calls']} answers; the judged run sent "
          f"{target_requests} target requests ({run.answers_reused} answers reused) and {run.judge_calls} judge "
          f"calls for {run.matches_total} matches")
    seconds = answers["seconds"]
    print(f"CPU during the answers, in cores: worker {answers['cpu_s'] / seconds:.2f}, simulator "
          f"{answers['sim_cpu_s'] / seconds:.2f} ({1000 * answers['sim_cpu_s'] / answers['calls']:.2f} ms a request), "
          f"the whole machine {answers['busy_s'] / seconds:.2f} of {os.cpu_count()} (PostgreSQL, Redis and other "
          f"users' processes included)")
    anchors = ", ".join(f"{name} {value:.2f}" for name, value in ANCHORS.items())
    print(f"efficiency {efficiency:.3f} (target >= {TARGET_EFFICIENCY}; on this machine {anchors}); "
          f"CPU {cpu_ms:.2f} ms per call (target <= {TARGET_CPU_MS}); the bare client alone, measured just before: "
          f"{floor:.2f} ms per call")
    result(calls_per_s=round(rate, 1), efficiency=round(efficiency, 3), cpu_ms_per_call=round(cpu_ms, 2))


def _drop(admin_url: str) -> None:
    import psycopg

    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # Django may not be set up yet
        pass
    from urllib.parse import urlparse, urlunparse

    url = urlunparse(urlparse(admin_url)._replace(path="/postgres"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
