"""Adaptive pairing of the `robust` mode: spend judge calls where the order is still in doubt.

A `robust` run of one dimension starts with a warm-up (every pair of models on ``per_pair`` items, so the first
order rests on every model's record against all the others), then works in batches. Before each batch the
ratings and their bootstrap intervals are fitted (``evaluation.ratings``); the models are put in rating order,
and each ADJACENT pair is a candidate unless it is separated (the upper model's lower bound above the lower
model's upper bound, after at least ``MIN_DIRECT`` direct comparisons). Adjacent pairs are the ones the order
depends on: a pair further apart is separated as soon as its neighbours are. A candidate's weight is the
chance that its order is wrong, reading each interval as a normal spread (0.5 for two identical intervals,
e.g. before any evidence; it falls as the intervals draw apart, so the overlap of the intervals, relative to
their widths, decides where the calls go). The batch draws its comparisons from the candidates with
probability proportional to their weights, and each pair takes its items WITHOUT replacement, in a fixed
per-pair order (``pair_item_order``): a pair never sees an item twice, and a pair's next items follow from how
many it has used, so a resumed run plans exactly what an uninterrupted one would. The run stops when the
budget of judge calls is spent, when every adjacent pair is separated, or when the candidates have no unused
item left.

Every comparison is judged in both orders (``evaluation.ratings.combine_orders``), so a comparison costs two
judge calls, plus any retry of an invalid reply.

All functions are pure and seeded: the same seed, ratings and counts give the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from evaluation.ratings import (
    RESAMPLES,
    RIDGE,
    PairOutcome,
    RatingResult,
    combine_orders,
    parse_verdict,
    rate_models,
    verdict_arrays,
)

__all__ = [
    "MIN_DIRECT",
    "AdjacentPair",
    "Comparison",
    "RobustRun",
    "adjacent_pairs",
    "count_used",
    "pair_item_order",
    "plan_comparisons",
    "simulate_robust",
    "warmup_plan",
]

# Streams of one run's seed: item orders and batch draws must never share random numbers.
_ITEMS_STREAM = 1
_BATCH_STREAM = 2
# Direct comparisons an adjacent pair needs before its intervals may declare it decided.
MIN_DIRECT = 2


@dataclass(frozen=True)
class Comparison:
    """One planned comparison: models ``first`` and ``second`` (``first`` shown as A in the first order) on
    item ``item`` (indices)."""

    first: int
    second: int
    item: int


def pair_item_order(n_items: int, a: int, b: int, *, seed: int) -> np.ndarray:
    """The order in which the pair {a, b} takes a dimension's items (a permutation of ``range(n_items)``).

    Depends only on the seed and the unordered pair, so ``used`` counts are enough to continue it.
    """
    lo, hi = min(a, b), max(a, b)
    return np.random.default_rng([seed, _ITEMS_STREAM, lo, hi]).permutation(n_items)


def _check_used(used: np.ndarray, n_models: int) -> np.ndarray:
    used = np.asarray(used)
    if used.shape != (n_models, n_models) or not np.array_equal(used, used.T):
        raise ValueError("used must be a symmetric (n_models, n_models) array of per-pair item counts")
    return used


def count_used(used: np.ndarray, plan: list[Comparison]) -> np.ndarray:
    """``used`` after the comparisons of ``plan`` (a new array)."""
    out = np.array(used, copy=True)
    for c in plan:
        out[c.first, c.second] += 1
        out[c.second, c.first] += 1
    return out


def warmup_plan(n_models: int, n_items: int, *, seed: int, per_pair: int = 1,
                used: np.ndarray | None = None) -> list[Comparison]:
    """Every pair of models on its next ``per_pair`` items (fewer if the pair runs out), pair by pair.

    ``used`` (symmetric per-pair counts, zeros by default) says where each pair's item order continues.
    """
    used_a = np.zeros((n_models, n_models), dtype=np.int64) if used is None else _check_used(used, n_models)
    plan = []
    for a in range(n_models):
        for b in range(a + 1, n_models):
            start = int(used_a[a, b])
            for item in pair_item_order(n_items, a, b, seed=seed)[start : start + per_pair]:
                plan.append(Comparison(first=a, second=b, item=int(item)))
    return plan


@dataclass(frozen=True)
class AdjacentPair:
    """Two neighbours in the current rating order (``upper`` rated higher) and how much their order is in
    doubt.

    ``overlap``: of their intervals, in rating points (negative: the gap between them); ``direct``: items the
    pair has been compared on; ``separated``: the upper model's lower bound is above the lower model's upper
    bound and the pair has met at least ``min_direct`` times (a bootstrap over a handful of unanimous
    verdicts has no spread, so intervals alone would declare a pair decided after one lucky comparison);
    ``misorder``: the chance their order is wrong if each rating were normal with the spread its interval
    shows (0.5 when neither interval has width); ``remaining``: unused items.
    """

    upper: int
    lower: int
    overlap: float
    direct: int
    separated: bool
    misorder: float
    remaining: int

    @property
    def weight(self) -> float:
        """This pair's claim on the next batch (0 when separated or out of items)."""
        if self.separated or self.remaining <= 0:
            return 0.0
        return self.misorder


def adjacent_pairs(ratings: np.ndarray, low: np.ndarray, high: np.ndarray, used: np.ndarray,
                   n_items: int, *, min_direct: int = MIN_DIRECT) -> list[AdjacentPair]:
    """The adjacent pairs of the current order (highest rating first; equal ratings keep index order)."""
    ratings, low, high = (np.asarray(x, dtype=float) for x in (ratings, low, high))
    used_a = _check_used(used, len(ratings))
    order = np.argsort(-ratings, kind="stable")
    # Normal spread implied by a two-sided 95% interval.
    sd = (high - low) / (2 * 1.959963984540054)
    out = []
    for upper, lower in zip(order[:-1], order[1:], strict=True):
        overlap = min(high[upper], high[lower]) - max(low[upper], low[lower])
        spread = math.hypot(sd[upper], sd[lower])
        gap = ratings[upper] - ratings[lower]
        misorder = 0.5 * math.erfc(gap / spread / math.sqrt(2)) if spread > 0 else (0.5 if gap <= 0 else 0.0)
        direct = int(used_a[upper, lower])
        out.append(AdjacentPair(upper=int(upper), lower=int(lower), overlap=float(overlap), direct=direct,
                                separated=bool(low[upper] > high[lower]) and direct >= min_direct,
                                misorder=float(min(misorder, 0.5)), remaining=int(n_items - direct)))
    return out


def plan_comparisons(ratings: np.ndarray, low: np.ndarray, high: np.ndarray, used: np.ndarray, n_items: int,
                     *, size: int, seed: int, batch_number: int, min_direct: int = MIN_DIRECT
                     ) -> list[Comparison]:
    """The next batch of at most ``size`` comparisons, or an empty list when no adjacent pair needs more.

    Pairs are drawn one comparison at a time with probability proportional to ``AdjacentPair.weight`` (a
    pair that runs out of items drops out); each pair's items continue its ``pair_item_order``. Which model is
    listed first is drawn too, so a verdict that survives in one order only favours neither side. The draws
    come from ``numpy.random.default_rng([seed, 2, batch_number])``: a run replanning batch ``k`` gets the same
    batch.
    """
    pairs = adjacent_pairs(ratings, low, high, used, n_items, min_direct=min_direct)
    weights = np.array([p.weight for p in pairs], dtype=float)
    remaining = np.array([p.remaining for p in pairs], dtype=np.int64)
    rng = np.random.default_rng([seed, _BATCH_STREAM, batch_number])
    taken = np.zeros(len(pairs), dtype=np.int64)
    for _ in range(size):
        total = weights.sum()
        if total <= 0:
            break
        k = int(rng.choice(len(pairs), p=weights / total))
        taken[k] += 1
        if taken[k] >= remaining[k]:
            weights[k] = 0.0
    used_a = np.asarray(used)
    plan = []
    for pair, count in zip(pairs, taken, strict=True):
        if not count:
            continue
        start = int(used_a[pair.upper, pair.lower])
        items = pair_item_order(n_items, pair.upper, pair.lower, seed=seed)[start : start + count]
        for item in items:
            a, b = (pair.upper, pair.lower) if rng.random() < 0.5 else (pair.lower, pair.upper)
            plan.append(Comparison(first=a, second=b, item=int(item)))
    return plan


# --------------------------------------------------------------------------------------------------------------
# A whole run, for simulations


@dataclass
class RobustRun:
    """A simulated `robust` run of one dimension.

    ``result``: the final ratings; ``calls``: judge calls spent (retries included); ``comparisons``: every
    comparison as ``(first, second, item, combined outcome)``; ``verdicts``: the two parsed verdicts of each
    comparison (first order, swapped order); ``batches``: adaptive batches after the warm-up; ``stopped``: why
    the run ended.
    """

    result: RatingResult
    calls: int
    comparisons: list[tuple[int, int, int, PairOutcome]] = field(default_factory=list)
    verdicts: list[tuple[str | None, str | None]] = field(default_factory=list)
    batches: int = 0
    stopped: Literal["budget", "separated", "exhausted"] = "budget"


def simulate_robust(n_models: int, n_items: int, *, judge: Callable[[int, int, int], str | None], budget: int,
                    seed: int, warmup: int = 1, batch: int | None = None, retries: int = 1,
                    resamples: int = 100, final_resamples: int = RESAMPLES, ridge: float = RIDGE) -> RobustRun:
    """Run the `robust` mode on one dimension against a judge, within ``budget`` judge calls.

    ``judge(model_shown_as_a, model_shown_as_b, item)`` returns the raw reply (parsed with
    ``evaluation.ratings.parse_verdict``: A, B, C for a tie, else invalid); an invalid reply is asked again up to
    ``retries`` times while the budget allows. The warm-up puts every pair on ``warmup`` items (as far as the
    budget goes); each adaptive batch (``batch`` comparisons, default one per adjacent pair) is planned from
    ratings with ``resamples`` bootstrap resamples, the final ratings use ``final_resamples``.
    """
    if n_models < 2:
        raise ValueError("a run needs at least two models")
    batch = batch or n_models - 1
    used = np.zeros((n_models, n_models), dtype=np.int64)
    run_calls = 0
    comparisons: list[tuple[int, int, int, PairOutcome]] = []
    verdicts: list[tuple[str | None, str | None]] = []

    def ask(a: int, b: int, item: int, reserve: int) -> str | None:
        # `reserve`: calls that must stay available for the rest of this comparison.
        nonlocal run_calls
        verdict = None
        for attempt in range(retries + 1):
            if attempt and budget - run_calls <= reserve:
                break
            run_calls += 1
            verdict = parse_verdict(judge(a, b, item))
            if verdict is not None:
                break
        return verdict

    def play(plan: list[Comparison]) -> bool:
        for c in plan:
            if budget - run_calls < 2:
                return False
            first = ask(c.first, c.second, c.item, reserve=1)
            second = ask(c.second, c.first, c.item, reserve=0)
            verdicts.append((first, second))
            comparisons.append((c.first, c.second, c.item, combine_orders(first, second)))
            used[c.first, c.second] += 1
            used[c.second, c.first] += 1
        return True

    def fit(n_resamples: int, fit_seed: int) -> RatingResult:
        first, second, score, item = verdict_arrays(comparisons)
        return rate_models(first, second, score, item, n_models=n_models, resamples=n_resamples, seed=fit_seed,
                           ridge=ridge)

    stopped: Literal["budget", "separated", "exhausted"] = "budget"
    batches = 0
    if play(warmup_plan(n_models, n_items, seed=seed, per_pair=warmup)):
        while budget - run_calls >= 2:
            current = fit(resamples, seed + batches)
            size = min(batch, (budget - run_calls) // 2)
            plan = plan_comparisons(current.ratings, current.low, current.high, used, n_items, size=size,
                                    seed=seed, batch_number=batches)
            if not plan:
                pairs = adjacent_pairs(current.ratings, current.low, current.high, used, n_items)
                stopped = "separated" if all(p.separated for p in pairs) else "exhausted"
                break
            batches += 1
            play(plan)
    return RobustRun(result=fit(final_resamples, seed), calls=run_calls, comparisons=comparisons,
                     verdicts=verdicts, batches=batches, stopped=stopped)
