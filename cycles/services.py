"""Every write of the live cycle. A cycle moves one step at a time through `cycle_advance`, which the beat calls
every CYCLE_TICK_SECONDS (and an approval or a retry right away). Each step either finishes, waits (for a date, a
person or work it queued), or fails; its side effects and the cycle's new step commit together, so a worker killed
at any point leaves either the step as it was (and the next tick does it again) or the step done. The work a step
queues (generation, freezing, exports, evaluation) is resumed by its own app's recovery when a worker starts; the
cycle only waits for it and never queues it twice."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.queue import task
from curation.models import Dimension, Prompt, Taxonomy
from evaluation import services as ev
from evaluation.models import EvalRun
from generation import services as gen
from generation.event_services import event_source_fetch
from generation.models import Event, EventSource, GenerationRun
from llm.models import ModelEndpoint
from releases import services as releases
from releases.models import Release, ReleaseExport

from .models import Cycle, CycleLog, CyclePlan

log = logging.getLogger(__name__)

Step = Cycle.Step
STEPS: tuple[str, ...] = (Step.EVENTS, Step.GENERATE, Step.REVIEW, Step.DRAFT, Step.APPROVE, Step.FREEZE,
                          Step.EXPORT, Step.EVALUATE, Step.PUBLISH, Step.REPORT)
MAX_COUNT_PER_DIMENSION = 5000
EVENTS_PER_RUN = 10


class CycleError(ValueError):
    """A plan or an action that cannot be carried out as asked; the message says why."""


@dataclass
class Wait:
    """The step cannot finish yet: `code` names what it waits for (see cycles.selectors.WAIT_TEXT)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Done:
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)


class StepFailed(Exception):
    def __init__(self, code: str, **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params


# -- plans -------------------------------------------------------------------------------------------------------


def _day_limit(period: str) -> int:
    return 7 if period == CyclePlan.Period.WEEKLY else 28


def _clean_plan(plan: CyclePlan, targets: list[ModelEndpoint]) -> None:
    if plan.period not in CyclePlan.Period.values:
        raise CycleError(gettext("unknown period %(period)s") % {"period": repr(plan.period)})
    limit = _day_limit(plan.period)
    for day in (plan.generate_day, plan.cut_day):
        if not isinstance(day, int) or not 1 <= day <= limit:
            raise CycleError(gettext("days of the period are between 1 and %(n)s") % {"n": limit})
    if plan.generate_day > plan.cut_day:
        raise CycleError(gettext("generation must start on or before the day of the cut"))
    if plan.generation_mode not in CyclePlan.GenerationMode.values:
        raise CycleError(gettext("unknown generation mode %(mode)s") % {"mode": repr(plan.generation_mode)})
    if plan.generation_mode == CyclePlan.GenerationMode.LLM and plan.generator_id is None:
        raise CycleError(gettext("LLM generation needs a generator endpoint"))
    codes = set(Dimension.objects.filter(taxonomy_id=plan.taxonomy_id).values_list("code", flat=True))
    if not isinstance(plan.counts, Mapping):
        raise CycleError(gettext("candidates per dimension must map dimension codes to numbers"))
    unknown = sorted(set(plan.counts) - codes)
    if unknown:
        raise CycleError(gettext("no dimension %(codes)s in taxonomy %(taxonomy)s") % {
            "codes": ", ".join(unknown), "taxonomy": plan.taxonomy.code})
    for code, n in plan.counts.items():
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_COUNT_PER_DIMENSION:
            raise CycleError(gettext("the count for %(code)s must be a whole number from 0 to %(max)s") % {
                "code": code, "max": MAX_COUNT_PER_DIMENSION})
    plan.counts = {code: n for code, n in plan.counts.items() if n}
    if not plan.counts:
        raise CycleError(gettext("plan at least one candidate for one dimension"))
    if not targets:
        raise CycleError(gettext("choose the models to evaluate"))
    if plan.eval_mode not in EvalRun.Mode.values:
        raise CycleError(gettext("unknown evaluation mode %(mode)s") % {"mode": repr(plan.eval_mode)})
    if not isinstance(plan.holdout_fraction, int | float) or not 0 <= plan.holdout_fraction < 1:
        raise CycleError(gettext("the hold-out fraction must be at least 0 and below 1"))
    if not plan.name.strip():
        raise CycleError(gettext("the plan needs a name"))


@transaction.atomic
def plan_create(*, name: str, taxonomy: Taxonomy | str, counts: Mapping[str, int], targets: Iterable[ModelEndpoint],
                judge: ModelEndpoint, generator: ModelEndpoint | None = None,
                generation_mode: str = CyclePlan.GenerationMode.LLM, period: str = CyclePlan.Period.MONTHLY,
                generate_day: int = 1, cut_day: int = 25, event_lookback_days: int = 45,
                eval_mode: str = EvalRun.Mode.LIVESECBENCH, seed: int = 0, holdout_fraction: float = 0.0,
                enabled: bool = True, actor=None) -> CyclePlan:
    if isinstance(taxonomy, str):
        found = Taxonomy.objects.filter(code=taxonomy).first()
        if found is None:
            raise CycleError(gettext("no taxonomy %(code)s") % {"code": taxonomy})
        taxonomy = found
    if CyclePlan.objects.filter(name=name.strip()).exists():
        raise CycleError(gettext("a plan named %(name)s exists already") % {"name": name.strip()})
    plan = CyclePlan(name=name.strip(), taxonomy=taxonomy, counts=dict(counts), generator=generator,
                     generation_mode=generation_mode, period=period, generate_day=generate_day, cut_day=cut_day,
                     event_lookback_days=event_lookback_days, judge=judge, eval_mode=eval_mode, seed=seed,
                     holdout_fraction=holdout_fraction, enabled=enabled, created_by=actor)
    targets = list(dict.fromkeys(targets))
    _clean_plan(plan, targets)
    plan.save()
    plan.targets.set(targets)
    return plan


PLAN_FIELDS = ("name", "counts", "generator", "generation_mode", "period", "generate_day", "cut_day",
               "event_lookback_days", "judge", "eval_mode", "seed", "holdout_fraction", "enabled")


@transaction.atomic
def plan_update(*, plan: CyclePlan, actor=None, targets: Iterable[ModelEndpoint] | None = None,
                **fields: Any) -> CyclePlan:
    """Change a plan; cycles already open keep the plan they opened with."""
    plan = CyclePlan.objects.select_for_update().get(pk=plan.pk)
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise CycleError(f"unknown plan fields {sorted(unknown)}")
    for key, value in fields.items():
        setattr(plan, key, value.strip() if key == "name" else value)
    if "name" in fields and CyclePlan.objects.filter(name=plan.name).exclude(pk=plan.pk).exists():
        raise CycleError(gettext("a plan named %(name)s exists already") % {"name": plan.name})
    chosen = list(dict.fromkeys(targets)) if targets is not None else list(plan.targets.all())
    _clean_plan(plan, chosen)
    plan.save()
    if targets is not None:
        plan.targets.set(chosen)
    return plan


# -- opening cycles ----------------------------------------------------------------------------------------------


def period_of(period: str, day: dt.date) -> tuple[dt.date, dt.date, str]:
    """The period that contains `day`: its first and last day and its label (2026-12, 2026-W49)."""
    if period == CyclePlan.Period.WEEKLY:
        start = day - dt.timedelta(days=day.weekday())
        iso = start.isocalendar()
        return start, start + dt.timedelta(days=6), f"{iso.year}-W{iso.week:02d}"
    start = day.replace(day=1)
    end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return start, end, f"{day.year}-{day.month:02d}"


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _snapshot(plan: CyclePlan) -> dict[str, Any]:
    return {
        "counts": dict(plan.counts), "generation_mode": plan.generation_mode, "generator": plan.generator_id,
        "targets": sorted(plan.targets.values_list("pk", flat=True)), "judge": plan.judge_id,
        "eval_mode": plan.eval_mode, "seed": plan.seed, "holdout_fraction": plan.holdout_fraction,
        "event_lookback_days": plan.event_lookback_days, "taxonomy": plan.taxonomy_id,
    }


@transaction.atomic
def cycle_open(*, plan: CyclePlan, day: dt.date | None = None, actor=None) -> Cycle:
    """The plan's cycle for the period of `day` (today by default), opened now if it is not open yet."""
    day = day or timezone.localdate()
    start, end, label = period_of(plan.period, day)
    existing = Cycle.objects.filter(plan=plan, period_start=start).first()
    if existing is not None:
        return existing
    plan = CyclePlan.objects.select_for_update().get(pk=plan.pk)
    cycle, created = Cycle.objects.get_or_create(plan=plan, period_start=start, defaults={
        "label": label, "period_end": end, "plan_copy": _snapshot(plan),
        "generate_at": _day_start(start + dt.timedelta(days=plan.generate_day - 1)),
        "cut_at": _day_start(min(start + dt.timedelta(days=plan.cut_day - 1), end)),
    })
    if created:
        _log(cycle, Step.EVENTS, CycleLog.Kind.STARTED, "opened", {"label": label}, actor=actor)
        _enqueue_advance(cycle.pk)
    return cycle


@transaction.atomic
def cycle_open_next(*, plan: CyclePlan, actor=None) -> Cycle:
    """Open the period after the plan's latest cycle (or the current period) now, generation starting at once:
    an extra release between the scheduled ones. Refused while the plan has a cycle open."""
    plan = CyclePlan.objects.select_for_update().get(pk=plan.pk)
    latest = Cycle.objects.filter(plan=plan).order_by("-period_start").first()
    if latest is not None and latest.is_open:
        raise CycleError(gettext("cycle %(label)s of this plan is still open") % {"label": latest.label})
    day = max(latest.period_end + dt.timedelta(days=1), timezone.localdate()) if latest else timezone.localdate()
    cycle = cycle_open(plan=plan, day=day, actor=actor)
    now = timezone.now()
    # Generation now; a cut day already past moves to the period's end, so the candidates get their review.
    cycle.generate_at = min(cycle.generate_at, now)
    if cycle.cut_at <= now:
        cycle.cut_at = _day_start(cycle.period_end + dt.timedelta(days=1)) - dt.timedelta(minutes=1)
    cycle.save(update_fields=["generate_at", "cut_at", "updated_at"])
    return cycle


def cycles_open_due(*, now: dt.datetime | None = None) -> list[Cycle]:
    """What the beat does first: every enabled plan gets the cycle of the current period."""
    day = timezone.localdate(now) if now else timezone.localdate()
    return [cycle_open(plan=plan, day=day) for plan in CyclePlan.objects.filter(enabled=True)]


# -- moving a cycle on -------------------------------------------------------------------------------------------


def _log(cycle: Cycle, step: str, kind: str, code: str = "", params: dict | None = None, actor=None) -> None:
    CycleLog.objects.create(cycle=cycle, step=step, kind=kind, message=code, params=params or {}, actor=actor)


def _enqueue_advance(cycle_id: int) -> None:
    cycle_advance_task = task("cycles.tasks.cycle_advance_task")

    transaction.on_commit(lambda: cycle_advance_task.delay(cycle_id))


def _retry_delay(attempts: int) -> float:
    return min(settings.CYCLE_RETRY_SECONDS * 2 ** max(attempts - 1, 0), 3600.0)


def cycle_advance(*, cycle_id: int, now: dt.datetime | None = None) -> Cycle | None:
    """Take the cycle as far as it can go now. A cycle another worker is moving is left to it."""
    now = now or timezone.now()
    with transaction.atomic():
        cycle = (Cycle.objects.select_for_update(skip_locked=True, of=("self",)).select_related("plan")
                 .filter(pk=cycle_id).first())
        if cycle is None or not cycle.is_open:
            return cycle
        if cycle.status == Cycle.Status.FAILED and (cycle.retry_at is None or cycle.retry_at > now):
            return cycle
        while cycle.step != Step.DONE:
            step = cycle.step
            try:
                with transaction.atomic():
                    outcome = HANDLERS[step](cycle, now)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the cycle and retried
                _fail(cycle, step, exc, now)
                break
            if isinstance(outcome, Wait):
                wait = {"code": outcome.code, "params": outcome.params}
                if cycle.status != Cycle.Status.WAITING or cycle.wait.get("code") != outcome.code:
                    _log(cycle, step, CycleLog.Kind.WAITING, outcome.code, outcome.params)
                cycle.status, cycle.wait, cycle.error = Cycle.Status.WAITING, wait, ""
                break
            _log(cycle, step, CycleLog.Kind.DONE, outcome.code, outcome.params)
            cycle.step = STEPS[STEPS.index(step) + 1] if step != STEPS[-1] else Step.DONE
            cycle.status, cycle.wait, cycle.error, cycle.attempts, cycle.retry_at = (
                Cycle.Status.ACTIVE, {}, "", 0, None)
            if cycle.step == Step.DONE:
                cycle.status, cycle.finished_at = Cycle.Status.DONE, now
        cycle.save()
    return cycle


def _fail(cycle: Cycle, step: str, exc: Exception, now: dt.datetime) -> None:
    if isinstance(exc, StepFailed):
        code, params, text = exc.code, exc.params, ""
    else:
        log.exception("cycle %s: step %s failed", cycle.pk, step)
        code, params, text = "error", {}, f"{type(exc).__name__}: {exc}"[:2000]
    cycle.attempts += 1
    cycle.status, cycle.wait = Cycle.Status.FAILED, {"code": code, "params": params}
    cycle.error = text
    automatic = cycle.attempts < settings.CYCLE_MAX_ATTEMPTS
    cycle.retry_at = now + dt.timedelta(seconds=_retry_delay(cycle.attempts)) if automatic else None
    _log(cycle, step, CycleLog.Kind.FAILED, code, {**params, "error": text, "attempt": cycle.attempts,
                                                    "retry": automatic})


def cycles_tick(*, now: dt.datetime | None = None) -> list[int]:
    """The beat entry: open the cycles of the current period, then move every open cycle on."""
    cycles_open_due(now=now)
    moved = []
    for cycle_id in Cycle.objects.filter(status__in=(Cycle.Status.ACTIVE, Cycle.Status.WAITING, Cycle.Status.FAILED)
                                         ).values_list("pk", flat=True):
        cycle_advance(cycle_id=cycle_id, now=now)
        moved.append(cycle_id)
    return moved


# -- what people do ----------------------------------------------------------------------------------------------


def _locked(cycle: Cycle) -> Cycle:
    cycle = Cycle.objects.select_for_update(of=("self",)).select_related("plan").get(pk=cycle.pk)
    if not cycle.is_open:
        raise CycleError(gettext("cycle %(label)s is closed") % {"label": cycle.label})
    return cycle


@transaction.atomic
def cycle_approve(*, cycle: Cycle, actor) -> Cycle:
    """The maintainer's go for the cut: the cycle freezes, exports, evaluates and publishes on its own."""
    cycle = _locked(cycle)
    if cycle.step != Step.APPROVE:
        raise CycleError(gettext("cycle %(label)s has no draft waiting for approval") % {"label": cycle.label})
    cycle.approved_by, cycle.approved_at = actor, timezone.now()
    cycle.save(update_fields=["approved_by", "approved_at", "updated_at"])
    _log(cycle, Step.APPROVE, CycleLog.Kind.ACTION, "approved", {"release": cycle.release.version}, actor=actor)
    _enqueue_advance(cycle.pk)
    return cycle


@transaction.atomic
def cycle_cut_now(*, cycle: Cycle, actor) -> Cycle:
    """Cut before the planned date (reviews are done early): the draft is made on the next step."""
    cycle = _locked(cycle)
    if cycle.step != Step.REVIEW:
        raise CycleError(gettext("cycle %(label)s is not in review: only a cycle whose candidates are in review "
                                 "can be cut early") % {"label": cycle.label})
    cycle.cut_at = min(cycle.cut_at, timezone.now())
    cycle.save(update_fields=["cut_at", "updated_at"])
    _log(cycle, cycle.step, CycleLog.Kind.ACTION, "cut_now", actor=actor)
    _enqueue_advance(cycle.pk)
    return cycle


@transaction.atomic
def cycle_retry(*, cycle: Cycle, actor) -> Cycle:
    cycle = _locked(cycle)
    if cycle.status != Cycle.Status.FAILED:
        raise CycleError(gettext("only a failed step can be retried"))
    cycle.attempts, cycle.retry_at, cycle.status = 0, timezone.now(), Cycle.Status.ACTIVE
    cycle.save(update_fields=["attempts", "retry_at", "status", "updated_at"])
    _log(cycle, cycle.step, CycleLog.Kind.RETRIED, "retry", actor=actor)
    _enqueue_advance(cycle.pk)
    return cycle


@transaction.atomic
def cycle_cancel(*, cycle: Cycle, actor) -> Cycle:
    """Stop the cycle. What it made stays (a draft can be deleted from the release page); its period cannot be
    opened again."""
    cycle = _locked(cycle)
    cycle.status, cycle.finished_at = Cycle.Status.CANCELLED, timezone.now()
    cycle.save(update_fields=["status", "finished_at", "updated_at"])
    _log(cycle, cycle.step, CycleLog.Kind.ACTION, "cancelled", actor=actor)
    return cycle


# -- the steps ---------------------------------------------------------------------------------------------------


def cycle_prompts(cycle: Cycle):
    """The candidates the cycle's generation runs made."""
    run_ids = list(cycle.generation_runs.values_list("pk", flat=True))
    return Prompt.objects.filter(provenance__run__in=run_ids) if run_ids else Prompt.objects.none()


def _step_events(cycle: Cycle, now: dt.datetime) -> Done:
    """Fetch the sources not fetched since the cycle opened, then take the period's events no earlier cycle of
    the plan used."""
    stale = [s for s in EventSource.objects.filter(enabled=True, kind__in=EventSource.FETCHED)
             if s.last_fetched_at is None or s.last_fetched_at < cycle.opened_at]
    failed = []
    for source in stale:
        if event_source_fetch(source=source).error:
            failed.append(source.name)
    since = cycle.period_start - dt.timedelta(days=cycle.plan_copy.get("event_lookback_days", 45))
    events = (Event.objects.filter(date__gte=since, date__lte=timezone.localdate(now))
              .exclude(cycles__plan_id=cycle.plan_id))
    cycle.events.add(*events)
    return Done("events", {"events": cycle.events.count(), "failed_sources": failed})


def _events_for(cycle: Cycle, dimension: Dimension) -> list[Event]:
    events = list(cycle.events.prefetch_related("dimensions").order_by("-date", "pk"))
    touching = [e for e in events if any(d.pk == dimension.pk for d in e.dimensions.all())]
    return (touching or events)[:EVENTS_PER_RUN]


def _step_generate(cycle: Cycle, now: dt.datetime) -> Done | Wait:
    if now < cycle.generate_at:
        return Wait("generate_at", {"at": cycle.generate_at.isoformat()})
    plan = cycle.plan_copy
    runs = list(cycle.generation_runs.all())
    if not runs:
        generator = ModelEndpoint.objects.filter(pk=plan.get("generator")).first()
        dims = {d.code: d for d in Dimension.objects.filter(taxonomy_id=plan["taxonomy"], code__in=plan["counts"])}
        skipped = []
        for code, count in sorted(plan["counts"].items()):
            if code not in dims:
                skipped.append(code)
                continue
            try:
                if plan["generation_mode"] == CyclePlan.GenerationMode.LLM:
                    if generator is None:
                        raise StepFailed("generator_gone")
                    run = gen.run_create(mode=GenerationRun.Mode.LLM, count=count, dimension=dims[code],
                                         events=_events_for(cycle, dims[code]), endpoint=generator,
                                         seed=plan.get("seed", 0))
                else:
                    run = gen.run_create(mode=GenerationRun.Mode.MUTATION, count=count, dimension=dims[code],
                                         seed=plan.get("seed", 0) + cycle.pk)
            except gen.RunError:
                skipped.append(code)  # nothing to mutate in that dimension yet
                continue
            runs.append(run)
        if not runs:
            raise StepFailed("nothing_to_generate", dimensions=", ".join(skipped))
        cycle.generation_runs.add(*runs)
        return Wait("generating", {"done": 0, "total": len(runs)})
    done = [r for r in runs if r.status == GenerationRun.Status.SUCCEEDED]
    broken = [r for r in runs if r.status in (GenerationRun.Status.FAILED, GenerationRun.Status.CANCELLED)]
    if broken:
        if cycle.attempts + 1 >= settings.CYCLE_MAX_ATTEMPTS:
            raise StepFailed("generation_failed", runs=", ".join(str(r.pk) for r in broken))
        for run in broken:
            gen.run_resume(run=run)
        cycle.attempts += 1
        _log(cycle, Step.GENERATE, CycleLog.Kind.RETRIED, "generation_resumed",
             {"runs": ", ".join(str(r.pk) for r in broken)})
    if len(done) < len(runs):
        return Wait("generating", {"done": len(done), "total": len(runs)})
    return Done("generated", {"candidates": cycle_prompts(cycle).count(), "runs": len(runs)})


def _step_review(cycle: Cycle, now: dt.datetime) -> Done | Wait:
    prompts = cycle_prompts(cycle)
    open_ = prompts.filter(status__in=(Prompt.Status.CANDIDATE, Prompt.Status.IN_REVIEW)).count()
    if now < cycle.cut_at:
        return Wait("review", {"open": open_, "total": prompts.count(), "cut": cycle.cut_at.isoformat()})
    approved = prompts.filter(status=Prompt.Status.APPROVED).count()
    return Done("reviewed", {"approved": approved, "open": open_})


def _step_draft(cycle: Cycle, now: dt.datetime) -> Done:
    if cycle.release_id is None:
        try:
            draft = releases.release_create_draft(
                taxonomy=Taxonomy.objects.get(pk=cycle.plan_copy["taxonomy"]),
                title=f"{cycle.plan.name} {cycle.label}", holdout_fraction=cycle.plan_copy.get("holdout_fraction", 0),
                notes=gettext("Cut by cycle %(label)s") % {"label": cycle.label}, require_items=True,
            )
        except releases.ReleaseError as exc:
            raise StepFailed("draft_refused", reason=str(exc)) from exc
        cycle.release = draft
    return Done("drafted", {"release": cycle.release.version})


def _step_approve(cycle: Cycle, now: dt.datetime) -> Done | Wait:
    if cycle.approved_at is None:
        return Wait("approval", {"release": cycle.release.version})
    return Done("approved", {"release": cycle.release.version})


def _step_freeze(cycle: Cycle, now: dt.datetime) -> Done | Wait:
    release = Release.objects.get(pk=cycle.release_id)
    if release.is_frozen:
        return Done("frozen", {"release": release.version, "items": release.item_count})
    if release.status == Release.Status.DRAFT and release.freeze_error:
        if cycle.attempts + 1 >= settings.CYCLE_MAX_ATTEMPTS:
            raise StepFailed("freeze_failed", reason=release.freeze_error)
        cycle.attempts += 1
        _log(cycle, Step.FREEZE, CycleLog.Kind.RETRIED, "freeze_restarted", {"reason": release.freeze_error})
    if release.status == Release.Status.DRAFT:
        releases.release_freeze_start(release_id=release.pk, actor=cycle.approved_by)
    release.refresh_from_db()
    return Wait("freezing", {"done": release.progress_done, "total": release.progress_total})


EXPORT_SCOPES = (ReleaseExport.Scope.PUBLIC, ReleaseExport.Scope.FULL)


def _step_export(cycle: Cycle, now: dt.datetime) -> Done | Wait:
    rows = list(ReleaseExport.objects.filter(release_id=cycle.release_id, scope__in=EXPORT_SCOPES))
    missing = [s for s in EXPORT_SCOPES if not any(r.scope == s for r in rows)]
    failed = sorted({r.scope for r in rows if r.status == ReleaseExport.Status.FAILED})
    if failed:
        if cycle.attempts + 1 >= settings.CYCLE_MAX_ATTEMPTS:
            raise StepFailed("export_failed", reason="; ".join(r.error for r in rows if r.error)[:500])
        cycle.attempts += 1
        _log(cycle, Step.EXPORT, CycleLog.Kind.RETRIED, "export_restarted", {"scopes": ", ".join(failed)})
    for scope in [*missing, *failed]:
        releases.release_export_start(release_id=cycle.release_id, scope=scope, actor=cycle.approved_by,
                                      force=scope in failed)
    if missing or failed or any(r.status != ReleaseExport.Status.DONE for r in rows):
        done = sum(r.status == ReleaseExport.Status.DONE for r in rows)
        return Wait("exporting", {"done": done, "total": len(releases.EXPORT_FORMATS) * len(EXPORT_SCOPES)})
    return Done("exported", {"files": len(rows)})


def _step_evaluate(cycle: Cycle, now: dt.datetime) -> Done | Wait:
    plan = cycle.plan_copy
    if cycle.eval_run_id is None:
        targets = list(ModelEndpoint.objects.filter(pk__in=plan["targets"]).order_by("pk"))
        judge = ModelEndpoint.objects.filter(pk=plan["judge"]).first()
        if judge is None or len(targets) != len(plan["targets"]):
            raise StepFailed("endpoint_gone")
        try:
            run = ev.run_create(release=Release.objects.get(pk=cycle.release_id), targets=targets, judge=judge,
                                mode=plan["eval_mode"], seed=plan.get("seed", 0), actor=cycle.approved_by)
        except ev.EvalError as exc:
            raise StepFailed("evaluation_refused", reason=str(exc)) from exc
        cycle.eval_run = run
        return Wait("evaluating", {"answers": 0, "answers_total": run.answers_total, "matches": 0,
                                   "matches_total": run.matches_total})
    run = EvalRun.objects.get(pk=cycle.eval_run_id)
    if run.status == EvalRun.Status.SUCCEEDED:
        return Done("evaluated", {"run": run.pk})
    if run.status in (EvalRun.Status.FAILED, EvalRun.Status.CANCELLED):
        if cycle.attempts + 1 >= settings.CYCLE_MAX_ATTEMPTS:
            raise StepFailed("evaluation_failed", reason=run.error[:500])
        ev.run_resume(run=run, actor=cycle.approved_by)
        cycle.attempts += 1
        _log(cycle, Step.EVALUATE, CycleLog.Kind.RETRIED, "evaluation_resumed", {"run": run.pk})
    return Wait("evaluating", {"answers": run.answers_done, "answers_total": run.answers_total,
                               "matches": run.matches_done, "matches_total": run.matches_total})


def _step_publish(cycle: Cycle, now: dt.datetime) -> Done:
    run = EvalRun.objects.get(pk=cycle.eval_run_id)
    if run.published_at is None:
        ev.run_publish(run=run, actor=cycle.approved_by)
    return Done("published", {"run": run.pk})


def _step_report(cycle: Cycle, now: dt.datetime) -> Done:
    from django.utils import translation

    from evaluation.report import render_markdown, report_data

    data = report_data(Release.objects.select_related("taxonomy", "parent").get(pk=cycle.release_id))
    with translation.override("zh-hans"):
        cycle.report_zh = render_markdown(data, "zh-hans")
    with translation.override("en"):
        cycle.report_en = render_markdown(data, "en")
    return Done("reported", {"release": data["version"]})


HANDLERS: dict[str, Callable[[Cycle, dt.datetime], Done | Wait]] = {
    Step.EVENTS: _step_events, Step.GENERATE: _step_generate, Step.REVIEW: _step_review, Step.DRAFT: _step_draft,
    Step.APPROVE: _step_approve, Step.FREEZE: _step_freeze, Step.EXPORT: _step_export,
    Step.EVALUATE: _step_evaluate, Step.PUBLISH: _step_publish, Step.REPORT: _step_report,
}
