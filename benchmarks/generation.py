"""Throughput of the one LLM client against the simulator at a fixed 200 ms latency, max_concurrency 16.

At 200 ms per call, 16 calls in flight can do at most 16 / 0.2 = 80 calls/s: the client's limiter,
retries, cache lookups and call recording must not eat into that. Measures

1. the client alone (LLMClient with the limiter a deployment gets: Redis when REDIS_URL is set, else
   lock files), 16 threads issuing distinct calls;
2. the real generation path: a GenerationRun of sim-generator batches executed by
   `run_execute` (thread pool up to the endpoint's max_concurrency, parsing, dedup, COPY/bulk writes)
   on a throwaway SQLite database (or PostgreSQL with --postgres and DATABASE_URL).

    python benchmarks/generation.py [--quick] [--postgres]

The RESULT line reports the client figure (calls/s and its ratio to 80 calls/s); the run's figure is
printed above it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import result  # noqa: E402
from llm.client import EndpointConfig, LLMClient  # noqa: E402
from llm.ratelimit import Limiter  # noqa: E402

PG_DB_NAME = "ls_generation_bench"
LATENCY_MS = 200
CONCURRENCY = 16
LIMIT = CONCURRENCY * 1000 / LATENCY_MS  # 80 calls/s


def _wait_up(base_url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base_url + "/models", timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def bench_client(base_url: str, calls: int, lock_dir: str) -> float:
    redis_url = os.environ.get("REDIS_URL") or None
    key = f"bench-{uuid.uuid4().hex[:6]}"
    limiter = Limiter(key, CONCURRENCY, None, redis_url=redis_url, lock_dir=None if redis_url else lock_dir)
    cfg = EndpointConfig(name=key, base_url=base_url, model="sim-target-50", max_concurrency=CONCURRENCY,
                         requests_per_minute=0, timeout=30)
    recorded = []
    with LLMClient(cfg, limiter=limiter, recorder=recorded.append) as client:
        # Warm the connection pool so the figure is steady state, not TCP set-up.
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda i: client.chat(f"warm {i}"), range(CONCURRENCY)))
        start = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY * 2) as pool:  # more threads than slots: the limiter decides
            results = list(pool.map(lambda i: client.chat(f"基准测试问题 {i}"), range(calls)))
        elapsed = time.perf_counter() - start
    assert all(r.ok for r in results), {r.outcome for r in results}
    rate = calls / elapsed
    print(f"client ({limiter.backend} limiter): {calls} calls in {elapsed:.2f} s = {rate:.1f} calls/s "
          f"= {rate / LIMIT:.3f} of {LIMIT:.0f}/s; {len(recorded)} calls recorded")
    return rate


def bench_run(base_url: str, batches: int, postgres: bool, var_dir: str) -> float:
    os.environ["LIVESEC_VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    # Production settings: DEBUG would log every SQL statement.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    if postgres:
        from benchmarks._common import setup_django

        setup_django(PG_DB_NAME)
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{var_dir}/bench.sqlite3"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    from benchmarks._common import load_taxonomy

    load_taxonomy()
    from curation import dedup_service
    from curation.models import Dimension
    from generation import services as gen
    from llm.services import endpoint_create

    dedup_service.pool_index()  # one-off per worker process (imports, index load): not part of the rate
    endpoint = endpoint_create(name="bench-gen", base_url=base_url, model="sim-generator",
                               max_concurrency=CONCURRENCY, requests_per_minute=0, timeout=30)
    dim = Dimension.objects.get(taxonomy__code="v251030", code="legality")
    run = gen.run_create(count=batches * 5, batch_size=5, endpoint=endpoint, dimension=dim, enqueue=False)
    start = time.perf_counter()
    run = gen.run_execute(run_id=run.pk)
    elapsed = time.perf_counter() - start
    calls = run.batches_total
    rate = calls / elapsed
    print(f"generation run ({'PostgreSQL' if postgres else 'SQLite'}): {calls} batches, {run.candidates_created} "
          f"candidates, status {run.status}, in {elapsed:.2f} s = {rate:.1f} calls/s = {rate / LIMIT:.3f} of "
          f"{LIMIT:.0f}/s (includes parsing, dedup and writes)")
    if postgres:
        from benchmarks._common import drop_database

        drop_database(PG_DB_NAME)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--postgres", action="store_true", help="run the generation path on PostgreSQL (DATABASE_URL)")
    args = ap.parse_args()
    calls = 320 if args.quick else 1600
    batches = 80 if args.quick else 400
    # The simulator runs in its own process, as a provider would: in-process it would compete for the GIL.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "llm.simulator", "--port", str(port), "--latency-ms",
                               str(LATENCY_MS), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    _wait_up(base_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"simulator latency {LATENCY_MS} ms, max_concurrency {CONCURRENCY}: ceiling {LIMIT:.0f} calls/s")
            client_rate = bench_client(base_url, calls, os.path.join(tmp, "locks"))
            stats = json.loads(urllib.request.urlopen(base_url.replace("/v1", "/_sim/stats"), timeout=5).read())
            print(f"simulator saw at most {stats['max_inflight']} requests in flight")
            bench_run(base_url, batches, args.postgres, tmp)
    finally:
        server.terminate()
        server.wait(10)
    result(calls_per_s=round(client_rate, 1), efficiency=round(client_rate / LIMIT, 3))


if __name__ == "__main__":
    main()
