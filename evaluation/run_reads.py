"""Reads of a run's state that the run's services, the robust mode's planning (robust.py) and the figures of a
finished run (scoring.py) share: each imports them from here, so none of them imports another in a circle."""

from __future__ import annotations

import hashlib

from llm.models import ModelEndpoint
from releases.models import ReleaseItem

from .models import Answer, EvalRun, EvalTarget, Match, Rubric, Shard

Run = EvalRun


def question_hash(text: str) -> str:
    """The content hash an answer is filed under: the exact question text sent."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def target_pool(run: Run, code: str, targets: list[EvalTarget]) -> list[EvalTarget]:
    rubric_shows = Rubric.objects.filter(pk=run.rubrics.get(code)).values_list("shows", flat=True).first()
    if rubric_shows == Rubric.Shows.REASONING:
        return [t for t in targets if t.is_reasoning]
    return targets


def _winner(outcome: str) -> str | None:
    return outcome if outcome in (Match.Outcome.A, Match.Outcome.B) else None


def dimension_rounds(run: Run, code: str) -> list[tuple[Shard, list[tuple[int, int, str | None]]]]:
    """The played (or started) rounds of a dimension with their matches as (a, b, winner), in task order."""
    shards = list(run.shards.filter(kind=Shard.Kind.ROUND, dimension_code=code).order_by("round_no"))
    by_round: dict[int, list[tuple[int, int, str | None]]] = {s.round_no: [] for s in shards}
    for round_no, a, b, outcome in (Match.objects.filter(run=run, dimension_code=code, shard__kind=Shard.Kind.ROUND)
                                    .order_by("round_no", "seq")
                                    .values_list("round_no", "target_a_id", "target_b_id", "outcome")):
        by_round[round_no].append((a, b, _winner(outcome)))
    return [(s, by_round[s.round_no]) for s in shards]


def answers_for(run: Run, item_ids: list[int], target_ids: set[int], targets: list[EvalTarget]) -> dict:
    texts = dict(ReleaseItem.objects.filter(pk__in=item_ids).values_list("pk", "text"))
    hashes = {pk: question_hash(t) for pk, t in texts.items()}
    by_fp = {t.fingerprint: t.pk for t in targets if t.pk in target_ids}
    found = Answer.objects.filter(fingerprint__in=list(by_fp), content_hash__in=set(hashes.values()),
                                  params_hash=run.params_hash).values_list("pk", "fingerprint", "content_hash")
    by_key = {(fp, h): pk for pk, fp, h in found}
    return {(tid, item): by_key.get((fp, hashes[item])) for fp, tid in by_fp.items() for item in item_ids}


def judge_for(run: Run, code: str) -> ModelEndpoint:
    judge_id = run.judges.get(code)
    if judge_id:
        return ModelEndpoint.objects.get(pk=judge_id)
    return run.judge
