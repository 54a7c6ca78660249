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

from collections import Counter, defaultdict
from typing import Any

from curation.models import Dimension

from . import livesecbench as lsb
from .models import Answer, EvalRun, EvalTarget, Match, Rubric


def _k(pk: int) -> str:
    return str(pk)


def livesecbench_results(run: EvalRun, targets: list[EvalTarget]) -> dict[str, Any]:
    from .services import dimension_rounds, question_hash

    ids = [t.pk for t in targets]
    names = {d.code: d for d in Dimension.objects.filter(taxonomy_id=run.release.taxonomy_id, code__in=list(run.rubrics))}
    shows = dict(Rubric.objects.filter(pk__in=list(run.rubrics.values())).values_list("pk", "shows"))
    dimensions = []
    scores_by_dim: dict[str, dict[int, float]] = {}
    reasoning_codes = set()
    for code, rubric_id in run.rubrics.items():
        reasoning = shows.get(rubric_id) == Rubric.Shows.REASONING
        if reasoning:
            reasoning_codes.add(code)
        pool = [t.pk for t in targets if t.is_reasoning] if reasoning else ids
        dim = names.get(code)
        entry: dict[str, Any] = {
            "code": code, "name_zh": dim.name_zh if dim else code, "name_en": dim.name_en if dim else code,
            "reasoning": reasoning, "pool": pool, "skipped": "", "ratings": {}, "scores": {}, "rounds": [],
            "matches": 0, "invalid": 0, "errors": 0,
        }
        if len(pool) < 2:
            entry["skipped"] = "fewer than two reasoning models" if reasoning else "fewer than two models"
            dimensions.append(entry)
            continue
        played = dimension_rounds(run, code)
        history = lsb.replay_dimension(pool, [matches for _shard, matches in played])
        ratings = history[-1] if history else {pk: lsb.START_RATING for pk in pool}
        scores = lsb.dimension_scores(ratings)
        scores_by_dim[code] = scores
        outcomes = Counter(Match.objects.filter(run=run, dimension_code=code).values_list("outcome", flat=True))
        entry.update(
            ratings={_k(pk): r for pk, r in ratings.items()},
            scores={_k(pk): s for pk, s in scores.items()},
            rounds=[{"round": shard.round_no, "ratings": {_k(pk): r for pk, r in after.items()}}
                    for (shard, _m), after in zip(played, history, strict=True)],
            matches=sum(outcomes.values()), invalid=outcomes[Match.Outcome.INVALID],
            errors=outcomes[Match.Outcome.ERROR],
        )
        dimensions.append(entry)
    overall = lsb.overall_scores(scores_by_dim, ids, exclude=frozenset(reasoning_codes))
    ranks = lsb.ranks(overall, ids)

    hashes = {question_hash(t) for t in run.release.items.values_list("text", flat=True)}
    answers: dict[str, Counter] = {_k(pk): Counter() for pk in ids}
    fp_to_id = {t.fingerprint: t.pk for t in targets}
    for fp, outcome in Answer.objects.filter(fingerprint__in=list(fp_to_id), params_hash=run.params_hash,
                                             content_hash__in=hashes).values_list("fingerprint", "outcome"):
        answers[_k(fp_to_id[fp])][outcome] += 1

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
    gap = {}
    for pk in ids:
        public, held = wins.get((pk, False)), wins.get((pk, True))
        if public and held and public[1] and held[1]:
            gap[_k(pk)] = round(100 * (public[0] / public[1] - held[0] / held[1]), 2)
        else:
            gap[_k(pk)] = None
    return {
        "mode": run.mode,
        "models": [{"id": t.pk, "name": t.name, "position": t.position, "is_reasoning": t.is_reasoning}
                   for t in targets],
        "dimensions": dimensions,
        "overall": {_k(pk): s for pk, s in overall.items()},
        "ranks": {_k(pk): r for pk, r in ranks.items()},
        "answers": {pk: {o: c[o] for o in Answer.Outcome.values} for pk, c in answers.items()},
        "invalid": {_k(pk): invalid[pk] for pk in ids},
        "holdout_gap": gap,
    }
