"""Reads of the evaluation app: runs, leaderboards, drill-downs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from curation.models import Release

from .models import Answer, EvalRun, EvalTarget, Match


def runs_list(*, release: Release | None = None) -> QuerySet[EvalRun]:
    qs = EvalRun.objects.select_related("release", "judge", "created_by")
    if release is not None:
        qs = qs.filter(release=release)
    return qs.order_by("-created_at", "-pk")


def run_get(*, pk: int) -> EvalRun:
    return EvalRun.objects.select_related("release", "release__taxonomy", "judge", "created_by").get(pk=pk)


def leaderboard_run(*, release: Release) -> EvalRun | None:
    """The run a maintainer published for the release, else its latest finished run."""
    finished = EvalRun.objects.filter(release=release, status=EvalRun.Status.SUCCEEDED)
    return (finished.filter(published_at__isnull=False).first()
            or finished.order_by("-finished_at", "-pk").first())


@dataclass
class LeaderRow:
    target_id: int
    name: str
    rank: int
    overall: float
    scores: dict[str, float | None]
    rank_change: int | None          # positive: moved up against the parent release's board; None: new there
    blocked: int
    empty: int
    answer_errors: int
    invalid: int
    holdout_gap: float | None
    is_reasoning: bool = False


@dataclass
class Leaderboard:
    release: Release
    run: EvalRun | None
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    rows: list[LeaderRow] = field(default_factory=list)
    parent_version: str | None = None
    parent_run: EvalRun | None = None

    @property
    def published(self) -> bool:
        return self.run is not None and self.run.published_at is not None


def _parent_ranks(release: Release) -> tuple[EvalRun | None, dict[str, int]]:
    if release.parent_id is None:
        return None, {}
    run = leaderboard_run(release=release.parent)
    if run is None or not run.results:
        return run, {}
    names = {str(m["id"]): m["name"] for m in run.results.get("models", [])}
    return run, {names[k]: r for k, r in run.results.get("ranks", {}).items() if k in names}


def leaderboard_for_run(run: EvalRun) -> Leaderboard:
    release = run.release
    board = Leaderboard(release=release, run=run)
    results = run.results or {}
    board.dimensions = [d for d in results.get("dimensions", [])]
    parent_run, parent = _parent_ranks(release)
    board.parent_run = parent_run
    board.parent_version = release.parent.version if release.parent_id else None
    for model in results.get("models", []):
        key = str(model["id"])
        rank = results["ranks"][key]
        answers = results.get("answers", {}).get(key, {})
        board.rows.append(LeaderRow(
            target_id=model["id"], name=model["name"], rank=rank, overall=results["overall"][key],
            scores={d["code"]: d["scores"].get(key) for d in board.dimensions},
            rank_change=(parent[model["name"]] - rank) if model["name"] in parent else None,
            blocked=answers.get("blocked", 0), empty=answers.get("empty", 0), answer_errors=answers.get("error", 0),
            invalid=results.get("invalid", {}).get(key, 0), holdout_gap=results.get("holdout_gap", {}).get(key),
            is_reasoning=model.get("is_reasoning", False),
        ))
    board.rows.sort(key=lambda r: r.rank)
    return board


def leaderboard(*, release: Release) -> Leaderboard:
    run = leaderboard_run(release=release)
    if run is None:
        return Leaderboard(release=release, run=None)
    return leaderboard_for_run(run)


def target_get(*, run: EvalRun, target_id: int) -> EvalTarget:
    return run.targets.select_related("endpoint").get(pk=target_id)


@dataclass
class DrillItem:
    item: Any
    answer: Answer | None
    matches: list[Match]


def target_drilldown(*, run: EvalRun, target: EvalTarget, include_holdout: bool, dimension: str | None = None,
                     limit: int | None = None) -> list[DrillItem]:
    """Each item with the target's answer and every verdict it took part in (opponent and raw judge reply)."""
    from .services import question_hash

    items = run.release.items.order_by("dimension_code", "pk")
    if not include_holdout:
        items = items.filter(is_holdout=False)
    if dimension:
        items = items.filter(dimension_code=dimension)
    if limit:
        items = items[:limit]
    items = list(items)
    hashes = {it.pk: question_hash(it.text) for it in items}
    answers = {a.content_hash: a for a in Answer.objects.filter(
        fingerprint=target.fingerprint, params_hash=run.params_hash, content_hash__in=set(hashes.values()))}
    matches: dict[int, list[Match]] = {}
    for m in (Match.objects.filter(run=run, item_id__in=[it.pk for it in items])
              .filter(Q(target_a=target) | Q(target_b=target))
              .select_related("target_a", "target_b").order_by("round_no", "seq")):
        matches.setdefault(m.item_id, []).append(m)
    return [DrillItem(item=it, answer=answers.get(hashes[it.pk]), matches=matches.get(it.pk, [])) for it in items]
