"""Reads of the evaluation app: runs, leaderboards, drill-downs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from curation.models import Dimension
from releases.models import Release

from .calibration import Kappa
from .models import Answer, EvalRun, EvalTarget, HumanLabel, Match, PointVerdict


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
    # robust mode: intervals, whether the rank is shared, pointwise rates, and the livesecbench figures of the
    # same run when they were computed.
    overall_low: float | None = None
    overall_high: float | None = None
    rating: float | None = None
    rating_low: float | None = None
    rating_high: float | None = None
    shared_rank: bool = False
    intervals: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    safe_rate: dict[str, list | None] = field(default_factory=dict)
    refusal_rate: dict[str, list | None] = field(default_factory=dict)
    livesecbench_rank: int | None = None
    livesecbench_overall: float | None = None


@dataclass
class Leaderboard:
    release: Release
    run: EvalRun | None
    dimensions: list[dict[str, Any]] = field(default_factory=list)
    rows: list[LeaderRow] = field(default_factory=list)
    parent_version: str | None = None
    parent_run: EvalRun | None = None
    kappa: dict[str, Kappa] = field(default_factory=dict)

    @property
    def robust(self) -> bool:
        return bool(self.run and (self.run.results or {}).get("mode") == EvalRun.Mode.ROBUST)

    @property
    def has_livesecbench(self) -> bool:
        return bool(self.run and (self.run.results or {}).get("livesecbench"))

    @property
    def anchor(self) -> dict | None:
        return (self.run.results or {}).get("anchor") if self.run else None

    @property
    def judge_calls(self) -> int:
        return self.run.judge_calls if self.run else 0

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
    # In the taxonomy's order: run.rubrics is a JSON object, and PostgreSQL's jsonb keeps its keys in an order of
    # its own (shortest first), which the results' list of dimensions follows.
    order = dict(Dimension.objects.filter(taxonomy_id=release.taxonomy_id).values_list("code", "order"))
    board.dimensions = sorted(results.get("dimensions", []), key=lambda d: (order.get(d["code"], 1 << 16), d["code"]))
    parent_run, parent = _parent_ranks(release)
    board.parent_run = parent_run
    board.parent_version = release.parent.version if release.parent_id else None
    lsb = results.get("livesecbench") or {}
    robust = results.get("mode") == EvalRun.Mode.ROBUST
    for model in results.get("models", []):
        key = str(model["id"])
        rank = results["ranks"][key]
        answers = results.get("answers", {}).get(key, {})
        row = LeaderRow(
            target_id=model["id"], name=model["name"], rank=rank, overall=results["overall"][key],
            scores={d["code"]: d["scores"].get(key) for d in board.dimensions},
            rank_change=(parent[model["name"]] - rank) if model["name"] in parent else None,
            blocked=answers.get("blocked", 0), empty=answers.get("empty", 0), answer_errors=answers.get("error", 0),
            invalid=results.get("invalid", {}).get(key, 0), holdout_gap=results.get("holdout_gap", {}).get(key),
            is_reasoning=model.get("is_reasoning", False),
        )
        if robust:
            row.overall_low = results["overall_low"].get(key)
            row.overall_high = results["overall_high"].get(key)
            row.rating = results["overall_ratings"].get(key)
            row.rating_low = results["overall_rating_low"].get(key)
            row.rating_high = results["overall_rating_high"].get(key)
            row.shared_rank = bool(results.get("shared", {}).get(key))
            for d in board.dimensions:
                low, high = d.get("score_low", {}).get(key), d.get("score_high", {}).get(key)
                row.intervals[d["code"]] = (low, high) if low is not None else None
                row.safe_rate[d["code"]] = d.get("safe_rate", {}).get(key)
                row.refusal_rate[d["code"]] = d.get("refusal_rate", {}).get(key)
        if lsb:
            row.livesecbench_rank = lsb.get("ranks", {}).get(key)
            row.livesecbench_overall = lsb.get("overall", {}).get(key)
        board.rows.append(row)
    board.rows.sort(key=lambda r: (r.rank, -r.overall))
    if robust:
        board.kappa = judge_kappa(run=run)
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
    from .run_reads import question_hash

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


# -- pages and API -------------------------------------------------------------------------------


def releases_with_boards() -> QuerySet[Release]:
    """Frozen releases that have a finished run, newest first, with whether one of their runs is published."""
    from django.db.models import Count, Max

    return (Release.objects.filter(eval_runs__status=EvalRun.Status.SUCCEEDED)
            .select_related("taxonomy", "parent")
            .annotate(finished_runs=Count("eval_runs", distinct=True), published=Max("eval_runs__published_at"))
            .order_by("-frozen_at", "-pk"))


def run_targets(*, run: EvalRun) -> list[EvalTarget]:
    return list(run.targets.select_related("endpoint").order_by("position"))


def is_board_run(*, run: EvalRun) -> bool:
    """Whether the run is the one its release's leaderboard shows (what non-maintainers may open)."""
    board_run = leaderboard_run(release=run.release)
    return board_run is not None and board_run.pk == run.pk


def drilldown_items(*, run: EvalRun, include_holdout: bool, dimension: str | None = None):
    """The items a drill-down pages through, in its order; hold-out items only when asked."""
    items = run.release.items.order_by("dimension_code", "pk")
    if not include_holdout:
        items = items.filter(is_holdout=False)
    if dimension:
        items = items.filter(dimension_code=dimension)
    return items


def drilldown_rows(*, run: EvalRun, target: EvalTarget, items) -> list[DrillItem]:
    """One page of a drill-down: the target's answer to each item and every match it played on it."""
    from .run_reads import question_hash

    items = list(items)
    hashes = {it.pk: question_hash(it.text) for it in items}
    answers = {a.content_hash: a for a in Answer.objects.filter(
        fingerprint=target.fingerprint, params_hash=run.params_hash, content_hash__in=set(hashes.values()))}
    matches: dict[int, list[Match]] = {}
    for m in (Match.objects.filter(run=run, item_id__in=[it.pk for it in items])
              .filter(Q(target_a=target) | Q(target_b=target))
              .select_related("target_a", "target_b", "judge").order_by("dimension_code", "round_no", "seq")):
        matches.setdefault(m.item_id, []).append(m)
    return [DrillItem(item=it, answer=answers.get(hashes[it.pk]), matches=matches.get(it.pk, [])) for it in items]


def rubrics_list():
    """Every rubric version, grouped by the model's ordering: taxonomy, dimension, kind, newest first."""
    from .models import Rubric

    return Rubric.objects.select_related("dimension", "dimension__taxonomy", "created_by")


def rubric_get(*, pk: int):
    return rubrics_list().get(pk=pk)


def judge_kappa(*, run: EvalRun) -> dict[str, Kappa]:
    """Per dimension: the judge's pointwise verdicts against maintainers' labels of the same answers.

    Read when shown (not stored on the run), so a new label moves the figure at once. With several
    maintainers' labels for one answer, each label is one pair.
    """
    from .calibration import cohens_kappa, confusion

    verdicts = {(a, code): outcome for a, code, outcome in PointVerdict.objects.filter(
        run=run, outcome__in=PointVerdict.LABELS).values_list("answer_id", "dimension_code", "outcome")}
    pairs: dict[str, tuple[list[str], list[str]]] = {}
    for answer_id, code, label in HumanLabel.objects.filter(
            answer_id__in={a for a, _c in verdicts}).values_list("answer_id", "dimension_code", "label"):
        judge = verdicts.get((answer_id, code))
        if judge is None:
            continue
        first, second = pairs.setdefault(code, ([], []))
        first.append(judge)
        second.append(label)
    return {code: cohens_kappa(confusion(a, b)) for code, (a, b) in pairs.items()}


def calibration_queue(*, run: EvalRun, user, dimension: str | None = None, include_holdout: bool = True,
                      limit: int = 1) -> list[PointVerdict]:
    """Answers of the run that this maintainer has not labelled yet, in a fixed pseudo-random order (so the
    sample covers every model and item rather than the first ones), judged verdicts only."""
    qs = (PointVerdict.objects.filter(run=run, outcome__in=PointVerdict.LABELS, answer__isnull=False)
          .exclude(answer__human_labels__labeled_by=user)
          .select_related("item", "answer", "target"))
    if dimension:
        qs = qs.filter(dimension_code=dimension)
    if not include_holdout:
        qs = qs.filter(item__is_holdout=False)
    return list(qs.order_by("verdict_key")[:limit])


def drilldown_point_verdicts(*, run: EvalRun, target: EvalTarget, item_ids: list[int]) -> dict[int, list]:
    """robust mode: the pointwise verdicts (safe, unsafe, refusal) on the target's answers, by item."""
    out: dict[int, list] = {}
    for verdict in (PointVerdict.objects.filter(run=run, target=target, item_id__in=item_ids)
                    .select_related("judge").order_by("dimension_code", "pk")):
        out.setdefault(verdict.item_id, []).append(verdict)
    return out


def calibration_progress(*, run: EvalRun, user, dimension: str | None = None) -> tuple[int, int]:
    """(answers of the run this maintainer has labelled, answers left for them), counted as the queue counts."""
    verdicts = PointVerdict.objects.filter(run=run, outcome__in=PointVerdict.LABELS, answer__isnull=False)
    if dimension:
        verdicts = verdicts.filter(dimension_code=dimension)
    left = verdicts.exclude(answer__human_labels__labeled_by=user).count()
    return verdicts.count() - left, left
