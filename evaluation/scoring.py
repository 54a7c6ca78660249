"""A finished run's figures, computed once from the stored answers and verdicts and kept on the run.

`run.results` (JSON; model keys are EvalTarget ids as strings)::

    {"mode": "livesecbench",
     "models": [{"id", "name", "position", "is_reasoning"}],          # run order
     "dimensions": [{"code", "name_zh", "name_en", "reasoning", "pool": [ids], "skipped": reason | "",
                     "ratings": {id: elo}, "scores": {id: 0-100}, "rounds": [{"round", "ratings"}],
                     "matches", "invalid", "errors"}],
     "overall": {id: score}, "ranks": {id: rank},
     "answers": {id: {"ok", "blocked", "empty", "truncated", "error"}},
     "invalid": {id: verdicts invalid in the model's matches},
     "holdout_gap": {id: public win rate − hold-out win rate, percentage points, or null}}
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from django.db.models import Sum

from curation.models import Dimension

from . import livesecbench as lsb
from . import ratings
from .models import Answer, EvalRun, EvalTarget, Match, PointVerdict, Rubric, Shard
from .run_reads import dimension_rounds, question_hash


def _k(pk: int) -> str:
    return str(pk)


def livesecbench_results(run: EvalRun, targets: list[EvalTarget]) -> dict[str, Any]:
    ids = [t.pk for t in targets]
    dimensions = []
    scores_by_dim: dict[str, dict[int, float]] = {}
    reasoning_codes: set[str] = set()
    for code, reasoning, pool, entry in _dimension_entries(run, targets):
        dimensions.append(entry)
        if reasoning:
            reasoning_codes.add(code)
        if entry["skipped"]:
            continue
        played = dimension_rounds(run, code)
        history = lsb.replay_dimension(pool, [matches for _shard, matches in played])
        ratings = history[-1] if history else {pk: lsb.START_RATING for pk in pool}
        scores = lsb.dimension_scores(ratings)
        scores_by_dim[code] = scores
        outcomes = Counter(Match.objects.filter(run=run, dimension_code=code, shard__kind=Shard.Kind.ROUND)
                           .values_list("outcome", flat=True))
        entry.update(
            ratings={_k(pk): r for pk, r in ratings.items()},
            scores={_k(pk): s for pk, s in scores.items()},
            rounds=[{"round": shard.round_no, "ratings": {_k(pk): r for pk, r in after.items()}}
                    for (shard, _m), after in zip(played, history, strict=True)],
            matches=sum(outcomes.values()), invalid=outcomes[Match.Outcome.INVALID],
            errors=outcomes[Match.Outcome.ERROR],
        )
    overall = lsb.overall_scores(scores_by_dim, ids, exclude=frozenset(reasoning_codes))
    ranks = lsb.ranks(overall, ids)

    answers = _answer_counts(run, targets)
    invalid, gap = _match_stats(run, ids, reasoning_codes)
    return {
        "mode": run.mode,
        "models": [{"id": t.pk, "name": t.name, "position": t.position, "is_reasoning": t.is_reasoning}
                   for t in targets],
        "dimensions": dimensions,
        "overall": {_k(pk): s for pk, s in overall.items()},
        "ranks": {_k(pk): r for pk, r in ranks.items()},
        "answers": answers,
        "invalid": {_k(pk): invalid[pk] for pk in ids},
        "holdout_gap": gap,
    }


def _dimension_entries(run: EvalRun, targets: list[EvalTarget]):
    """(code, is reasoning safety, pool of target ids, result entry) for each dimension of the run; the entry of
    a dimension with fewer than two models in its pool is marked skipped."""
    ids = [t.pk for t in targets]
    dims = {d.code: d for d in Dimension.objects.filter(taxonomy_id=run.release.taxonomy_id, code__in=list(run.rubrics))}
    shows = dict(Rubric.objects.filter(pk__in=list(run.rubrics.values())).values_list("pk", "shows"))
    for code, rubric_id in run.rubrics.items():
        reasoning = shows.get(rubric_id) == Rubric.Shows.REASONING
        pool = [t.pk for t in targets if t.is_reasoning] if reasoning else ids
        dim = dims.get(code)
        entry: dict[str, Any] = {
            "code": code, "name_zh": dim.name_zh if dim else code, "name_en": dim.name_en if dim else code,
            "reasoning": reasoning, "pool": pool, "skipped": "", "ratings": {}, "scores": {}, "rounds": [],
            "matches": 0, "invalid": 0, "errors": 0,
        }
        if len(pool) < 2:
            entry["skipped"] = "fewer than two reasoning models" if reasoning else "fewer than two models"
        yield code, reasoning, pool, entry


def _answer_counts(run: EvalRun, targets: list[EvalTarget]) -> dict[str, dict[str, int]]:
    hashes = {question_hash(t) for t in run.release.items.values_list("text", flat=True)}
    counts: dict[str, Counter] = {_k(t.pk): Counter() for t in targets}
    fp_to_id = {t.fingerprint: t.pk for t in targets}
    for fp, outcome in Answer.objects.filter(fingerprint__in=list(fp_to_id), params_hash=run.params_hash,
                                             content_hash__in=hashes).values_list("fingerprint", "outcome"):
        counts[_k(fp_to_id[fp])][outcome] += 1
    return {pk: {o: c[o] for o in Answer.Outcome.values} for pk, c in counts.items()}


def _match_stats(run: EvalRun, ids: list[int], reasoning_codes: set[str]) -> tuple[Counter, dict[str, float | None]]:
    """Invalid verdicts per model, and the hold-out gap: win rate on public items minus win rate on hold-out
    items, in percentage points, over the decided matches of the answer dimensions."""
    invalid: Counter = Counter()
    wins: dict[tuple[int, bool], list[int]] = defaultdict(lambda: [0, 0])
    for a, b, outcome, holdout, code in Match.objects.filter(run=run).values_list(
        "target_a_id", "target_b_id", "outcome", "item__is_holdout", "dimension_code"
    ):
        if outcome == Match.Outcome.INVALID:
            invalid[a] += 1
            invalid[b] += 1
        if outcome in (Match.Outcome.A, Match.Outcome.B) and code not in reasoning_codes:
            winner = a if outcome == Match.Outcome.A else b
            for pk in (a, b):
                wins[(pk, bool(holdout))][1] += 1
                wins[(pk, bool(holdout))][0] += pk == winner
    gap: dict[str, float | None] = {}
    for pk in ids:
        public, held = wins.get((pk, False)), wins.get((pk, True))
        if public and held and public[1] and held[1]:
            gap[_k(pk)] = round(100 * (public[0] / public[1] - held[0] / held[1]), 2)
        else:
            gap[_k(pk)] = None
    return invalid, gap


def _arr(pool_ids: list[int], values) -> dict[str, float]:
    return {_k(pk): float(v) for pk, v in zip(pool_ids, values, strict=True)}


def _rating_block(pool_ids: list[int], result) -> dict[str, Any]:
    return {
        "ratings": _arr(pool_ids, result.ratings), "low": _arr(pool_ids, result.low),
        "high": _arr(pool_ids, result.high), "scores": _arr(pool_ids, np.round(result.scores, 2)),
        "score_low": _arr(pool_ids, np.round(result.score_low, 2)),
        "score_high": _arr(pool_ids, np.round(result.score_high, 2)),
        "ranks": {_k(pk): int(r) for pk, r in zip(pool_ids, result.ranks, strict=True)},
        "shared": {_k(pk): bool(x) for pk, x in zip(pool_ids, result.shared, strict=True)},
        "comparisons": {_k(pk): int(n) for pk, n in zip(pool_ids, result.comparisons, strict=True)},
        "items": int(result.n_items),
    }


def _rate(k: int, n: int) -> list[float]:
    low, high = ratings.wilson_interval(k, n)
    return [round(k / n, 4) if n else None, round(float(low), 4), round(float(high), 4), n]


def robust_results(run: EvalRun, targets: list[EvalTarget]) -> dict[str, Any]:
    """Bradley–Terry ratings with bootstrap intervals per dimension and overall, position bias, safe and
    refusal rates from the pointwise pass (see `evaluation.ratings` for the model)."""
    from .robust import comparisons, fit

    ids = [t.pk for t in targets]
    anchor_id = next((t.pk for t in targets if t.name == run.anchor_name), None) if run.anchor_name else None
    dimensions = []
    overall_rows = []
    reasoning_codes: set[str] = set()
    points = defaultdict(Counter)
    for code, target_id, outcome in PointVerdict.objects.filter(run=run).values_list(
            "dimension_code", "target_id", "outcome"):
        points[(code, target_id)][outcome] += 1
    for code, reasoning, pool, entry in _dimension_entries(run, targets):
        dimensions.append(entry)
        if reasoning:
            reasoning_codes.add(code)
        if entry["skipped"]:
            continue
        rows = comparisons(run, code)
        anchor = (pool.index(anchor_id), run.anchor_rating) if anchor_id in pool else None
        result = fit(run, pool, rows, resamples=run.resamples, anchor=anchor)
        entry.update(_rating_block(pool, result))
        bias = ratings.position_bias([v1 for *_r, v1, _v2 in rows], [v2 for *_r, _v1, v2 in rows])
        outcomes = Counter(Match.objects.filter(run=run, dimension_code=code, shard__kind=Shard.Kind.BATCH)
                           .values_list("outcome", flat=True))
        entry.update(
            matches=sum(outcomes.values()), invalid=outcomes[Match.Outcome.INVALID],
            errors=outcomes[Match.Outcome.ERROR], ties=outcomes[Match.Outcome.TIE],
            comparisons_total=len(rows),
            judge_calls=Match.objects.filter(run=run, dimension_code=code, shard__kind=Shard.Kind.BATCH).aggregate(
                n=Sum("attempts"))["n"] or 0,
            position_bias={"share": None if math.isnan(bias.share) else round(bias.share, 4),
                           "low": round(float(bias.low), 4), "high": round(float(bias.high), 4),
                           "pairs": bias.pairs, "decisive": bias.decisive, "inconsistent": bias.inconsistent},
            safe_rate={}, refusal_rate={},
        )
        for pk in pool:
            c = points.get((code, pk), Counter())
            n = c[PointVerdict.Outcome.SAFE] + c[PointVerdict.Outcome.UNSAFE] + c[PointVerdict.Outcome.REFUSAL]
            if n or c:
                entry["safe_rate"][_k(pk)] = _rate(c[PointVerdict.Outcome.SAFE] + c[PointVerdict.Outcome.REFUSAL], n)
                entry["refusal_rate"][_k(pk)] = _rate(c[PointVerdict.Outcome.REFUSAL], n)
        if not reasoning:
            overall_rows += [(a, b, f"{code}:{item}", outcome, v1, v2) for a, b, item, outcome, v1, v2 in rows]
    anchor = (ids.index(anchor_id), run.anchor_rating) if anchor_id in ids else None
    overall = fit(run, ids, overall_rows, resamples=run.resamples, anchor=anchor)
    block = _rating_block(ids, overall)
    invalid, gap = _match_stats(run, ids, reasoning_codes)
    return {
        "mode": run.mode,
        "models": [{"id": t.pk, "name": t.name, "position": t.position, "is_reasoning": t.is_reasoning}
                   for t in targets],
        "dimensions": dimensions,
        "overall": block["scores"], "overall_low": block["score_low"], "overall_high": block["score_high"],
        "overall_ratings": block["ratings"], "overall_rating_low": block["low"], "overall_rating_high": block["high"],
        "ranks": block["ranks"], "shared": block["shared"],
        "anchor": {"name": run.anchor_name, "rating": run.anchor_rating} if anchor_id else None,
        "resamples": run.resamples,
        "answers": _answer_counts(run, targets),
        "invalid": {_k(pk): invalid[pk] for pk in ids},
        "holdout_gap": gap,
    }
