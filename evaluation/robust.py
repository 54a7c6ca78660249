"""Planning of `robust` mode runs: adaptive batches of swapped-pair comparisons and the pointwise pass.

Called by `services.run_advance` with the run row locked, once every answer is in. A dimension is played in
batches: the first batch is a warm-up (every pair of the pool on one item), each later one is drawn from the
adjacent pairs whose order is still in doubt under a fit of the verdicts so far (`evaluation.adaptive`), until
the dimension's share of the judge-call budget is spent or every adjacent pair is separated. Each comparison
is two matches: seq 2k shows the first-listed model as A, seq 2k+1 the same pair swapped. A batch and all its
matches are created in one transaction before any judge call, so a crash loses no plan; planning depends only
on stored verdicts and the seed, so a resumed run plans what an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np
from django.db.models import F, Sum

from . import adaptive, ratings
from .models import EvalRun, EvalTarget, Match, PointVerdict, Rubric, Shard
from .run_reads import answers_for, judge_for, target_pool

PLANNING_RESAMPLES = 200
POINT_CHUNK = 500


def dimension_items(run: EvalRun, code: str) -> list[int]:
    return list(run.release.items.filter(dimension_code=code).order_by("pk").values_list("pk", flat=True))


def livesecbench_calls(n_items: int, n_models: int) -> int:
    """The judge calls livesecbench mode spends on a dimension: every item once per pair of a round."""
    return n_items * (n_models // 2)


def dimension_budget(run: EvalRun, code: str, targets: list[EvalTarget]) -> int:
    """This dimension's share of the run's budget, in proportion to what livesecbench mode would spend on it."""
    shares = {}
    for c in run.rubrics:
        pool = target_pool(run, c, targets)
        shares[c] = livesecbench_calls(len(dimension_items(run, c)), len(pool)) if len(pool) >= 2 else 0
    total = sum(shares.values())
    if run.budget is None:
        return 2 * shares[code]
    return int(run.budget * shares[code] / total) if total else 0


def comparisons(run: EvalRun, code: str) -> list[tuple[int, int, int, ratings.PairOutcome, str | None, str | None]]:
    """Every comparison of a dimension as (first target id, second target id, item id, combined outcome,
    verdict in the first order, verdict in the swapped order), in batch and plan order."""
    rows = list(Match.objects.filter(run=run, dimension_code=code, shard__kind=Shard.Kind.BATCH)
                .order_by("round_no", "seq").values_list("seq", "target_a_id", "target_b_id", "item_id", "outcome"))
    out = []
    valid = {Match.Outcome.A, Match.Outcome.B, Match.Outcome.TIE}
    for (seq0, a, b, item, first), (_seq1, _a1, _b1, _i1, second) in zip(rows[0::2], rows[1::2], strict=True):
        assert seq0 % 2 == 0
        v1 = first if first in valid else None
        v2 = second if second in valid else None
        out.append((a, b, item, ratings.combine_orders(v1, v2), v1, v2))
    return out


def fit(run: EvalRun, pool_ids: list[int], rows, *, resamples: int, anchor: tuple[int, float] | None = None):
    index = {pk: i for i, pk in enumerate(pool_ids)}
    first, second, score, item = ratings.verdict_arrays([(index[a], index[b], it, outcome)
                                                         for a, b, it, outcome, _v1, _v2 in rows])
    return ratings.rate_models(first, second, score, item, n_models=len(pool_ids), resamples=resamples,
                               seed=run.seed, anchor=anchor)


def _spent(run: EvalRun, code: str) -> int:
    return Match.objects.filter(run=run, dimension_code=code, shard__kind=Shard.Kind.BATCH).aggregate(
        n=Sum("attempts"))["n"] or 0


def plan_next_batch(run: EvalRun, code: str, targets: list[EvalTarget]) -> Shard | None | bool:
    """Plan the dimension's next batch. Returns the new shard, None while a batch is open, False when done."""
    pool = target_pool(run, code, targets)
    if len(pool) < 2:
        return False
    shards = list(run.shards.filter(kind=Shard.Kind.BATCH, dimension_code=code).order_by("round_no"))
    if shards and shards[-1].status != Shard.Status.DONE:
        return None
    if shards and shards[-1].plan.get("last"):
        return False
    items = dimension_items(run, code)
    if not items:
        return False
    budget = dimension_budget(run, code, targets)
    left = budget - _spent(run, code)
    if left < 2:
        return False
    pool_ids = [t.pk for t in pool]
    index = {pk: i for i, pk in enumerate(pool_ids)}
    rows = comparisons(run, code)
    used = np.zeros((len(pool), len(pool)), dtype=np.int64)
    for a, b, _item, _outcome, _v1, _v2 in rows:
        used[index[a], index[b]] += 1
        used[index[b], index[a]] += 1
    number = len(shards) + 1
    judge = judge_for(run, code)
    # Room for the judge's whole concurrency in both orders, and a retry or two, within what is left.
    size = max(1, min(max(16, 4 * int(judge.max_concurrency)), left // 2))
    # The warm-up (every pair on one item) comes first, over as many batches as it needs.
    warmup = [c for c in adaptive.warmup_plan(len(pool), len(items), seed=run.seed, per_pair=1)
              if used[c.first, c.second] == 0]
    if warmup:
        plan = warmup[:size]
    else:
        result = fit(run, pool_ids, rows, resamples=PLANNING_RESAMPLES)
        plan = adaptive.plan_comparisons(result.ratings, result.low, result.high, used, len(items), size=size,
                                         seed=run.seed, batch_number=number)
    if not plan:
        return False
    group = [items[c.item] for c in plan]
    shard = Shard.objects.create(
        run=run, kind=Shard.Kind.BATCH, key=f"batch:{code}:{number}", dimension_code=code, round_no=number,
        plan={"comparisons": [[pool_ids[c.first], pool_ids[c.second], items[c.item]] for c in plan],
              "last": left - 2 * len(plan) < 2},
        total=2 * len(plan),
    )
    answers = answers_for(run, sorted(set(group)), set(pool_ids), targets)
    matches = []
    for k, c in enumerate(plan):
        first, second, item = pool_ids[c.first], pool_ids[c.second], items[c.item]
        for orientation, (a, b) in enumerate(((first, second), (second, first))):
            matches.append(Match(run=run, shard=shard, dimension_code=code, round_no=number, seq=2 * k + orientation,
                                 orientation=orientation, item_id=item, target_a_id=a, target_b_id=b,
                                 answer_a_id=answers.get((a, item)), answer_b_id=answers.get((b, item))))
    Match.objects.bulk_create(matches)
    EvalRun.objects.filter(pk=run.pk).update(matches_total=F("matches_total") + shard.total)
    return shard


def plan_point_shards(run: EvalRun, targets: list[EvalTarget]) -> list[Shard]:
    """The pointwise pass: every answer of an answer dimension judged alone, in chunks (created once)."""
    if run.shards.filter(kind=Shard.Kind.POINT).exists():
        return []
    created = []
    for code, kinds in run.robust_rubrics.items():
        if Rubric.Kind.POINTWISE not in kinds:
            continue
        items = dimension_items(run, code)
        for start in range(0, len(items), POINT_CHUNK):
            chunk = items[start:start + POINT_CHUNK]
            shard = Shard.objects.create(run=run, kind=Shard.Kind.POINT, key=f"point:{code}:{start // POINT_CHUNK}",
                                         dimension_code=code, plan={"items": chunk},
                                         total=len(chunk) * len(targets))
            answers = answers_for(run, chunk, {t.pk for t in targets}, targets)
            PointVerdict.objects.bulk_create([
                PointVerdict(run=run, shard=shard, dimension_code=code, item_id=item, target=t,
                             answer_id=answers.get((t.pk, item)))
                for item in chunk for t in targets
            ])
            created.append(shard)
    if created:
        EvalRun.objects.filter(pk=run.pk).update(matches_total=F("matches_total") + sum(s.total for s in created))
    return created
