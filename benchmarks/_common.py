"""Shared set-up for benchmark scripts: a dedicated PostgreSQL database, timers and the RESULT line."""

from __future__ import annotations

import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
_HERE = str(Path(__file__).resolve().parent)
# Run as scripts, this folder comes first on sys.path, where a script named like a standard-library module
# would shadow it (benchmarks/queue.py once did, breaking psycopg): once this module is loaded, the project
# root replaces the folder.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup_django(db_name: str, *, fresh: bool = True) -> str:
    """Point Django at a dedicated benchmark database (created, optionally fresh) and migrate it.

    DATABASE_URL names the PostgreSQL server to use (default 127.0.0.1:5432, user postgres).
    """
    import psycopg

    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        raise SystemExit("benchmarks run on PostgreSQL: set DATABASE_URL=postgres://…")
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{db_name}"')
    url = urlunparse(parsed._replace(path=f"/{db_name}"))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def drop_database(db_name: str) -> None:
    """Drop a benchmark database made by `setup_django` (closing this process's connection to it first)."""
    import psycopg
    from django.db import connections

    connections.close_all()
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    admin_url = urlunparse(urlparse(base)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def load_taxonomy() -> None:
    import json

    from curation.services import taxonomy_load

    taxonomy_load(data=json.loads((ROOT / "fixtures" / "taxonomy.json").read_text(encoding="utf-8")))


@contextmanager
def timer(into: dict, key: str):
    start = time.perf_counter()
    yield
    into[key] = time.perf_counter() - start


def median(values) -> float:
    return statistics.median(values)


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine_speed() -> float:
    """Seconds one core takes for a fixed pure-Python loop (best of three): a shared machine's speed
    changes from minute to minute, and every figure measured on it with it."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def result(**values) -> None:
    """The last line of every benchmark: `RESULT key=value ...`."""
    print("RESULT " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()))
