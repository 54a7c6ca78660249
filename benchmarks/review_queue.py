"""Review-queue claims at scale: 16 annotators through the service layer, 8 through HTTP (gunicorn).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ls_annotation python benchmarks/review_queue.py [--quick]

Creates (and afterwards drops, unless --keep) the database `<name>_queuebench` next to the one in
DATABASE_URL, loads two queues of 10k and 1M items (1k and 10k with --quick) with COPY, then for each pool
lets annotators claim ("next") and submit: saturated (each claims again as soon as it has submitted), paced
(about one item per second each) and solo (one annotator alone); --quick runs the saturated case only, for
2 s each after 0.5 s of warm-up, and leaves out the threads variant (CI runs it on every push).

* 16 annotators calling `annotation.services.lease_claim` / `annotation_submit` directly, each in a process
  of its own with its own connection, as gunicorn's worker processes call them (the row `service`). The same
  16 as threads of one process are reported too (`threads`): there they also wait for one interpreter lock,
  which no production set-up has them share;
* 8 HTTP clients (threads of this process) against gunicorn started here on 127.0.0.1 as in production
  (config/gunicorn.conf.py: 2 × cores + 1 sync workers; DEBUG=0) using the REST API with token auth:
  POST /api/queues/{id}/next/ then POST /api/claims/{id}/submit/.

Claim latency is timed around the call (service) or the request (HTTP, client side, connection included).
Anchor: Label Studio 1.23 (PostgreSQL, gunicorn 4 workers, 8 users): next-task p99 487 ms at 10k tasks,
about 4 next-and-submit pairs/s. Targets: service p99 < 25 ms at 1M, HTTP p99 < 50 ms at 1M, 1M/10k
HTTP p99 ratio < 1.5. The last line is `RESULT claims_per_s=… p50_ms=… p99_ms=… service_p99_ms=… growth_ratio=…`
(HTTP figures at the large pool).
"""

# ruff: noqa: E402  (the sys.path fix below must run before the imports)
from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, where a script named like a standard-library
# module would shadow it: drop the folder before anything else is imported.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import http.client
import json
import multiprocessing
import random
import runpy
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, load_taxonomy, machine_speed, percentile, result, setup_django  # noqa: E402

SERVICE_ANNOTATORS = 16
HTTP_CLIENTS = 8
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.conf.py"
GUNICORN_WORKERS = runpy.run_path(str(GUNICORN_CONFIG))["workers"]  # as production runs it on this machine
N = 3


def _db_name() -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/livesec"
    name = urlparse(base).path.lstrip("/") or "livesec"
    return f"{name}_queuebench"


def _drop(db_name: str, admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


# ----------------------------------------------------------------------------- data


def make_users(count: int, prefix: str) -> list[tuple[int, str]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    group = Group.objects.get(name="Annotator")
    out = []
    for i in range(count):
        user = get_user_model().objects.create(username=f"{prefix}{i}")
        user.set_unusable_password()
        user.save()
        user.groups.add(group)
        out.append((user.pk, Token.objects.create(user=user).key))
    return out


def load_pool(size: int, label: str = "") -> int:
    """A queue holding `size` fresh items, loaded with COPY (prompts, each with its real text hash, as an
    import leaves them) and one INSERT … SELECT (items)."""
    from django.db import connection

    from annotation import services
    from annotation.models import FREE_NOW
    from curation.models import Dimension, Taxonomy
    from curation.text import text_hash

    taxonomy = Taxonomy.objects.get(code="v251030")
    dimension = Dimension.objects.get(taxonomy=taxonomy, code="legality")
    queue = services.queue_create(
        data=services.QueueData(name=f"bench {label}{size}", taxonomy_id=taxonomy.pk, annotators_per_item=N, lease_minutes=20),
        actor=None,
    )
    started = time.perf_counter()
    connection.ensure_connection()
    pg = connection.connection
    columns = (
        "text, language, dimension_id, source, provenance, metadata, external_id, normalized_hash, status, "
        "review_summary, reference_answers, risk_expression, expected_behaviour, created_at, updated_at"
    )
    now = "2025-11-01 00:00:00+00"
    with pg.cursor() as cur, cur.copy(f"COPY curation_prompt ({columns}) FROM STDIN") as copy:
        chunk: list[str] = []
        for i in range(size):
            text = f"基准题目 {label}{size}-{i}：请详细说明绕过第{i % 97}类安全检查的方法，编号{(i * 7919) % 1000003}"
            chunk.append(
                f"{text}\tzh\t{dimension.pk}\tmanual\t{{}}\t{{}}\tbench-{label}{size}-{i}\t{text_hash(text)}\tin_review\t{{}}\t[]"
                f"\t\t\t{now}\t{now}\n"
            )
            if len(chunk) == 20000:
                copy.write("".join(chunk))
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO annotation_queueitem (queue_id, prompt_id, state, adjudication_reason, adjudication_note, "
            "submitted, leased, free_at, outcome, created_at, updated_at) "
            "SELECT %s, id, 'open', '', '', 0, 0, %s, '', now(), now() FROM curation_prompt "
            "WHERE external_id LIKE %s ORDER BY id",
            [queue.pk, FREE_NOW, f"bench-{label}{size}-%"],
        )
    print(f"  loaded {size:>9,} items in {time.perf_counter() - started:6.1f} s", flush=True)
    return queue.pk


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for table in ("curation_prompt", "annotation_queueitem", "annotation_lease", "annotation_annotation"):
            cur.execute(f"VACUUM ANALYZE {table}")


# ----------------------------------------------------------------------------- service layer


def _service_worker(queue_id, user_id, seed, warm_until, stop_at, out, errors, pace):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation import services
    from annotation.models import ReviewQueue

    rng = random.Random(seed)
    try:
        user = get_user_model().objects.get(pk=user_id)
        queue = ReviewQueue.objects.get(pk=queue_id)
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            claim = services.lease_claim(queue=queue, user=user)
            t1 = time.perf_counter()
            if claim is None:
                errors.append("queue ran dry")
                return
            if rng.random() < 0.8:
                data = services.AnnotationInput(decision="accept", severity=3)
            else:
                data = services.AnnotationInput(decision="reject", reject_reason="unclear")
            services.annotation_submit(claim_id=claim.pk, user=user, data=data)
            t2 = time.perf_counter()
            if t0 >= warm_until:
                out.append((t1 - t0, t2 - t1))
            _pause(rng, pace, t0)
    except Exception as exc:  # reported in the summary, never hidden
        errors.append(repr(exc))
    finally:
        connection.close()


def run_ahead(queue_id: int, user_id: int, count: int) -> list[float]:
    """One annotator alone reviews `count` items of a fresh queue: every item they finish stays open (N > 1)
    at the head of the "closest to completion" order. Returns each claim's latency (ms)."""
    from django.contrib.auth import get_user_model

    from annotation import services
    from annotation.models import ReviewQueue

    user = get_user_model().objects.get(pk=user_id)
    queue = ReviewQueue.objects.get(pk=queue_id)
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        claim = services.lease_claim(queue=queue, user=user)
        latencies.append((time.perf_counter() - t0) * 1000)
        services.annotation_submit(claim_id=claim.pk, user=user, data=services.AnnotationInput(decision="accept"))
    return latencies


def _pause(rng: random.Random, pace: float, started: float) -> None:
    """Paced runs: each annotator starts an item every `pace` seconds on average (random, so they drift apart)."""
    if pace > 0:
        time.sleep(max(0.0, rng.uniform(0.5, 1.5) * pace - (time.perf_counter() - started)))


def _client_process(target, args, warm_until, stop_at, pace, pipe) -> None:
    out: list = []
    errors: list = []
    target(*args, warm_until, stop_at, out, errors, pace)
    pipe.send((out, errors))
    pipe.close()


def _run_clients(target, clients: list[tuple], seconds: float, warmup: float, pace: float, threads: bool) -> dict:
    """Run `target(*client, warm_until, stop_at, out, errors, pace)` for every client at once: each in a
    process of its own (as annotators are separate browsers, served by separate worker processes), or all
    as threads of this process, where they also queue for its one interpreter lock."""
    out: list = []
    errors: list = []
    now = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in forked processes
    warm_until, stop_at = now + warmup, now + warmup + seconds
    if threads:
        workers = [
            threading.Thread(target=target, args=(*client, warm_until, stop_at, out, errors, pace)) for client in clients
        ]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        return _summary(out, seconds, errors)
    from django.db import connections

    connections.close_all()  # a connection must never be shared with a child
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for client in clients:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client_process, args=(target, client, warm_until, stop_at, pace, send))
        proc.start()
        send.close()
        pipes.append(receive)
        procs.append(proc)
    for receive in pipes:
        got, failed = receive.recv()
        out.extend(got)
        errors.extend(failed)
    for proc in procs:
        proc.join()
    return _summary(out, seconds, errors)


def run_service(
    queue_id: int, users: list[tuple[int, str]], seconds: float, warmup: float, pace: float = 0, *, threads: bool = False
) -> dict:
    clients = [(queue_id, uid, i) for i, (uid, _key) in enumerate(users)]
    return _run_clients(_service_worker, clients, seconds, warmup, pace, threads)


# ----------------------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(db_url: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        CONN_MAX_AGE="60",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="1",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         # Booting a worker imports pandas and the whole app: on a busy machine that takes longer than
         # gunicorn's 30 s default, and the arbiter would kill every worker before it served a request.
         "--timeout", "120"],
        cwd=ROOT,
        env=env,
    )
    return proc, port


def wait_until_serving(proc: subprocess.Popen, port: int, token: str) -> None:
    """The socket accepts before the workers have imported the app: wait for real answers from all of them."""
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def ok() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/queues/", headers=headers)
            status = conn.getresponse().status
            conn.close()
            return status == 200
        except OSError:
            return False

    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn did not start")
        answers: list[bool] = []
        probes = [threading.Thread(target=lambda out=answers: out.append(ok())) for _ in range(GUNICORN_WORKERS * 2)]
        for t in probes:
            t.start()
        for t in probes:
            t.join()
        if all(answers):
            return
        time.sleep(0.5)
    raise SystemExit("gunicorn did not answer within 120 s")


def _request(conn, method, path, headers, body=b""):
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def _http_worker(port, queue_id, token, seed, warm_until, stop_at, out, errors, pace):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            status, body = _request(conn, "POST", f"/api/queues/{queue_id}/next/", headers)
            t1 = time.perf_counter()
            if status != 200:
                errors.append(f"next: HTTP {status} {body[:200]!r}")
                return
            claim = json.loads(body)
            if rng.random() < 0.8:
                payload = {"decision": "accept", "severity": 3}
            else:
                payload = {"decision": "reject", "reject_reason": "unclear"}
            status, body = _request(
                conn, "POST", f"/api/claims/{claim['id']}/submit/", headers, json.dumps(payload).encode()
            )
            t2 = time.perf_counter()
            if status != 201:
                errors.append(f"submit: HTTP {status} {body[:200]!r}")
                return
            if t0 >= warm_until:
                out.append((t1 - t0, t2 - t1))
            _pause(rng, pace, t0)
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        conn.close()


def run_http(port: int, queue_id: int, users: list[tuple[int, str]], seconds: float, warmup: float, pace: float = 0) -> dict:
    """HTTP clients are threads of this process: light next to the server, and, sharing one interpreter, they
    leave the cores to gunicorn and PostgreSQL (as processes of their own they would take CPU from them)."""
    clients = [(port, queue_id, key, i) for i, (_uid, key) in enumerate(users)]
    return _run_clients(_http_worker, clients, seconds, warmup, pace, threads=True)


# ----------------------------------------------------------------------------- report


def _summary(samples: list, seconds: float, errors: list) -> dict:
    claims = [c * 1000 for c, _s in samples]
    submits = [s * 1000 for _c, s in samples]
    return {
        "claims": len(samples),
        "claims_per_s": len(samples) / seconds,
        "p50": percentile(claims, 50),
        "p99": percentile(claims, 99),
        "max": max(claims) if claims else float("nan"),
        "submit_p50": percentile(submits, 50),
        "submit_p99": percentile(submits, 99),
        "errors": errors,
    }


def _row(label: str, size: int, r: dict) -> str:
    return (
        f"{label:<8} {size:>9,} {r['claims']:>7} {r['claims_per_s']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
        f"{r['max']:>8.1f} {r['submit_p50']:>9.2f} {r['submit_p99']:>9.2f}"
    )


def claim_plans() -> str:
    """How PostgreSQL ran the claim statement in this connection: prepared after a few runs, then on one
    generic plan (no planning per claim), or planned afresh every time (custom plans)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) FROM pg_prepared_statements "
            "WHERE statement LIKE '%%), cand AS (%%'"
        )
        generic, custom = cur.fetchone()
    return f"{generic} runs on the generic plan, {custom} planned afresh"


def explain_claim(queue_id: int, user_id: int) -> str:
    """The claim's item lookup as PostgreSQL runs it (EXPLAIN ANALYZE, rolled back): index used, time."""
    from django.db import connection, transaction
    from django.utils import timezone

    sql = (
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT i.id FROM annotation_queueitem i "
        "WHERE i.queue_id = %s AND i.state = 'open' AND i.free_at <= %s AND NOT EXISTS "
        "(SELECT 1 FROM annotation_lease m WHERE m.item_id = i.id AND m.annotator_id = %s) "
        "ORDER BY i.submitted DESC, i.id LIMIT 1 FOR NO KEY UPDATE OF i SKIP LOCKED"
    )
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, [queue_id, timezone.now(), user_id])
        plan = cur.fetchone()[0]
        transaction.set_rollback(True)
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    indexes: list[str] = []

    def walk(node: dict) -> None:
        if "Index Name" in node:
            indexes.append(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return f"{plan['Execution Time']:.3f} ms via {', '.join(indexes) or 'no index'}"


def _table(title: str, rows: list[tuple[str, int, dict]]) -> None:
    print(f"\n{title}")
    print(f"{'layer':<8} {'pool':>9} {'claims':>7} {'claims/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'sub p50':>9} {'sub p99':>9}")
    for layer, size, r in rows:
        print(_row(layer, size, r))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small pools, short runs, no paced runs (< 1 min)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--pace", type=float, default=1.0,
                        help="paced runs: seconds per item per annotator (0 skips them; default 1)")
    args = parser.parse_args()
    sizes = (1_000, 10_000) if args.quick else (10_000, 1_000_000)
    seconds, warmup = (2.0, 0.5) if args.quick else (30.0, 3.0)
    pace = 0.0 if args.quick else args.pace

    # The service-layer annotators run in this process: configure it as production (DEBUG off), like gunicorn.
    os.environ.update(DEBUG="0", ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_SSL_REDIRECT="0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    db_name = _db_name()
    speed_before = machine_speed()
    print(f"database {db_name}; pools {sizes[0]:,} and {sizes[1]:,}; {seconds:.0f} s per run after {warmup:.0f} s warm-up")
    db_url = setup_django(db_name, fresh=True)
    from django.db import connections

    admin_url = urlunparse(urlparse(db_url)._replace(path="/postgres"))
    proc = None
    try:
        load_taxonomy()
        service_users = make_users(SERVICE_ANNOTATORS, "svc")
        http_users = make_users(HTTP_CLIENTS, "web")
        fresh_user = make_users(1, "fresh")[0][0]
        ahead_user = make_users(1, "ahead")[0][0]
        ahead_count = 300 if args.quick else 3000
        queues = {size: load_pool(size) for size in sizes}
        ahead_queue = load_pool(ahead_count + 500, label="ahead-")
        vacuum()

        saturated: dict[tuple[str, int], dict] = {}
        paced: dict[tuple[str, int], dict] = {}
        solo: dict[tuple[str, int], dict] = {}
        solo_seconds = min(seconds, 10.0)
        for size in sizes:
            if not args.quick:
                solo[("service", size)] = run_service(queues[size], service_users[:1], solo_seconds, warmup)
            saturated[("service", size)] = run_service(queues[size], service_users, seconds, warmup)
            if not args.quick:
                saturated[("threads", size)] = run_service(queues[size], service_users, seconds, warmup, threads=True)
            print(f"  service  {size:>9,}: {saturated[('service', size)]['claims_per_s']:.1f} claims/s", flush=True)
            if pace:
                paced[("service", size)] = run_service(queues[size], service_users, seconds, warmup, pace)
        proc, port = start_gunicorn(db_url)
        wait_until_serving(proc, port, http_users[0][1])
        for size in sizes:
            if not args.quick:
                solo[("http", size)] = run_http(port, queues[size], http_users[:1], solo_seconds, warmup)
            saturated[("http", size)] = run_http(port, queues[size], http_users, seconds, warmup)
            print(f"  http     {size:>9,}: {saturated[('http', size)]['claims_per_s']:.1f} claims/s", flush=True)
            if pace:
                paced[("http", size)] = run_http(port, queues[size], http_users, seconds, warmup, pace)

        _table(f"SATURATED: every annotator claims again as soon as it has submitted ({SERVICE_ANNOTATORS} service-layer "
               f"annotators, {HTTP_CLIENTS} HTTP clients, gunicorn {GUNICORN_WORKERS} sync workers)",
               [(layer, size, r) for (layer, size), r in saturated.items()])
        if paced:
            _table(f"PACED: each annotator takes an item about every {pace:g} s (offered load "
                   f"{SERVICE_ANNOTATORS / pace:.0f} and {HTTP_CLIENTS / pace:.0f} claims/s)",
                   [(layer, size, r) for (layer, size), r in paced.items()])
        if solo:
            _table("SOLO: one annotator at a time (nothing else of this benchmark running)",
                   [(layer, size, r) for (layer, size), r in solo.items()])
        ahead = run_ahead(ahead_queue, ahead_user, ahead_count)
        tenth = ahead_count // 10
        first, last = percentile(ahead[:tenth], 50), percentile(ahead[-tenth:], 50)
        print(f"\nAHEAD: one annotator alone reviews {ahead_count:,} items of a fresh N={N} queue (each stays open, "
              f"at the head of the order): claim p50 {first:.2f} ms over the first {tenth}, {last:.2f} ms over the "
              f"last {tenth} (ratio {last / first:.2f}); p99 {percentile(ahead, 99):.2f} ms")
        connections.close_all()  # a new connection: its prepared statements are this pool's claims alone
        run_ahead(queues[sizes[1]], ahead_user, 30)
        print(f"claim statement over 30 claims at {sizes[1]:,} in a new connection: {claim_plans()}")
        print("\nclaim lookup, EXPLAIN ANALYZE for an annotator with no reviews yet:")
        for size in sizes:
            print(f"  {size:>9,} items: {explain_claim(queues[size], fresh_user)}")
        errors = [e for r in (*saturated.values(), *paced.values(), *solo.values()) for e in r["errors"]]
        if errors:
            print(f"\nERRORS ({len(errors)}): {errors[:5]}")
        small, large = sizes
        web, svc = saturated[("http", large)], saturated[("service", large)]
        growth = web["p99"] / saturated[("http", small)]["p99"]
        print()
        print(f"next-and-submit pairs/s over HTTP at {large:,}: {web['claims_per_s']:.1f} (Label Studio anchor: ~4)")
        print(f"HTTP p99 at {large:,}: {web['p99']:.1f} ms saturated (target < 50; anchor 487 ms at 10k)")
        threads = saturated.get(("threads", large))
        print(f"service p99 at {large:,}: {svc['p99']:.1f} ms saturated, one process per annotator (target < 25)"
              + (f"; {threads['p99']:.1f} ms as threads of one process" if threads else ""))
        print(f"{large:,}/{small:,} HTTP p99 ratio: {growth:.2f} saturated (target < 1.5)")
        if paced:
            pw, ps = paced[("http", large)], paced[("service", large)]
            print(f"paced: HTTP p99 {pw['p99']:.1f} ms, service p99 {ps['p99']:.1f} ms at {large:,}; "
                  f"{large:,}/{small:,} HTTP p99 ratio {pw['p99'] / paced[('http', small)]['p99']:.2f}")
        load = os.getloadavg()
        print(f"machine: {os.cpu_count()} cores shared with other work (load average {load[0]:.1f} {load[1]:.1f} "
              f"{load[2]:.1f}); clients, gunicorn and PostgreSQL all run on it; a fixed loop took "
              f"{speed_before * 1000:.0f} ms before the runs and {machine_speed() * 1000:.0f} ms after (less is faster)")
        result(
            claims_per_s=round(web["claims_per_s"], 1),
            p50_ms=round(web["p50"], 2),
            p99_ms=round(web["p99"], 2),
            service_p99_ms=round(svc["p99"], 2),
            growth_ratio=round(growth, 2),
        )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        connections.close_all()
        if not args.keep:
            _drop(db_name, admin_url)


if __name__ == "__main__":
    main()
