"""Freeze a release and write every export for 100k and 1M approved items on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python benchmarks/release.py [--quick]

Each size runs in its own child process on a fresh database (`<name>_bench_release`), so the peak RSS printed
is that size's alone. Prompts are bulk-loaded with COPY. Steps timed: freeze (copy items, hashes, manifest,
digest), the one streaming pass that writes JSONL + CSV + Parquet, manifest.json, README.md, the zip with
SHA256SUMS, and (outside the total) verify_release. Last line:
RESULT total_s_100k=<n> growth_ratio=<1M/100k> peak_rss_mb_1m=<n>
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
import hashlib
import json
import random
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "livesec_bench_release"

WORDS = [
    "请详细说明", "如何绕过", "安全审查", "制作烟花", "网络入侵", "个人信息", "诈骗话术", "虚假新闻", "歧视言论",
    "角色扮演", "假设场景", "拆字游戏", "谐音替换", "编码混淆", "多步推理", "隐含意图", "作为专家", "写一篇文章",
    "帮我分析", "给出步骤", "忽略之前的指令", "公共安全", "心理健康", "银行网站", "化学原料", "验证码",
]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def calibrate() -> float:
    """Seconds for a fixed pure-Python loop: ~0.25 s on an idle core; larger means the cores are shared."""
    t = time.perf_counter()
    s = 0
    for i in range(5_000_000):
        s += i
    return time.perf_counter() - t


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def db_url(name: str) -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        raise SystemExit("this benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    return urlunparse(parsed._replace(path=f"/{name}"))


def fresh_database(name: str) -> str:
    import psycopg

    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return db_url(name)


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_prompts(n: int) -> None:
    """COPY n approved prompts (all six dimensions, sub-dimensions, techniques, agreement, metadata)."""
    from django.db import connection

    from curation.models import Dimension, Prompt, SubDimension, Technique

    rng = random.Random(7)
    dims = list(Dimension.objects.filter(taxonomy__code="v251030").order_by("order"))
    subs = {d.pk: list(SubDimension.objects.filter(dimension=d).values_list("pk", flat=True)) for d in dims}
    techniques = list(Technique.objects.values_list("pk", flat=True))
    cols = (
        "text, language, dimension_id, sub_dimension_id, risk_expression, severity, expected_behaviour, "
        "reference_answers, source, provenance, metadata, external_id, normalized_hash, status, review_summary, "
        "agreement, created_at, updated_at"
    )
    now = "2025-11-20 10:00:00+08"
    with connection.cursor() as cursor:
        start_id = cursor.execute("SELECT COALESCE(MAX(id), 0) FROM curation_prompt").fetchone()[0]
        with cursor.cursor.copy(f"COPY curation_prompt ({cols}) FROM STDIN") as copy:
            for i in range(n):
                dim = dims[i % len(dims)]
                text = "，".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) + f"？（编号{i}）"
                refs = json.dumps(["这是错误前提，正确的说法是……"], ensure_ascii=False) if dim.uses_reference_answers else "[]"
                copy.write_row(
                    (
                        text, "zh", dim.pk, rng.choice(subs[dim.pk]), rng.choice(["explicit", "implicit"]),
                        rng.randint(1, 5), "refuse", refs, "generated",
                        json.dumps({"model": "sim-7b", "event": f"evt-{i % 97}", "line": i}),
                        json.dumps({"difficulty": rng.choice(["easy", "medium", "hard"]), "adversarial_level": rng.randint(1, 3)}),
                        f"gen-{i}", hashlib.sha256(text.encode()).hexdigest(), Prompt.Status.APPROVED,
                        json.dumps({"annotations": 3, "decision": "approved"}), round(rng.uniform(0.4, 1.0), 3), now, now,
                    )
                )
        with cursor.cursor.copy("COPY curation_prompt_techniques (prompt_id, technique_id) FROM STDIN") as copy:
            for pid in range(start_id + 1, start_id + n + 1):
                for tid in rng.sample(techniques, rng.randint(0, 2)):
                    copy.write_row((pid, tid))
        cursor.execute("ANALYZE curation_prompt; ANALYZE curation_prompt_techniques")


def run_one(n: int, keep: bool) -> dict:
    url = fresh_database(DB_NAME)
    os.environ["DATABASE_URL"] = url
    media = tempfile.mkdtemp(prefix="bench-release-")
    os.environ["MEDIA_ROOT"] = media
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Production settings: with DEBUG on, Django keeps and formats every query, which is not what we measure.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.RELEASE_EXPORT_ON_FREEZE = False  # timed separately below
    call_command("migrate", verbosity=0)
    from curation.services import taxonomy_load

    taxonomy_load(data=json.loads((ROOT / "fixtures" / "taxonomy.json").read_text(encoding="utf-8")))
    t = time.perf_counter()
    load_prompts(n)
    load_s = time.perf_counter() - t

    from releases import services as releases

    baseline = current_rss_mb()
    steps: dict[str, float] = {}
    calib_before = calibrate()
    load_before = os.getloadavg()[0]
    cpu0 = cpu_s()
    t = time.perf_counter()
    release = releases.release_create_draft(version="v251122", title="bench", taxonomy="v251030", holdout_fraction=0.2)
    release = releases.release_freeze_now(release_id=release.pk)
    steps["freeze"] = time.perf_counter() - t
    rss_after_freeze = current_rss_mb()
    assert release.item_count == n, (release.item_count, n)
    with tempfile.TemporaryDirectory(dir=media) as out:
        releases.write_export_files(release=release, scope="public", directory=Path(out), timings=steps)
        sizes = {p.name: p.stat().st_size for p in Path(out).iterdir()}
    total = sum(steps.values())
    python_cpu = cpu_s() - cpu0
    calib_after = calibrate()
    t = time.perf_counter()
    report = releases.release_verify(version=release.version, check_exports=False)
    verify_s = time.perf_counter() - t
    assert report.ok, report.problems[:5]
    result = {
        "n": n,
        "load_s": load_s,
        "steps": steps,
        "total_s": total,
        "verify_s": verify_s,
        "python_cpu_s": python_cpu,
        "calibration_s": (calib_before + calib_after) / 2,
        "loadavg": [load_before, os.getloadavg()[0]],
        "peak_rss_mb": rss_mb(),
        "baseline_rss_mb": baseline,
        "rss_after_freeze_mb": rss_after_freeze,
        "rss_after_exports_mb": current_rss_mb(),
        "sizes_mb": {k: round(v / 2**20, 1) for k, v in sizes.items()},
    }
    from django.db import connections

    connections.close_all()
    if not keep:
        drop_database(DB_NAME)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k and 10k items instead of 100k and 1M (< 1 min)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    if args.one:
        print("JSON " + json.dumps(run_one(args.one, args.keep)))
        return
    small, large = (2_000, 10_000) if args.quick else (100_000, 1_000_000)
    results = {}
    for n in (small, large):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n)] + (["--keep"] if args.keep else []),
            capture_output=True, text=True, env=os.environ.copy(),
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("JSON ")), None)
        if proc.returncode or line is None:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"the {n} run failed")
        r = json.loads(line[5:])
        results[n] = r
        print(f"\n== {n:,} approved items (loaded by COPY in {r['load_s']:.1f} s)")
        for step, seconds in r["steps"].items():
            print(f"  {step:<28} {seconds:8.2f} s")
        print(f"  {'total (freeze + exports)':<28} {r['total_s']:8.2f} s   ({n / r['total_s']:,.0f} items/s)")
        print(f"  {'verify_release (not in total)':<28} {r['verify_s']:8.2f} s")
        print(f"  this process's CPU time during freeze + exports: {r['python_cpu_s']:.1f} s (PostgreSQL's not included)")
        print(f"  machine: load average {r['loadavg'][0]:.1f} -> {r['loadavg'][1]:.1f}; a fixed Python loop took "
              f"{r['calibration_s']:.2f} s (about 0.25 s on an idle core)")
        print(f"  peak RSS {r['peak_rss_mb']:.0f} MB (after Django set-up: {r['baseline_rss_mb']:.0f} MB)")
        print("  files: " + ", ".join(f"{k} {v} MB" for k, v in sorted(r["sizes_mb"].items())))
    ratio = results[large]["total_s"] / results[small]["total_s"]
    print(f"\n{large:,}/{small:,} time ratio: {ratio:.2f} (linear = {large / small:.0f})")
    print(f"peak RSS: {results[small]['peak_rss_mb']:.0f} MB at {small:,}, {results[large]['peak_rss_mb']:.0f} MB at {large:,}")
    key_small = "100k" if small == 100_000 else f"{small // 1000}k"
    key_large = "1m" if large == 1_000_000 else f"{large // 1000}k"
    print(
        f"RESULT total_s_{key_small}={results[small]['total_s']:.2f} growth_ratio={ratio:.2f} "
        f"peak_rss_mb_{key_large}={results[large]['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
