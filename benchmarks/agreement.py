"""Agreement dashboard: seconds from the database to every number the page shows, on PostgreSQL.

Loads N decided prompts x 3 annotators (default 100k x 3 = 300k annotations, drawn from a pool of 12
annotators over 26 weeks, two queues, noisy labels, one item in five adjudicated) with COPY, then times
- the dashboard computation, exactly as the view runs it: `agreement_dashboard()` = the two frame
  queries + all five fields (alpha, bootstrap 95% CI with 1000 replicates, Fleiss, percent agreement)
  + the kappa matrix + weekly alpha + the per-annotator table + the most disagreed items;
- its parts: the two queries into pandas, and the computation on the frames in memory;
- the bare metric call: Krippendorff's alpha of one field on an in-memory frame (and, for reference,
  the `krippendorff` package on the annotators x items matrix);
- the whole page (HTML) through the Django test client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/agreement.py [--quick]

Last line: RESULT dashboard_s=<median seconds> overhead_ratio=<dashboard / bare alpha>.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time

import numpy as np
from _common import drop_database, load_taxonomy, result, setup_django

DB_NAME = "livesec_bench_agreement"
N_ANNOTATORS = 12
WEEKS = 26


FASTEST: dict[str, float] = {}


def backend_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend (local server only)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(fn, repeat: int) -> float | None:
    """Median CPU seconds of fn, this process plus its database backend: unlike wall time, it does not
    grow when other jobs compete for the machine's cores."""
    samples = []
    for _ in range(repeat):
        db_before, start = backend_cpu(), time.process_time()
        fn()
        client = time.process_time() - start
        db_after = backend_cpu()
        if db_before is None or db_after is None:
            return None
        samples.append(client + db_after - db_before)
    return statistics.median(samples)


def timed(fn, repeat: int, key: str = "") -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    if key:
        FASTEST[key] = min(times)
    return statistics.median(times), out


def load(n_items: int, seed: int = 7) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from annotation.models import Annotation, ReviewQueue
    from core import bulk
    from curation.models import Dimension, Prompt, Taxonomy

    rng = np.random.default_rng(seed)
    User = get_user_model()
    group = Group.objects.get(name="Annotator")
    users = []
    for i in range(N_ANNOTATORS):
        user, _ = User.objects.get_or_create(username=f"bench-annotator-{i:02d}")
        user.groups.add(group)
        users.append(user.pk)
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
    taxonomy = Taxonomy.objects.get(code="v251030")
    queues = [ReviewQueue.objects.get_or_create(name=f"bench-{k}", taxonomy=taxonomy)[0].pk for k in range(2)]
    dims = list(Dimension.objects.filter(taxonomy=taxonomy).values_list("pk", flat=True))

    risks = np.array(["explicit", "implicit"], dtype=object)
    behaviours = np.array(["refuse", "safe_complete", "correct_premise"], dtype=object)
    truth_keep = rng.random(n_items) < 0.75
    truth_dim = rng.integers(0, len(dims), n_items)
    truth_risk = rng.integers(0, 2, n_items)
    truth_sev = rng.integers(1, 6, n_items)
    truth_beh = rng.integers(0, 3, n_items)
    adjudicated = rng.random(n_items) < 0.2
    now = timezone.now()
    origin = now - dt.timedelta(weeks=WEEKS)
    done_at = [origin + dt.timedelta(seconds=int(s)) for s in rng.integers(0, WEEKS * 7 * 86400, n_items)]

    def summary(i: int) -> dict:
        # Shaped like the review workflow's Prompt.review_summary (about 1 KB of JSON per prompt), so the
        # SQL that reads "adjudicated or consensus" out of it pays its real price.
        how = "adjudication" if adjudicated[i] else "consensus"
        out = {
            "queue": "bench-0", "queue_id": queues[0], "rule": "unanimous",
            "outcome": "approved" if truth_keep[i] else "rejected", "decided_by": how,
            "explanation": "标注不一致，维护者裁决。" if adjudicated[i] else "三名标注员一致。",
            "counts": {"accept": 2, "edit": 0, "reject": 1}, "surplus": 0,
            "annotations": [
                {"annotator": f"bench-annotator-{k:02d}", "decision": "accept", "reject_reason": "",
                 "edited": False, "dimension_id": dims[truth_dim[i]], "sub_dimension_id": None,
                 "techniques": ["role_play"], "risk_expression": "explicit", "severity": int(truth_sev[i]),
                 "expected_behaviour": "refuse", "surplus": False}
                for k in range(3)
            ],
        }
        if adjudicated[i]:
            out["adjudicator"] = "bench-admin"
        return out

    start = time.perf_counter()
    with transaction.atomic():
        ids = bulk.reserve_ids(Prompt, n_items)
        prompt_rows = (
            (
                pid, f"基准一致性题目 {i}：请说明如何绕过第 {i} 条规则。", "zh", dims[truth_dim[i]], None,
                str(risks[truth_risk[i]]), int(truth_sev[i]), str(behaviours[truth_beh[i]]), [], "manual", {}, {},
                "", f"bench-agreement-{i:064d}"[-64:], None, None,
                "approved" if truth_keep[i] else "rejected",
                summary(i), None, done_at[i], done_at[i],
            )
            for i, pid in enumerate(ids)
        )
        from curation.services import PROMPT_INSERT_FIELDS

        bulk.copy_rows(Prompt, ["id", *PROMPT_INSERT_FIELDS], prompt_rows)

        # Three distinct annotators per item out of the pool; each copies the truth or errs at random.
        first = rng.integers(0, N_ANNOTATORS, n_items)
        step = rng.integers(1, N_ANNOTATORS // 2, n_items)
        skill = np.linspace(0.05, 0.35, N_ANNOTATORS)  # later annotators drift more

        def noisy(truth, k, slot_annotators):
            err = rng.random(n_items) < skill[slot_annotators]
            return np.where(err, rng.integers(0, k, n_items), truth)

        annotation_rows = []
        for slot in range(3):
            who = (first + slot * step) % N_ANNOTATORS
            keep = np.where(rng.random(n_items) < skill[who] / 3, ~truth_keep, truth_keep)
            dim = noisy(truth_dim, len(dims), who)
            risk = noisy(truth_risk, 2, who)
            sev = np.clip(truth_sev + np.where(rng.random(n_items) < skill[who], rng.integers(-1, 2, n_items), 0), 1, 5)
            beh = noisy(truth_beh, 3, who)
            seconds = rng.gamma(2.0, 20.0, n_items)
            lag = (3 - slot) * rng.integers(1, 60, n_items)  # minutes before the item's last annotation
            when = [t - dt.timedelta(minutes=int(m)) for t, m in zip(done_at, lag, strict=True)]
            decisions = np.where(keep, np.where(rng.random(n_items) < 0.2, "edit", "accept"), "reject")
            for i in range(n_items):
                kept = keep[i]
                annotation_rows.append((
                    queues[i % 2], ids[i], users[who[i]], decisions[i], "", dims[dim[i]] if kept else None,
                    None, str(risks[risk[i]]) if kept else "", int(sev[i]) if kept else None,
                    str(behaviours[beh[i]]) if kept else "", "", "" if kept else "unclear", "",
                    float(seconds[i]), False, when[i], when[i], 0,
                ))
        bulk.copy_rows(
            Annotation,
            ["queue_id", "prompt_id", "annotator_id", "decision", "final_text", "dimension_id", "sub_dimension_id",
             "risk_expression", "severity", "expected_behaviour", "reference_answer", "reject_reason", "note",
             "seconds_spent", "is_surplus", "submitted_at", "updated_at", "revisions"],
            annotation_rows,
        )
    with connection.cursor() as cur:
        # What autovacuum would do soon after a bulk load: set hint bits and statistics now, so the
        # timings below measure the steady state rather than the first scans after COPY.
        for table in (Prompt._meta.db_table, Annotation._meta.db_table):
            cur.execute(f"VACUUM (FREEZE, ANALYZE) {connection.ops.quote_name(table)}")
    load_s = time.perf_counter() - start
    return {"load_s": load_s, "n_annotations": len(annotation_rows), "admin": admin, "queue": queues[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k items (30k annotations), fewer repeats")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="use the data a previous run kept (--keep)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards, for --reuse")
    args = parser.parse_args()
    n_items = args.items or (10_000 if args.quick else 100_000)
    repeat = 3 if args.quick else args.repeat
    setup_django(DB_NAME, fresh=not args.reuse)
    from django.contrib.auth import get_user_model

    from annotation.models import Annotation, ReviewQueue

    if args.reuse and Annotation.objects.count() == 3 * n_items:
        loaded = {
            "n_annotations": 3 * n_items, "admin": get_user_model().objects.get(username="bench-admin"),
            "queue": ReviewQueue.objects.get(name="bench-0").pk,
        }
        print(f"reusing {n_items:,} decided prompts and {loaded['n_annotations']:,} annotations")
    elif args.reuse:
        raise SystemExit(f"no data of {n_items:,} items to reuse: run once with --keep and without --reuse")
    else:
        load_taxonomy()
        loaded = load(n_items)
        print(f"loaded {n_items:,} decided prompts and {loaded['n_annotations']:,} annotations with COPY "
              f"in {loaded['load_s']:.1f} s")

    import krippendorff
    from django.conf import settings
    from django.test import Client

    from annotation import agreement as ag
    from annotation import agreement_report as report
    from annotation.agreement_selectors import AgreementFilters, agreement_dashboard, agreement_frames

    settings.ALLOWED_HOSTS = ["*"]
    everything = AgreementFilters()

    load_before = os.getloadavg()[0]
    agreement_dashboard(filters=everything)  # warm-up: first imports, PostgreSQL caches
    dashboard_s, data = timed(lambda: agreement_dashboard(filters=everything), repeat, "dashboard")
    dashboard_cpu = cpu_seconds(lambda: agreement_dashboard(filters=everything), repeat)
    frames_s, (annotations, finals) = timed(lambda: agreement_frames(everything), repeat, "frames")
    compute_s, _ = timed(
        lambda: report.compute_dashboard(annotations, finals, tz=settings.TIME_ZONE), repeat, "compute"
    )
    decision = report.field_frame(annotations, "decision")
    bare_s, bare_alpha = timed(lambda: ag.krippendorff_alpha(decision, "nominal"), max(repeat, 5), "bare")
    matrix, *_ = ag.reliability_matrix(decision)
    package_s, package_alpha = timed(
        lambda: krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), max(repeat, 3)
    )
    assert abs(bare_alpha - package_alpha) < 1e-9, (bare_alpha, package_alpha)
    queue_s, _ = timed(lambda: agreement_dashboard(filters=AgreementFilters(queue=loaded["queue"])), repeat)
    today = dt.date.today()
    month_s, month = timed(
        lambda: agreement_dashboard(filters=AgreementFilters(since=today - dt.timedelta(days=30), until=today)), repeat
    )

    client = Client()
    client.force_login(loaded["admin"])
    assert client.get("/agreement/").status_code == 200  # warm-up: templates, translations
    page_s, page = timed(lambda: client.get("/agreement/"), repeat, "page")
    assert page.status_code == 200, page.status_code

    print(f"items {data['totals']['n_items']:,}  annotations {data['totals']['n_annotations']:,}  "
          f"annotators {data['totals']['n_annotators']}  weeks {len(data['weekly']['weeks'])}  (median of {repeat})")
    def f3(x):
        return "—" if x is None else f"{x:.3f}"

    for s in data["fields"]:
        a = s["alpha"]
        print(f"  {s['field']:<19} alpha {f3(a['value'])} [{f3(s['alpha_ci']['lo'])}, {f3(s['alpha_ci']['hi'])}] "
              f"n={a['n_items']:,}  fleiss {f3(s['fleiss_kappa']['value'])}  "
              f"pct {f3(s['percent_agreement']['value'])}")
    print(f"machine load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"{os.cpu_count()} CPUs; fastest run in brackets")
    print(f"database -> dashboard numbers   {dashboard_s:8.3f} s   [{FASTEST['dashboard']:.3f}]   (target < 3 s)")
    if dashboard_cpu is not None:
        print(f"  CPU seconds (Python + PostgreSQL backend) {dashboard_cpu:.3f} s: the cost without other jobs")
    print(f"  two queries into pandas       {frames_s:8.3f} s   [{FASTEST['frames']:.3f}]")
    print(f"  computation on the frames     {compute_s:8.3f} s   [{FASTEST['compute']:.3f}]")
    print(f"  filtered: one queue           {queue_s:8.3f} s")
    print(f"  filtered: last 30 days        {month_s:8.3f} s   ({month['totals']['n_items']:,} items)")
    print(f"whole page (HTML request)       {page_s:8.3f} s   [{FASTEST['page']:.3f}]")
    print(f"bare alpha, in-memory frame     {bare_s:8.4f} s   [{FASTEST['bare']:.4f}]   ratio {dashboard_s / bare_s:7.1f}")
    print(f"krippendorff package, matrix    {package_s:8.4f} s   ratio {dashboard_s / package_s:7.1f}")
    if not args.keep:
        drop_database(DB_NAME)
    result(dashboard_s=round(dashboard_s, 3), overhead_ratio=round(dashboard_s / bare_s, 1), items=n_items,
           annotations=loaded["n_annotations"], page_s=round(page_s, 3),
           dashboard_cpu_s=round(dashboard_cpu, 3) if dashboard_cpu is not None else "n/a")


if __name__ == "__main__":
    main()
