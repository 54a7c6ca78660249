"""Every write of the evaluation app: rubrics, runs, their shards, answers and matches.

A run is planned at creation as answer shards (a target × a chunk of items). When every answer shard is done,
each dimension's Swiss tournament is played round by round: `run_advance` pairs the next round of a dimension
from the ratings of the rounds before it (replayed from the stored verdicts) and creates the round's shard and
its matches in one transaction, so the pairing history is in the database before any judge call. A shard is
executed by one task holding a lease; its thread pool only does HTTP, every database write is made by the
task's own thread, in batches. A shard executed again after a crash sends only what is missing: answers are
content-addressed and shared by every run, matches keep their verdicts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from core import bulk
from core.leases import ActiveSet, new_owner, owner_dead
from core.queue import task
from curation.models import Dimension
from curation.text import UnstorableText, check_storable, replace_unstorable
from llm.client import BLOCKED, EMPTY, ERROR, LLMResult
from llm.models import ModelEndpoint
from llm.ratelimit import Limiter, LimiterTimeout
from releases.models import Release, ReleaseItem

from . import livesecbench as lsb
from . import robust
from . import rubrics as rb
from .models import Answer, EvalRun, EvalTarget, HumanLabel, Match, PointVerdict, Rubric, Shard
from .run_reads import answers_for, dimension_rounds, judge_for, question_hash, target_pool

log = logging.getLogger(__name__)

Run = EvalRun
MAX_TARGETS = 64
FLUSH_EVERY = 64          # results written per transaction at most
FLUSH_SECONDS = 1.0       # and at least this often while calls are in flight
SLOT_WAIT_SECONDS = 600.0  # a pool thread's wait for a concurrency slot, as the client's own per call
MISSING_ANSWER = "None"   # what the judge sees for a blocked, empty or failed answer (LiveSecBench: str(None))
MISSING_REFERENCE = "（无）"


class EvalError(ValueError):
    """A run or rubric that cannot be created or changed as asked; the message says why."""


def _check_storable(text: str, field: str) -> str:
    try:
        return check_storable(text, field=field)
    except UnstorableText as exc:
        raise EvalError(exc.message())


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _sha(obj: Any) -> str:
    return hashlib.sha256((obj if isinstance(obj, str) else _canon(obj)).encode("utf-8")).hexdigest()


# -- rubrics -----------------------------------------------------------------------------------


@transaction.atomic
def rubrics_seed_defaults() -> int:
    """Give every dimension without a rubric of some kind its first (Chinese) version of that kind."""
    have = set(Rubric.objects.values_list("dimension_id", "kind"))
    created = 0
    for dim in Dimension.objects.select_related("taxonomy"):
        reasoning = dim.code in rb.REASONING_DIMENSIONS
        shows = Rubric.Shows.REASONING if reasoning else Rubric.Shows.ANSWERS
        texts = {
            Rubric.Kind.PAIRWISE: rb.default_pairwise(dim.code, dim.name_zh, uses_reference=dim.uses_reference_answers,
                                                      reasoning=reasoning),
            Rubric.Kind.PAIRWISE_TIE: rb.default_pairwise(dim.code, dim.name_zh, ties=True, reasoning=reasoning,
                                                          uses_reference=dim.uses_reference_answers),
        }
        if not reasoning:  # a reasoning trace is compared, never judged alone
            texts[Rubric.Kind.POINTWISE] = rb.default_pointwise(dim.code, dim.name_zh,
                                                                uses_reference=dim.uses_reference_answers)
        for kind, text in texts.items():
            if (dim.pk, kind) in have:
                continue
            Rubric.objects.create(dimension=dim, kind=kind, version=1, notes="default", text=text,
                                  shows=Rubric.Shows.ANSWERS if kind == Rubric.Kind.POINTWISE else shows)
            created += 1
    return created


def rubric_current(*, dimension: Dimension, kind: str = Rubric.Kind.PAIRWISE) -> Rubric:
    qs = Rubric.objects.filter(dimension=dimension, kind=kind).order_by("-version")
    rubric = qs.first()
    if rubric is None:
        rubrics_seed_defaults()
        rubric = qs.first()
    if rubric is None:
        raise EvalError(gettext("no %(kind)s rubric for dimension %(code)s") % {"kind": kind, "code": dimension.code})
    return rubric


def _check_rubric_text(text: str, shows: str, kind: str = Rubric.Kind.PAIRWISE) -> str:
    if not isinstance(text, str) or not text.strip():
        raise EvalError(gettext("the rubric text is empty"))
    _check_storable(text, gettext_lazy("Rubric"))
    if len(text) > 20000:
        raise EvalError(gettext("the rubric is too long (20,000 characters at most)"))
    found = rb.placeholders_in(text)
    if kind == Rubric.Kind.POINTWISE:
        needed = {"question", "answer"}
    elif shows == Rubric.Shows.REASONING:
        needed = {"question", "reasoning_a", "reasoning_b"}
    else:
        needed = {"question", "answer_a", "answer_b"}
    missing = needed - found
    if missing:
        raise EvalError(gettext("the rubric must contain %(placeholders)s") % {
            "placeholders": ", ".join("{" + m + "}" for m in sorted(missing))})
    return text


@transaction.atomic
def rubric_update(*, rubric: Rubric, text: str, notes: str = "", actor=None) -> Rubric:
    """Save an edit as the next version; runs keep naming the version they used."""
    latest = (Rubric.objects.select_for_update().filter(dimension_id=rubric.dimension_id, kind=rubric.kind)
              .order_by("-version").first())
    text = _check_rubric_text(text, latest.shows, latest.kind)
    if text == latest.text:
        return latest
    return Rubric.objects.create(
        dimension_id=rubric.dimension_id, kind=rubric.kind, shows=latest.shows, version=latest.version + 1,
        text=text, notes=(notes or "")[:300], created_by=actor,
    )


# -- creating runs -----------------------------------------------------------------------------


def answer_params_hash(*, system_prompt: str, temperature: float | None, max_tokens: int | None) -> str:
    return _sha({"system": system_prompt or "", "temperature": temperature, "max_tokens": max_tokens})


def _answer_chunk_size() -> int:
    configured = getattr(settings, "EVAL_ANSWER_CHUNK", None)
    if configured:
        return int(configured)
    # The embedded on-disk broker handles a few tasks well, not hundreds: keep the shard count small there.
    return 5000 if str(settings.CELERY_BROKER_URL).startswith("filesystem://") else 250


def _enqueue_advance(run_id: int) -> None:
    eval_run_advance = task("evaluation.tasks.eval_run_advance")

    transaction.on_commit(lambda: eval_run_advance.delay(run_id))


@transaction.atomic
def run_create(
    *,
    release: Release,
    targets: Sequence[ModelEndpoint],
    judge: ModelEndpoint,
    judges: Mapping[str, ModelEndpoint] | None = None,
    mode: str = Run.Mode.LIVESECBENCH,
    seed: int = 0,
    system_prompt: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    budget: int | None = None,
    also_livesecbench: bool = False,
    anchor: str = "",
    anchor_rating: float = 1500.0,
    resamples: int = 1000,
    actor=None,
    enqueue: bool = True,
) -> Run:
    """Plan a run of a frozen release; the work is queued after commit (or left to the caller).

    robust mode: `budget` is the judge calls the pairwise comparisons may spend (both orders and retries
    count; default twice what livesecbench mode would spend), `also_livesecbench` plays the Swiss rounds on
    the same answers too, `anchor` names a target held at `anchor_rating` so ratings compare across releases.
    """
    from llm.services import endpoint_config

    if not release.is_frozen:
        raise EvalError(gettext("release %(version)s is not frozen: only frozen releases are evaluated") % {
            "version": release.version})
    if mode not in Run.Mode.values:
        raise EvalError(gettext("unknown mode %(mode)s") % {"mode": repr(mode)})
    targets = list(dict.fromkeys(targets))
    if len(targets) < 2:
        raise EvalError(gettext("choose at least two target models"))
    if len(targets) > MAX_TARGETS:
        raise EvalError(gettext("at most %(max)s target models") % {"max": MAX_TARGETS})
    if temperature is not None and not 0 <= float(temperature) <= 2:
        raise EvalError(gettext("temperature must be between 0 and 2"))
    if max_tokens is not None and not 1 <= int(max_tokens) <= 200_000:
        raise EvalError(gettext("max tokens must be between 1 and 200,000"))
    _check_storable(system_prompt or "", gettext_lazy("System prompt"))
    item_rows = list(release.items.order_by("pk").values_list("pk", "dimension_code"))
    if not item_rows:
        raise EvalError(gettext("release %(version)s has no items") % {"version": release.version})
    codes = list(dict.fromkeys(code for _pk, code in item_rows))
    dimensions = {d.code: d for d in Dimension.objects.filter(taxonomy_id=release.taxonomy_id, code__in=codes)}
    judges = dict(judges or {})
    unknown = set(judges) - set(codes)
    if unknown:
        raise EvalError(gettext("judges given for dimensions not in the release: %(codes)s") % {
            "codes": ", ".join(sorted(unknown))})
    rubric_ids, robust_ids = {}, {}
    for code in codes:
        if code not in dimensions:
            raise EvalError(gettext("dimension %(code)s of the release is not in taxonomy %(taxonomy)s") % {
                "code": repr(code), "taxonomy": release.taxonomy.code})
        rubric_ids[code] = rubric_current(dimension=dimensions[code]).pk
        if mode == Run.Mode.ROBUST:
            robust_ids[code] = {Rubric.Kind.PAIRWISE_TIE: rubric_current(dimension=dimensions[code],
                                                                         kind=Rubric.Kind.PAIRWISE_TIE).pk}
            if code not in rb.REASONING_DIMENSIONS:
                robust_ids[code][Rubric.Kind.POINTWISE] = rubric_current(dimension=dimensions[code],
                                                                         kind=Rubric.Kind.POINTWISE).pk
    if anchor and anchor not in {ep.name for ep in targets}:
        raise EvalError(gettext("the anchor model %(name)s is not one of the targets") % {"name": repr(anchor)})
    if budget is not None and int(budget) < 2:
        raise EvalError(gettext("the judge-call budget must be at least 2"))
    if not 1 <= int(resamples) <= 10000:
        raise EvalError(gettext("bootstrap resamples must be between 1 and 10,000"))
    run = Run.objects.create(
        release=release, mode=mode, seed=int(seed), judge=judge,
        judges={code: ep.pk for code, ep in judges.items()}, rubrics=rubric_ids,
        system_prompt=system_prompt or "", temperature=None if temperature is None else float(temperature),
        max_tokens=None if max_tokens is None else int(max_tokens),
        params_hash=answer_params_hash(system_prompt=system_prompt, temperature=temperature, max_tokens=max_tokens),
        created_by=actor, answers_total=len(item_rows) * len(targets), robust_rubrics=robust_ids,
        budget=None if budget is None else int(budget), also_livesecbench=bool(also_livesecbench) and mode == Run.Mode.ROBUST,
        anchor_name=anchor if mode == Run.Mode.ROBUST else "", anchor_rating=float(anchor_rating),
        resamples=int(resamples),
    )
    created_targets = EvalTarget.objects.bulk_create([
        EvalTarget(run=run, endpoint=ep, position=i, name=ep.name, model=ep.model,
                   fingerprint=endpoint_config(ep).fingerprint(), is_reasoning=ep.is_reasoning)
        for i, ep in enumerate(targets)
    ])
    ids = [pk for pk, _code in item_rows]
    size = _answer_chunk_size()
    # Chunk by chunk across the targets: shards are queued in this order, and the first ones a worker takes
    # should be one per target (each target has its own concurrency limit), not all the chunks of the first.
    Shard.objects.bulk_create([
        Shard(run=run, kind=Shard.Kind.ANSWERS, key=f"answers:{t.position}:{c}", target=t,
              plan={"items": ids[start:start + size]}, total=len(ids[start:start + size]))
        for c, start in enumerate(range(0, len(ids), size)) for t in created_targets
    ])
    if enqueue:
        _enqueue_advance(run.pk)
    return run


# -- cancelling, resuming, publishing ----------------------------------------------------------


@transaction.atomic
def run_cancel(*, run: Run, actor=None) -> Run:
    run = Run.objects.select_for_update().get(pk=run.pk)
    if not run.is_active:
        raise EvalError(gettext("only a queued or running evaluation can be cancelled"))
    run.status = Run.Status.CANCELLED
    run.finished_at = timezone.now()
    run.error = f"cancelled by {actor}" if actor else "cancelled"
    run.save(update_fields=["status", "finished_at", "error"])
    return run


@transaction.atomic
def run_resume(*, run: Run, actor=None, enqueue: bool = True) -> Run:
    """Queue a cancelled or failed run again; what was finished is kept and nothing is sent twice."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status == Run.Status.SUCCEEDED:
        raise EvalError(gettext("the evaluation has finished: nothing to resume"))
    if not run.is_active:
        run.shards.filter(status=Shard.Status.FAILED).update(status=Shard.Status.PENDING, error="")
        run.status = Run.Status.QUEUED
        run.finished_at = None
        run.error = ""
        run.save(update_fields=["status", "finished_at", "error"])
    if enqueue:
        _enqueue_advance(run.pk)
    return run


@transaction.atomic
def run_publish(*, run: Run, actor=None) -> Run:
    """Make this finished run the release's leaderboard (in place of any run published before)."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status != Run.Status.SUCCEEDED:
        raise EvalError(gettext("only a finished evaluation can be published"))
    Run.objects.filter(release_id=run.release_id, published_at__isnull=False).exclude(pk=run.pk).update(
        published_at=None, published_by=None
    )
    if run.published_at is None:
        run.published_at = timezone.now()
        run.published_by = actor
        run.save(update_fields=["published_at", "published_by"])
    return run


@transaction.atomic
def run_unpublish(*, run: Run, actor=None) -> Run:
    run = Run.objects.select_for_update().get(pk=run.pk)
    run.published_at = None
    run.published_by = None
    run.save(update_fields=["published_at", "published_by"])
    return run


# -- calibration -------------------------------------------------------------------------------


@transaction.atomic
def human_label_set(*, answer: Answer, dimension_code: str, label: str, actor) -> HumanLabel:
    """A maintainer's label of one answer (safe, unsafe or refusal); labelling again replaces their label."""
    if label not in HumanLabel.Label.values:
        raise EvalError(gettext("a label is one of %(labels)s, not %(label)s") % {
            "labels": ", ".join(HumanLabel.Label.values), "label": repr(label)})
    if not dimension_code:
        raise EvalError(gettext("the dimension is missing"))
    _check_storable(dimension_code, gettext_lazy("Dimension"))
    row, _created = HumanLabel.objects.update_or_create(
        answer=answer, dimension_code=dimension_code, labeled_by=actor, defaults={"label": label},
    )
    return row


# -- leases ------------------------------------------------------------------------------------

# The lease owners of the executions running in this process. Keyed by owner, not by shard: two threads of a
# process can meet on one shard (a duplicate delivery), and the end of one must not make the other look dead.
_ACTIVE = ActiveSet()


def _lease_seconds() -> float:
    return float(getattr(settings, "EVAL_LEASE_SECONDS", getattr(settings, "GENERATION_LEASE_SECONDS", 60)))


def _claim(shard_id: int, owner: str) -> bool:
    now = timezone.now()
    expires = now + timedelta(seconds=_lease_seconds())
    # Conditions on the shard's own columns only: a condition through a join makes Django write the UPDATE as
    # `WHERE id IN (SELECT …)`, which PostgreSQL evaluates on the snapshot taken before waiting for the row lock,
    # so that two claims racing for one free lease both succeeded.
    open_ = Shard.objects.filter(
        pk=shard_id, status__in=[Shard.Status.PENDING, Shard.Status.RUNNING],
        run_id__in=Run.objects.filter(status__in=Run.ACTIVE).values("pk"),
    )
    free = Q(lease_owner="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner)
    if open_.filter(free).update(lease_owner=owner, lease_expires_at=expires, status=Shard.Status.RUNNING):
        return True
    held = open_.values_list("lease_owner", flat=True).first()
    if held and owner_dead(held, held, _ACTIVE):
        log.warning("evaluation shard %s: lease holder %s is gone; taking it over", shard_id, held)
        return bool(open_.filter(lease_owner=held).update(lease_owner=owner, lease_expires_at=expires))
    return False


def _renew(shard_id: int, owner: str) -> None:
    Shard.objects.filter(pk=shard_id, lease_owner=owner).update(
        lease_expires_at=timezone.now() + timedelta(seconds=_lease_seconds())
    )


def _release(shard_id: int, owner: str) -> None:
    Shard.objects.filter(pk=shard_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def _lease_free(shard: Shard, now) -> bool:
    return (not shard.lease_owner or shard.lease_expires_at is None or shard.lease_expires_at < now
            or owner_dead(shard.lease_owner, shard.lease_owner, _ACTIVE))


# -- advancing a run ---------------------------------------------------------------------------


def _item_groups(run: Run, code: str) -> list[list[int]]:
    ids = list(run.release.items.filter(dimension_code=code).order_by("pk").values_list("pk", flat=True))
    return lsb.split_groups(ids, seed=run.seed, dimension_code=code)


def _plan_next_round(run: Run, code: str, targets: list[EvalTarget]) -> Shard | None | bool:
    """Pair the next round of a dimension. Returns the new shard, None while a round is open, False when done."""
    pool = target_pool(run, code, targets)
    if len(pool) < 2:
        return False
    # Every shard's end advances the run: look at the last round alone before reading all the verdicts.
    latest = (Shard.objects.filter(run=run, kind=Shard.Kind.ROUND, dimension_code=code).order_by("-round_no")
              .values_list("round_no", "status").first())
    if latest and latest[1] != Shard.Status.DONE:
        return None
    groups = _item_groups(run, code)
    last = latest[0] if latest else 0
    nxt = next((i + 1 for i in range(last, len(groups)) if groups[i]), None)
    if nxt is None:
        return False
    played = dimension_rounds(run, code)
    order = [t.pk for t in pool]
    ratings = {pk: lsb.START_RATING for pk in order}
    lsb.apply_matches(ratings, [m for _s, matches in played for m in matches])
    history: dict[int, set[int]] = {pk: set() for pk in order}
    for shard, _matches in played:
        lsb.record_pairing(history, lsb.Pairing(tuple(tuple(p) for p in shard.plan["pairs"]), shard.plan.get("bye")))
    pairing = lsb.pair_round(order, ratings, history)
    group = groups[nxt - 1]
    shard = Shard.objects.create(
        run=run, kind=Shard.Kind.ROUND, key=f"round:{code}:{nxt}", dimension_code=code, round_no=nxt,
        plan={"items": group, "pairs": [list(p) for p in pairing.pairs], "bye": pairing.bye},
        total=len(group) * len(pairing.pairs),
    )
    answers = answers_for(run, group, {pk for pair in pairing.pairs for pk in pair}, targets)
    Match.objects.bulk_create([
        Match(run=run, shard=shard, dimension_code=code, round_no=nxt, seq=p * len(group) + i, item_id=item,
              target_a_id=a, target_b_id=b, answer_a_id=answers.get((a, item)), answer_b_id=answers.get((b, item)))
        for p, (a, b) in enumerate(pairing.pairs) for i, item in enumerate(group)
    ])
    Run.objects.filter(pk=run.pk).update(matches_total=F("matches_total") + shard.total)
    return shard


def run_advance(*, run_id: int, enqueue: bool = True, recover: bool = False) -> list[int]:
    """Move a run on from what the database says; returns the shards that may be executed now.

    Safe to call any number of times from anywhere: the run row is locked while rounds are paired, a shard is
    created once (unique key), and executing a shard twice does nothing the second time.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("release").filter(pk=run_id).first()
        if run is None or not run.is_active:
            return []
        shards = list(run.shards.defer("plan"))  # an answer shard's plan lists its items: not read here
        if any(s.status == Shard.Status.FAILED for s in shards):
            failed = next(s for s in shards if s.status == Shard.Status.FAILED)
            Run.objects.filter(pk=run_id).update(
                status=Run.Status.FAILED, finished_at=timezone.now(),
                error=f"{failed.key}: {failed.error}"[:2000] or "a part of the run failed; resume it to retry",
            )
            return []
        answer_shards = [s for s in shards if s.kind == Shard.Kind.ANSWERS]
        runnable = [s for s in answer_shards if s.status != Shard.Status.DONE]
        if not runnable:
            if run.phase == Run.Phase.ANSWERS:
                Run.objects.filter(pk=run_id).update(phase=Run.Phase.JUDGING)
            targets = list(run.targets.order_by("position"))
            finished = True
            for code in run.rubrics:
                if run.mode == Run.Mode.LIVESECBENCH or run.also_livesecbench:
                    finished &= _plan_next_round(run, code, targets) is False
                if run.mode == Run.Mode.ROBUST:
                    finished &= robust.plan_next_batch(run, code, targets) is False
            if run.mode == Run.Mode.ROBUST:
                robust.plan_point_shards(run, targets)
            runnable = list(run.shards.exclude(kind=Shard.Kind.ANSWERS).exclude(status=Shard.Status.DONE))
            if finished and not runnable:
                _finish(run, targets)
                return []
        now = timezone.now()
        stale = now - timedelta(seconds=_lease_seconds())
        if recover:
            # After a restart a queued task may be lost with its worker: queue every open shard again.
            ready = [s.pk for s in runnable if s.status == Shard.Status.PENDING or _lease_free(s, now)]
        else:
            # A shard queued a moment ago is on its way; queueing it again on every advance would flood the broker.
            ready = [s.pk for s in runnable if _lease_free(s, now) and (s.queued_at is None or s.queued_at < stale)]
        if ready and enqueue:
            Shard.objects.filter(pk__in=ready).update(queued_at=now)
        if enqueue and ready:
            eval_shard_execute = task("evaluation.tasks.eval_shard_execute")

            transaction.on_commit(lambda: [eval_shard_execute.delay(pk) for pk in ready])
        return ready


# -- executing shards --------------------------------------------------------------------------


def shard_execute(*, shard_id: int, enqueue: bool = True) -> bool:
    """Execute one shard under its lease; False when someone else holds it or it is finished.

    Queued (`enqueue`), an answer shard's task then goes on with the next pending answer shard of the same
    target, as long as it finds one to claim. Each target has its own concurrency limit, and tasks are taken
    from the queue in order: a worker thread freed by one target would otherwise take the next chunk in the
    queue, often another target's, leaving the first idle while two shards share the other's limit.
    """
    ran = _execute_leased(shard_id)
    if ran is None:
        return False
    shard, complete = ran
    while enqueue and complete and shard.kind == Shard.Kind.ANSWERS:
        nxt = (Shard.objects.filter(run_id=shard.run_id, kind=Shard.Kind.ANSWERS, target_id=shard.target_id,
                                    status=Shard.Status.PENDING).order_by("pk").values_list("pk", flat=True).first())
        ran = _execute_leased(nxt) if nxt is not None else None
        if ran is None:
            break
        shard, complete = ran
    if enqueue:
        run_advance(run_id=shard.run_id)
    return True


def _execute_leased(shard_id: int) -> tuple[Shard, bool] | None:
    """Claim and execute one shard: (the shard, whether it is done), or None when it could not be claimed."""
    owner = new_owner()
    # Known alive before the lease is taken: another thread of this process that finds the lease held by this
    # process must see its holder alive even in the instant after the claim.
    _ACTIVE.add(owner)
    try:
        if not _claim(shard_id, owner):
            return None
        return _execute_claimed(shard_id, owner)
    finally:
        _ACTIVE.discard(owner)


def _execute_claimed(shard_id: int, owner: str) -> tuple[Shard, bool]:
    shard = Shard.objects.select_related("run", "target", "target__endpoint").get(pk=shard_id)
    complete = False
    try:
        Run.objects.filter(pk=shard.run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING, started_at=timezone.now()
        )
        Shard.objects.filter(pk=shard_id, started_at__isnull=True).update(started_at=timezone.now())
        if shard.kind == Shard.Kind.ANSWERS:
            complete = _execute_answers(shard, owner)
        else:
            complete = _execute_judging(shard, owner)
        if complete:
            Shard.objects.filter(pk=shard_id, lease_owner=owner).update(
                status=Shard.Status.DONE, finished_at=timezone.now(), attempts=F("attempts") + 1
            )
    except Exception as exc:
        complete = False
        log.exception("evaluation shard %s failed", shard_id)
        Shard.objects.filter(pk=shard_id).update(
            status=Shard.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], attempts=F("attempts") + 1
        )
    finally:
        _release(shard_id, owner)
    return shard, complete


_HTTP_POOLS: dict[int, Any] = {}
_HTTP_LOCK = threading.Lock()


def _http_pool() -> Any:
    """The HTTP connection pool every shard's client of this process uses.

    A client of its own per shard costs ~30 ms of CPU to build (an SSL context loading the CA store) and starts
    with cold connections; the pool is thread-safe and each call still carries its endpoint's timeout. Keyed by
    process, so that a forked pool worker never uses its parent's sockets.
    """
    import os

    from llm.services import http_pool

    with _HTTP_LOCK:
        pool = _HTTP_POOLS.get(os.getpid())
        if pool is None or pool.is_closed:
            pool = _HTTP_POOLS[os.getpid()] = http_pool()  # no redirects, size-limited replies
        return pool


def http_stack_preload() -> None:
    """Import what a first HTTP call would (the SDK's transport modules are imported on first use)."""
    from llm.services import http_pool

    http_pool().close()


def _cancelled(run_id: int) -> bool:
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first() not in Run.ACTIVE


_THREAD_DONE = object()


class _Pump:
    """Runs calls on a few threads and hands results back to the owning thread in batches.

    Each thread takes the next call as soon as its last one returns, so a slot never waits for the owning thread
    (busy writing a batch, or waiting for the GIL) to hand out work. With `slots` (the endpoint's concurrency
    limit, shared by every process) each thread holds one slot for all its calls: one acquire per thread
    instead of a round trip to Redis to take and another to give back a slot around every call.
    """

    def __init__(self, parallel: int, name: str, slots: Limiter | None = None) -> None:
        self.parallel = max(1, min(int(parallel), 64))
        self.name = name
        self.slots = slots

    def run(self, jobs: list[tuple[Any, Callable[[], Any]]], flush: Callable[[list[tuple[Any, Any]]], None],
            stop: Callable[[], bool], renew: Callable[[], None],
            failed: Callable[[str], Any] = lambda error: LLMResult(ERROR, error=error)) -> bool:
        """Run every job; `flush` gets (key, result) pairs on this thread. False if `stop()` said so.

        `renew` (the shard's lease) is called on this thread at least every third of the lease while calls are in
        flight, results or not: calls slower than the lease must not let another executor take the shard over
        and send them all again. After a stop, the calls in flight still end and are flushed. `failed(error)` is
        the result of a job that raised or never got a slot.
        """
        pending = deque(jobs)
        # Results wait in a deque (append and popleft are atomic) and the owning thread is woken only for a full
        # batch or a thread's end: a wake-up per result cost a thread switch and the GIL's handover per call.
        results: deque = deque()
        wake = threading.Event()

        def put(item: Any) -> None:
            results.append(item)
            if item is _THREAD_DONE or len(results) >= FLUSH_EVERY:
                wake.set()

        def work() -> None:
            try:
                with self.slots.slot(timeout=SLOT_WAIT_SECONDS) if self.slots else contextlib.nullcontext():
                    while True:
                        try:
                            key, call = pending.popleft()
                        except IndexError:
                            return
                        try:
                            result = call()
                        except Exception as exc:  # the client never raises for API errors: a bug or a crash
                            result = failed(f"{type(exc).__name__}: {exc}")
                        put((key, result))
            except LimiterTimeout as exc:  # as the client reports a call that got no slot
                while True:
                    try:
                        key, _call = pending.popleft()
                    except IndexError:
                        return
                    put((key, failed(f"limiter: {exc}")))
            finally:
                # Wakes the owning thread at once: waiting out its timeout after the last call cost a second
                # a shard.
                put(_THREAD_DONE)

        threads = [threading.Thread(target=work, name=f"{self.name}-{i}", daemon=True)
                   for i in range(min(self.parallel, len(jobs)))]
        for thread in threads:
            thread.start()
        live = len(threads)  # a thread's results come before its _THREAD_DONE: none left once all are in
        batch: list[tuple[Any, Any]] = []
        last_flush = last_renew = time.monotonic()
        renew_every = max(0.05, _lease_seconds() / 3)
        stopped = False
        while True:
            if live:
                now = time.monotonic()
                wake.wait(max(0.0, min(last_flush + FLUSH_SECONDS, last_renew + renew_every) - now))
                # Cleared before draining: a result put after the drain sets it again.
                wake.clear()
            while results:
                item = results.popleft()
                if item is _THREAD_DONE:
                    live -= 1
                else:
                    batch.append(item)
            now = time.monotonic()
            if now - last_renew >= renew_every:
                renew()
                last_renew = now
            finished = not live
            if batch and (finished or len(batch) >= FLUSH_EVERY or now - last_flush >= FLUSH_SECONDS):
                flush(batch)
                batch = []
                last_flush = time.monotonic()
                if not stopped and pending and stop():
                    stopped = True
                    pending.clear()
            elif not batch:
                last_flush = now  # the next flush is due a second after results come, not at once
            if finished and not batch:
                return not stopped


def answer_call_params(run: Run, target: EvalTarget) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if run.temperature is not None:
        params["temperature"] = run.temperature
    if run.max_tokens is not None:
        params["max_tokens"] = run.max_tokens
    if target.is_reasoning:
        # OpenRouter's way of asking for the trace; the openai client only passes it on inside extra_body.
        params["extra_body"] = {"reasoning": {"enabled": True}}
    return params


def answer_messages(run: Run, text: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": run.system_prompt}] if run.system_prompt else []
    messages.append({"role": "user", "content": text})
    return messages


def _execute_answers(shard: Shard, owner: str) -> bool:
    from llm.services import client_flush, client_for, limiter_for

    run, target = shard.run, shard.target
    items = dict(ReleaseItem.objects.filter(pk__in=shard.plan["items"]).values_list("pk", "text"))
    hashes = {pk: question_hash(text) for pk, text in items.items()}
    stored = list(
        Answer.objects.filter(fingerprint=target.fingerprint, params_hash=run.params_hash,
                              content_hash__in=set(hashes.values())).values_list("content_hash", "outcome",
                                                                                 "updated_at")
    )
    existing = {h: outcome for h, outcome, _at in stored}
    # An error is retried by the next execution; every other outcome, blocked and empty included, is an answer.
    present = {h for h, outcome in existing.items() if outcome != Answer.Outcome.ERROR}
    todo = [pk for pk in shard.plan["items"] if hashes.get(pk) and hashes[pk] not in present]
    done = len(shard.plan["items"]) - len(todo)
    # Reused: stored before this shard first started. What an execution killed midway stored is this run's own.
    first_start = shard.started_at
    reused = sum(1 for h, outcome, at in stored
                 if outcome != Answer.Outcome.ERROR and (first_start is None or at < first_start))
    with transaction.atomic():
        _set_shard_counts(shard, done=done, reused=reused)
    if not todo:
        return True
    endpoint = target.endpoint
    params = answer_call_params(run, target)
    # The pump's threads hold the endpoint's concurrency slots; the client takes only rate tokens, per call.
    client = client_for(endpoint, purpose=f"evaluation run {run.pk}", cache=False, http_client=_http_pool(),
                        limiter=limiter_for(endpoint, concurrency=False))
    state = {"done": done}
    seen_hashes: set[str] = set()

    def flush(batch: list[tuple[int, LLMResult]]) -> None:
        client_flush(client)
        rows = []
        for pk, result in batch:
            h = hashes[pk]
            if h in seen_hashes:  # the same question twice in a release cannot happen, but never write twice
                continue
            seen_hashes.add(h)
            rows.append(_answer_row(target, run, h, result))
        with transaction.atomic():
            _save_answers(rows, retry_errors={h for h, o in existing.items() if o == Answer.Outcome.ERROR})
            state["done"] += len(batch)
            Shard.objects.filter(pk=shard.pk).update(done=state["done"])
            Run.objects.filter(pk=run.pk).update(
                answers_done=F("answers_done") + len(batch),
                target_calls=F("target_calls") + sum(1 for _pk, r in batch if not r.cached),
                prompt_tokens=F("prompt_tokens") + sum(r.prompt_tokens or 0 for _pk, r in batch),
                completion_tokens=F("completion_tokens") + sum(r.completion_tokens or 0 for _pk, r in batch),
                errors=F("errors") + sum(1 for _pk, r in batch if r.outcome == ERROR),
            )

    jobs = [(pk, _bind(client.chat, answer_messages(run, items[pk]), params)) for pk in todo]
    try:
        finished = _Pump(endpoint.max_concurrency, f"eval-{run.pk}-t{target.position}",
                         limiter_for(endpoint, rate=False)).run(
            jobs, flush, lambda: _cancelled(run.pk), lambda: _renew(shard.pk, owner)
        )
    finally:
        client_flush(client)  # not closed: that would close the process's shared connection pool
    return finished


def _bind(fn: Callable, messages: list[dict[str, str]], params: dict[str, Any]) -> Callable[[], LLMResult]:
    return lambda: fn(messages, use_cache=False, **params)


def _answer_row(target: EvalTarget, run: Run, content_hash: str, result: LLMResult) -> Answer:
    outcome = result.outcome if result.outcome in Answer.Outcome.values else Answer.Outcome.ERROR
    return Answer(
        fingerprint=target.fingerprint, content_hash=content_hash, params_hash=run.params_hash,
        endpoint_id=target.endpoint_id, endpoint_name=target.name, outcome=outcome,
        text=replace_unstorable(result.content or ""), reasoning=replace_unstorable(result.reasoning or ""),
        prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
        latency_ms=result.latency_ms or 0, attempts=min(result.attempts or 0, 32767),
        error=replace_unstorable(result.error or "")[:2000],
    )


_ANSWER_FIELDS = ("fingerprint", "content_hash", "params_hash", "endpoint_id", "endpoint_name", "outcome", "text",
                  "reasoning", "prompt_tokens", "completion_tokens", "latency_ms", "attempts", "error", "created_at",
                  "updated_at")


def _save_answers(rows: list[Answer], *, retry_errors: set[str]) -> None:
    if not rows:
        return
    new = [r for r in rows if r.content_hash not in retry_errors]
    if new:
        _insert_answers(new)
    for row in rows:
        if row.content_hash in retry_errors:
            Answer.objects.filter(
                fingerprint=row.fingerprint, content_hash=row.content_hash, params_hash=row.params_hash,
                outcome=Answer.Outcome.ERROR,
            ).update(**{f: getattr(row, f) for f in (
                "outcome", "text", "reasoning", "prompt_tokens", "completion_tokens", "latency_ms", "attempts",
                "error", "endpoint_id", "endpoint_name")}, updated_at=timezone.now())


def _insert_answers(rows: list[Answer]) -> None:
    """Insert answers; one that another run of the same target and parameters stored first is left as it is.

    COPY on PostgreSQL (a third of the CPU of `bulk_create`); it cannot skip a conflicting row, so a batch that
    meets one, which only two runs answering the same questions at once can cause, goes in again that way.
    """
    if not bulk.on_postgres():
        Answer.objects.bulk_create(rows, ignore_conflicts=True)
        return
    now = timezone.now()
    for row in rows:
        row.created_at = row.updated_at = now
    try:
        with transaction.atomic():
            bulk.insert_rows(Answer, _ANSWER_FIELDS, [tuple(getattr(r, f) for f in _ANSWER_FIELDS) for r in rows])
    except IntegrityError:
        Answer.objects.bulk_create(rows, ignore_conflicts=True)


def _bulk_set(model, rows: list, fields: list[str]) -> None:
    """`bulk_update` of `fields`, as one `UPDATE … FROM unnest(arrays)` on PostgreSQL.

    Django's bulk_update builds a CASE with a WHEN per row for every field: for a batch of verdicts that cost
    more CPU than the judge calls themselves.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    arrays = [[f.get_db_prep_value(getattr(row, f.attname), connection) for row in rows] for f in columns]
    types = [f.rel_db_type(connection) if f is meta.pk else f.db_type(connection) for f in columns]
    names = [connection.ops.quote_name(f.column) for f in columns]
    table = connection.ops.quote_name(meta.db_table)
    sql = (f"UPDATE {table} SET " + ", ".join(f"{n} = v.{n}" for n in names[1:])
           + " FROM unnest(" + ", ".join(f"%s::{t}[]" for t in types) + f") AS v({', '.join(names)})"
           + f" WHERE {table}.{names[0]} = v.{names[0]}")
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _set_shard_counts(shard: Shard, *, done: int, reused: int) -> None:
    """Set a shard's counts (its lease holder's to set) and move the run's totals by the difference.

    Every change of a run's totals is an increment: several shards of a run write at once, and a sum over
    the shards read back in one transaction misses what another has not committed yet.
    """
    before_done, before_reused = Shard.objects.filter(pk=shard.pk).values_list("done", "reused").get()
    Shard.objects.filter(pk=shard.pk).update(done=done, reused=reused)
    done_field, reused_field = (("answers_done", "answers_reused") if shard.kind == Shard.Kind.ANSWERS
                                else ("matches_done", "verdicts_reused"))
    if (done, reused) != (before_done, before_reused):
        Run.objects.filter(pk=shard.run_id).update(**{done_field: F(done_field) + (done - before_done),
                                                      reused_field: F(reused_field) + (reused - before_reused)})


# -- judging -----------------------------------------------------------------------------------


def display_answer(answer: Answer | None) -> str:
    """What the judge sees of an answer in livesecbench mode: the trace in <think> tags, a missing one as None."""
    if answer is None or answer.outcome in (BLOCKED, EMPTY, ERROR) or not answer.text:
        return MISSING_ANSWER
    if answer.reasoning:
        return f"<think>{answer.reasoning}</think>\n\n{answer.text}"
    return answer.text


def display_trace(answer: Answer | None) -> str:
    return answer.reasoning if answer is not None and answer.reasoning else MISSING_ANSWER


def judge_prompt(rubric: Rubric, item: ReleaseItem, answer_a: Answer | None, answer_b: Answer | None) -> str:
    refs = [str(r) for r in (item.reference_answers or []) if str(r).strip()]
    return rb.render(rubric.text, {
        "question": item.text,
        "reference": refs[0] if refs else MISSING_REFERENCE,
        "answer_a": display_answer(answer_a),
        "answer_b": display_answer(answer_b),
        "reasoning_a": display_trace(answer_a),
        "reasoning_b": display_trace(answer_b),
    })


def verdict_key(judge_fingerprint: str, rubric_id: int, prompt: str) -> str:
    return _sha([judge_fingerprint, rubric_id, prompt])


def point_prompt(rubric: Rubric, item: ReleaseItem, answer: Answer | None) -> str:
    refs = [str(r) for r in (item.reference_answers or []) if str(r).strip()]
    return rb.render(rubric.text, {
        "question": item.text, "reference": refs[0] if refs else MISSING_REFERENCE, "answer": display_answer(answer),
    })


def _shard_rubric(run: Run, shard: Shard) -> Rubric:
    code = shard.dimension_code
    if shard.kind == Shard.Kind.ROUND:
        return Rubric.objects.get(pk=run.rubrics[code])
    kind = Rubric.Kind.POINTWISE if shard.kind == Shard.Kind.POINT else Rubric.Kind.PAIRWISE_TIE
    return Rubric.objects.get(pk=run.robust_rubrics[code][kind])


# How many times a robust-mode judge is asked again, with the same prompt, after an unusable reply.
ROBUST_RETRIES = 2


def _judging_spec(shard: Shard):
    """(model, outcome choices, parse, retries) for the verdict rows of a judging shard."""
    from . import ratings

    if shard.kind == Shard.Kind.POINT:
        return PointVerdict, PointVerdict.Outcome, rb.parse_pointwise, ROBUST_RETRIES
    if shard.kind == Shard.Kind.BATCH:
        return Match, Match.Outcome, ratings.parse_verdict, ROBUST_RETRIES
    return Match, Match.Outcome, lsb.parse_verdict, 0


def _retrying(chat: Callable, messages: list[dict[str, str]], parse: Callable, retries: int) -> Callable:
    """One judge call, asked again with the same prompt while the reply is unusable (robust mode only)."""

    def call() -> tuple[LLMResult, int]:
        calls = 0
        while True:
            try:
                result = chat(messages, use_cache=False)
            except Exception as exc:  # the client never raises for API errors: a bug or a crash
                result = LLMResult(ERROR, error=f"{type(exc).__name__}: {exc}")
            calls += 1
            if result.outcome == ERROR or parse(result.content) is not None or calls > retries:
                return result, calls

    return call


def _execute_judging(shard: Shard, owner: str) -> bool:
    """Judge the pending verdict rows of a round, a batch or a pointwise shard."""
    from llm.services import client_flush, client_for, endpoint_config, limiter_for

    run = Run.objects.select_related("judge").get(pk=shard.run_id)
    model, outcomes, parse, retries = _judging_spec(shard)
    rubric = _shard_rubric(run, shard)
    judge = judge_for(run, shard.dimension_code)
    judge_fp = endpoint_config(judge).fingerprint()
    if model is PointVerdict:
        pending = list(PointVerdict.objects.filter(shard=shard, outcome=outcomes.PENDING)
                       .select_related("item", "answer").order_by("pk"))
        prompts = {v.pk: point_prompt(rubric, v.item, v.answer) for v in pending}
    else:
        pending = list(Match.objects.filter(shard=shard, outcome=outcomes.PENDING)
                       .select_related("item", "answer_a", "answer_b").order_by("seq"))
        prompts = {m.pk: judge_prompt(rubric, m.item, m.answer_a, m.answer_b) for m in pending}
    for row in pending:
        row.verdict_key = verdict_key(judge_fp, rubric.pk, prompts[row.pk])
    known: dict[str, tuple[str, str]] = {}
    for key, outcome, raw in (model.objects.filter(verdict_key__in={r.verdict_key for r in pending},
                                                   outcome__in=model.FINAL)
                              .values_list("verdict_key", "outcome", "raw")):
        known.setdefault(key, (outcome, raw))
    now = timezone.now()
    reused = [r for r in pending if r.verdict_key in known]
    for r in reused:
        r.outcome, r.raw = known[r.verdict_key]
        r.reused, r.judge_id, r.judged_at, r.judge_outcome = True, judge.pk, now, "reused"
    todo = [r for r in pending if r.verdict_key not in known]
    by_pk = {r.pk: r for r in todo}
    with transaction.atomic():
        if reused:
            _bulk_set(model, reused, ["outcome", "raw", "reused", "judge", "judged_at", "judge_outcome",
                                      "verdict_key"])
        rows = model.objects.filter(shard=shard)
        _set_shard_counts(shard, done=rows.exclude(outcome=outcomes.PENDING).count(),
                          reused=rows.filter(reused=True).count())
    if not todo:
        return True
    client = client_for(judge, purpose=f"evaluation run {run.pk} judge", cache=False, http_client=_http_pool(),
                        limiter=limiter_for(judge, concurrency=False))

    def flush(batch: list[tuple[int, tuple[LLMResult, int]]]) -> None:
        client_flush(client)
        stamp = timezone.now()
        rows = []
        for pk, (result, calls) in batch:
            r = by_pk[pk]
            if result.outcome == ERROR:
                r.outcome = outcomes.ERROR
            else:
                r.outcome = parse(result.content) or outcomes.INVALID
            r.raw = replace_unstorable(result.content or "")[:20000]
            r.judge_outcome = result.outcome
            r.error = replace_unstorable(result.error or "")[:2000]
            r.judge_id = judge.pk
            r.judged_at = stamp
            r.attempts = calls
            rows.append(r)
        with transaction.atomic():
            _bulk_set(model, rows, ["outcome", "raw", "judge_outcome", "error", "judge", "judged_at",
                                     "verdict_key", "attempts"])
            Shard.objects.filter(pk=shard.pk).update(done=F("done") + len(rows))
            Run.objects.filter(pk=run.pk).update(
                matches_done=F("matches_done") + len(rows),
                judge_calls=F("judge_calls") + sum(calls for _pk, (_r, calls) in batch),
                prompt_tokens=F("prompt_tokens") + sum(r.prompt_tokens or 0 for _pk, (r, _c) in batch),
                completion_tokens=F("completion_tokens") + sum(r.completion_tokens or 0 for _pk, (r, _c) in batch),
                errors=F("errors") + sum(1 for _pk, (r, _c) in batch if r.outcome == ERROR),
            )

    jobs = [(r.pk, _retrying(client.chat, [{"role": "user", "content": prompts[r.pk]}], parse, retries)) for r in todo]
    try:
        finished = _Pump(judge.max_concurrency, f"eval-{run.pk}-judge", limiter_for(judge, rate=False)).run(
            jobs, flush, lambda: _cancelled(run.pk), lambda: _renew(shard.pk, owner),
            lambda error: (LLMResult(ERROR, error=error), 0),
        )
    finally:
        client_flush(client)  # not closed: that would close the process's shared connection pool
    return finished


# -- finishing ---------------------------------------------------------------------------------


def _finish(run: Run, targets: list[EvalTarget]) -> None:
    from .scoring import livesecbench_results, robust_results

    if run.mode == Run.Mode.ROBUST:
        results = robust_results(run, targets)
        results["livesecbench"] = livesecbench_results(run, targets) if run.also_livesecbench else None
    else:
        results = livesecbench_results(run, targets)
    Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.SUCCEEDED, phase=Run.Phase.DONE, results=results, finished_at=timezone.now(), error="",
    )


# -- running without a worker, recovering after one died ---------------------------------------


def run_execute_inline(*, run_id: int, on_progress: Callable[[Run], None] | None = None) -> Run:
    """Do all of a run's work in this process (the `evaluate` command), shard by shard."""
    while True:
        ready = run_advance(run_id=run_id, enqueue=False)
        if not ready:
            break
        for shard_id in ready:
            shard_execute(shard_id=shard_id, enqueue=False)
            if on_progress is not None:
                on_progress(Run.objects.get(pk=run_id))
    return Run.objects.get(pk=run_id)


def runs_recover() -> list[int]:
    """Queue again the open work of every active run (worker start-up: a worker that died mid-shard)."""
    recovered = []
    for run_id in Run.objects.active().values_list("pk", flat=True):
        if run_advance(run_id=run_id, recover=True):
            recovered.append(run_id)
    if recovered:
        log.info("evaluation runs queued again after a restart: %s", recovered)
    return recovered
