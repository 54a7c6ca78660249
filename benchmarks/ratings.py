"""Robust ratings: seconds to fit Bradley–Terry ratings with 1,000-resample item-bootstrap intervals.

Builds synthetic verdicts as a `robust` run stores them (swapped pairs already combined: win, loss or tie for
the first-listed model): per dimension, every item is judged by every model once, in random pairs, with
outcomes drawn from a Bradley–Terry model with ties (20% between equals). Then times `evaluation.ratings.rate_models` on each
dimension (ratings, intervals, 0–100 scores and their intervals, ranks), as a leaderboard recomputation does.
No database.

    python benchmarks/ratings.py            # 60 models x 5 dimensions x 2,000 items, median of 3; 15 to 60 models
    python benchmarks/ratings.py --quick    # the same sizes, one timing each

Last line: RESULT rating_s=<seconds for 60 models x 5 dimensions> growth_ratio=<time at 60 / time at 15 models>.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine_speed, peak_rss_mb, result  # noqa: E402
from evaluation.ratings import RESAMPLES, rate_models  # noqa: E402

TIE_SHARE = 0.2
TARGET_S = 10.0


def dimension_verdicts(rng: np.random.Generator, true: np.ndarray, n_items: int):
    """One dimension: every item pairs the models at random (each model judged once per item)."""
    m = len(true)
    order = np.argsort(rng.random((n_items, m)), axis=1)
    half = m // 2
    first, second = order[:, :half].ravel(), order[:, half : 2 * half].ravel()
    p_first = 1 / (1 + 10 ** ((true[second] - true[first]) / 400))
    # Ties take equal shares from both sides, so the expected score stays p_first: Bradley–Terry with ties
    # as half a win holds exactly, and the intervals can be checked against the true ratings.
    p_tie = 2 * TIE_SHARE * np.minimum(p_first, 1 - p_first)
    roll = rng.random(first.size)
    score = np.where(roll < p_first - p_tie / 2, 1.0, np.where(roll < p_first + p_tie / 2, 0.5, 0.0))
    item = np.repeat(np.arange(n_items), half)
    return first, second, score, item


def build(n_models: int, n_dimensions: int, n_items: int, seed: int = 1) -> list[tuple]:
    rng = np.random.default_rng(seed)
    true = rng.normal(1500, 150, n_models)
    return [dimension_verdicts(rng, true, n_items) for _ in range(n_dimensions)], true


def rate_all(dimensions: list[tuple], n_models: int) -> list:
    return [rate_models(*verdicts, n_models=n_models, resamples=RESAMPLES, seed=d)
            for d, verdicts in enumerate(dimensions)]


def measure(n_models: int, n_dimensions: int, n_items: int, repeats: int) -> dict:
    dimensions, true = build(n_models, n_dimensions, n_items)
    times, cpu, fits = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fits = rate_all(dimensions, n_models)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    centred = true - true.mean() + 1500
    coverage = np.mean([(f.low <= centred) & (centred <= f.high) for f in fits])
    return {"models": n_models, "verdicts": sum(len(d[0]) for d in dimensions), "s": statistics.median(times),
            "min_s": min(times), "cpu_s": statistics.median(cpu), "coverage": coverage,
            "shared": np.mean([f.shared.mean() for f in fits])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one timing per size instead of the median of 3")
    args = ap.parse_args()
    repeats = 1 if args.quick else 3
    dims, items = 5, 2_000
    print(f"robust ratings benchmark: {dims} dimensions x {items:,} items, {RESAMPLES} bootstrap resamples, "
          f"{'one timing' if args.quick else 'median of 3'} per size")
    print(f"machine speed before: {machine_speed():.3f} s for the reference loop")
    measure(8, 1, 200, 1)  # warm-up: imports, BLAS threads, allocator first-touch
    rows = [measure(m, dims, items, repeats) for m in (15, 30, 60)]
    # CPU seconds beside wall seconds: on a shared machine the wall time also counts the waits for a core.
    print(f"{'models':>6} {'verdicts':>9} {'seconds':>8} {'fastest':>8} {'cpu s':>7} {'per dim':>8} "
          f"{'95% cover':>9} {'shared rank':>11}")
    for r in rows:
        print(f"{r['models']:>6} {r['verdicts']:>9,} {r['s']:>8.2f} {r['min_s']:>8.2f} {r['cpu_s']:>7.2f} "
              f"{r['s'] / dims:>8.2f} {r['coverage']:>9.1%} {r['shared']:>11.1%}")
    full = rows[-1]
    growth = full["s"] / rows[0]["s"]
    print(f"60 models: {full['s']:.2f} s (target < {TARGET_S:.0f} s); 15 -> 60 models (4x models, 4x verdicts, "
          f"16x pairs): time x{growth:.2f}")
    print(f"machine speed after: {machine_speed():.3f} s; peak RSS {peak_rss_mb():.0f} MB")
    result(rating_s=round(full["s"], 3), growth_ratio=round(growth, 3))


if __name__ == "__main__":
    main()
