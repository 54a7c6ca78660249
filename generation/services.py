"""Writes for generation: templates, events, runs and their batches (LLM and offline mutation).

Kept beside services.py (which holds the prompt lifecycle) because the run executor is long; the rule
is the same: every write of these tables goes through a function here. New prompts are created only
through `services.prompts_create`, inside the batch's transaction.

A run is planned as numbered batches (unique per run). The executor holds a lease on the run, works
through the batches that are not done (in parallel up to the endpoint's max_concurrency: threads only
talk HTTP, every database write happens on the executor's own thread), and records each batch in one
transaction together with its prompts, so a batch is either fully recorded or not at all. A batch
already done is skipped, so a run executed again after a crash repeats nothing that was finished.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from core.queue import task
from curation.models import Dimension, Prompt, SubDimension, Taxonomy, Technique
from curation.services import PromptDraft, prompts_create
from curation.text import check_storable, clean_text, normalize
from llm.client import BLOCKED, EMPTY, ERROR, OK, TRUNCATED, LLMResult
from llm.parsing import parse_prompt_list_detailed

from . import default_templates as gt
from . import mutations
from . import quality_gate as qg
from .models import Event, GenerationBatch, GenerationRun, GeneratorTemplate

log = logging.getLogger(__name__)

Run = GenerationRun
Batch = GenerationBatch

MAX_COUNT = 5000
MAX_BATCH_SIZE = 50
MAX_TOPUP_ROUNDS = 2
RAW_OUTPUT_LIMIT = 100_000
# What a batch keeps of the texts its quality gate dropped, for the run page.
GATED_ITEMS_LIMIT = 200
GATED_TEXT_LIMIT = 2000
# Parse methods that cannot tell where an item ends, so the last one of a truncated output may be cut.
OPEN_ENDED_PARSES = ("list", "prose")

# Offline strategies and the catalogue technique each one stands for.
STRATEGY_TECHNIQUES = {
    "homophone": "homophone",
    "pinyin": "pinyin",
    "pinyin_initials": "pinyin",
    "chaizi": "chaizi",
    "traditional": "traditional",
    "zero_width": "char_noise",
    "full_width": "char_noise",
    "code_mix": "code_mixing",
    "roleplay": "role_play",
    "hypothetical": "hypothetical",
    "counter_example": "counter_example",
    "debate": "debate",
}
WRAPPER_STRATEGIES = {"roleplay", "hypothetical", "counter_example", "debate"}
# Only change the surface form: dedup normalisation (NFKC, traditional -> simplified, invisible
# characters dropped) maps their output back onto the source, which the pool already holds.
SURFACE_STRATEGIES = {"traditional", "zero_width", "full_width"}


class RunError(ValueError):
    """A run that cannot be created or changed as asked; the message says why."""


# -- templates ---------------------------------------------------------------------------------


@transaction.atomic
def templates_seed_defaults() -> int:
    """Give every dimension and technique without a template its first (Chinese) version."""
    created = 0
    have_dims = set(GeneratorTemplate.objects.filter(scope="dimension").values_list("dimension_id", flat=True))
    for dim in Dimension.objects.exclude(pk__in=have_dims):
        system_text, body = gt.default_dimension_template(dim.code, dim.uses_reference_answers)
        GeneratorTemplate.objects.create(
            scope="dimension", dimension=dim, version=1, system_text=system_text, body=body, notes="default"
        )
        created += 1
    have_techs = set(GeneratorTemplate.objects.filter(scope="technique").values_list("technique_id", flat=True))
    for tech in Technique.objects.exclude(pk__in=have_techs):
        GeneratorTemplate.objects.create(
            scope="technique", technique=tech, version=1,
            body=gt.default_technique_template(tech.code, tech.name_zh, tech.description_zh), notes="default",
        )
        created += 1
    return created


def templates_seed_counts() -> dict[str, int]:
    """The taxonomy-load hook (generation/apps.py): seeds the missing templates and reports how many."""
    return {"generator_templates": templates_seed_defaults()}


def template_current(*, dimension: Dimension | None = None, technique: Technique | None = None) -> GeneratorTemplate:
    qs = GeneratorTemplate.objects.filter(dimension=dimension) if dimension else GeneratorTemplate.objects.filter(
        technique=technique
    )
    template = qs.order_by("-version").first()
    if template is None:
        templates_seed_defaults()
        template = qs.order_by("-version").first()
    return template


@transaction.atomic
def template_update(
    *, template: GeneratorTemplate, body: str, system_text: str | None = None, notes: str = "", actor=None
) -> GeneratorTemplate:
    """Save an edit as the next version; earlier versions stay as they were. Texts are kept as written."""
    body = clean_text(body)
    if len(body) > 20000:
        raise RunError(gettext("the template is too long (20,000 characters at most)"))
    if system_text is not None:
        check_storable(system_text)
    check_storable(notes)
    target = {"dimension": template.dimension} if template.scope == "dimension" else {"technique": template.technique}
    latest = GeneratorTemplate.objects.select_for_update().filter(scope=template.scope, **target).order_by("-version").first()
    if system_text is None:
        system_text = latest.system_text
    elif not system_text.strip():
        system_text = ""
    if body == latest.body and system_text == latest.system_text:
        return latest
    return GeneratorTemplate.objects.create(
        scope=template.scope, version=latest.version + 1, body=body, system_text=system_text, notes=notes[:300],
        created_by=actor, **target,
    )


# -- events ------------------------------------------------------------------------------------


def _clean_tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = tags.replace("，", ",").split(",")
    return list(dict.fromkeys(check_storable(t).strip()[:50] for t in tags if t and t.strip()))[:20]


def _summary(summary: str) -> str:
    # Kept as written, outer whitespace too; a blank one is no summary.
    return summary if check_storable(summary).strip() else ""


@transaction.atomic
def event_create(*, title: str, date, summary: str = "", source_url: str = "", tags: Iterable[str] | str = (),
                 actor=None, source=None) -> Event:
    """Record an event; the title (a short name) loses its outer whitespace, nothing else is changed."""
    title = clean_text(title, strip=True)
    event = Event(title=title, title_key=normalize(title)[:300], date=date, summary=_summary(summary),
                  source_url=check_storable(source_url).strip(), tags=_clean_tags(tags), created_by=actor,
                  source=source)
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def event_update(*, event: Event, **fields: Any) -> Event:
    allowed = {"title", "date", "summary", "source_url", "tags"}
    unknown = set(fields) - allowed
    if unknown:
        raise RunError(gettext("unknown event fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    if "title" in fields:
        fields["title"] = clean_text(fields["title"], strip=True)
        fields["title_key"] = normalize(fields["title"])[:300]
    if "summary" in fields:
        fields["summary"] = _summary(fields["summary"])
    if "source_url" in fields:
        fields["source_url"] = check_storable(fields["source_url"]).strip()
    if "tags" in fields:
        fields["tags"] = _clean_tags(fields["tags"])
    for key, value in fields.items():
        setattr(event, key, value)
    event.full_clean()
    event.save()
    return event


# -- creating runs -----------------------------------------------------------------------------


def _enqueue(run_id: int) -> None:
    generation_run_execute = task("generation.tasks.generation_run_execute")

    transaction.on_commit(lambda: generation_run_execute.delay(run_id))


def _plan_sizes(count: int, batch_size: int) -> list[int]:
    return [min(batch_size, count - start) for start in range(0, count, batch_size)]


def _normalise_chain(strategies: Sequence[Any]) -> list[dict[str, Any]]:
    chain = []
    for item in strategies:
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict):
            name, params = item.get("strategy") or item.get("name"), item.get("params") or {}
        else:
            name, params = item[0], (item[1] if len(item) > 1 else {}) or {}
        if str(name) not in mutations.STRATEGIES:
            raise RunError(gettext("unknown mutation strategy %(name)s; known: %(known)s") % {
                "name": repr(str(name)), "known": ", ".join(sorted(mutations.STRATEGIES))})
        strategy = mutations.get_strategy(str(name))
        try:
            resolved = strategy.resolve(params)
        except (KeyError, ValueError) as exc:  # a parameter's problem, named by the strategy (in English)
            raise RunError(str(exc).strip('"')) from None
        chain.append({"strategy": strategy.name, "params": resolved})
    if not chain:
        raise RunError(gettext("choose at least one mutation strategy"))
    if all(step["strategy"] in SURFACE_STRATEGIES for step in chain):
        raise RunError(gettext(
            "traditional, zero_width and full_width only change how the text looks; after normalisation the "
            "variant equals its source, a duplicate. Chain them after a strategy that changes the wording "
            "(homophone, pinyin, chaizi, code_mix or a wrapper)"
        ))
    return chain


@transaction.atomic
def run_create(
    *,
    mode: str = Run.Mode.LLM,
    count: int,
    actor=None,
    taxonomy: Taxonomy | None = None,
    dimension: Dimension | None = None,
    sub_dimension: SubDimension | None = None,
    techniques: Sequence[Technique] = (),
    seed_topics: Sequence[str] = (),
    events: Sequence[Event] = (),
    endpoint=None,
    temperature: float = 0.9,
    batch_size: int | None = None,
    strategies: Sequence[Any] = (),
    seed: int = 0,
    source_statuses: Sequence[str] = (Prompt.Status.APPROVED,),
    enqueue: bool = True,
) -> Run:
    """Plan a run and its batches; the work is queued after commit (or left for the caller)."""
    if mode not in Run.Mode.values:
        raise RunError(gettext("unknown mode %(mode)s") % {"mode": repr(mode)})
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise RunError(gettext("count must be between 1 and %(max)s") % {"max": MAX_COUNT})
    batch_size = int(batch_size or getattr(settings, "GENERATION_BATCH_SIZE", 10))
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise RunError(gettext("batch size must be between 1 and %(max)s") % {"max": MAX_BATCH_SIZE})
    if dimension is not None and taxonomy is not None and dimension.taxonomy_id != taxonomy.pk:
        raise RunError(gettext("the dimension does not belong to that taxonomy"))
    if dimension is not None:
        taxonomy = dimension.taxonomy
    if sub_dimension is not None and (dimension is None or sub_dimension.dimension_id != dimension.pk):
        raise RunError(gettext("the sub-dimension does not belong to that dimension"))
    topics = [clean_text(t)[:200] for t in seed_topics if t and str(t).strip()][:50]
    techniques = list(dict.fromkeys(techniques))
    events = list(dict.fromkeys(events))
    run = Run(
        mode=mode, count=count, batch_size=batch_size, taxonomy=taxonomy, dimension=dimension,
        sub_dimension=sub_dimension, seed_topics=topics, temperature=float(temperature), created_by=actor,
        seed=int(seed),
    )
    if mode == Run.Mode.LLM:
        if endpoint is None:
            raise RunError(gettext("choose a generator endpoint"))
        if dimension is None:
            raise RunError(gettext("choose a dimension"))
        if not 0 <= run.temperature <= 2:
            raise RunError(gettext("temperature must be between 0 and 2"))
        run.endpoint = endpoint
        run.params = _llm_params(run, dimension, sub_dimension, techniques, events, endpoint)
        run.save()
        sizes = _plan_sizes(count, batch_size)
        Batch.objects.bulk_create([Batch(run=run, index=i, requested=n) for i, n in enumerate(sizes)])
    else:
        chain = _normalise_chain(strategies)
        statuses = [s for s in source_statuses if s in Prompt.Status.values] or [Prompt.Status.APPROVED]
        run.strategies = chain
        run.source_statuses = statuses
        sources = Prompt.objects.filter(status__in=statuses)
        if dimension is not None:
            sources = sources.filter(dimension=dimension)
        elif taxonomy is not None:
            sources = sources.filter(dimension__taxonomy=taxonomy)
        if sub_dimension is not None:
            sources = sources.filter(sub_dimension=sub_dimension)
        source_ids = list(sources.order_by("pk").values_list("pk", flat=True))
        if not source_ids:
            raise RunError(gettext("no prompts match the chosen statuses and dimension to mutate"))
        run.params = {"chain": chain, "seed": run.seed, "sources_available": len(source_ids)}
        run.save()
        rng = random.Random(f"livesec-mutation-run:{run.seed}")
        rng.shuffle(source_ids)
        # Each source is used once before any is used twice; a repeat gets its own occurrence number,
        # hence its own seed and variant.
        picks = [[source_ids[i % len(source_ids)], i // len(source_ids)] for i in range(count)]
        Batch.objects.bulk_create([
            Batch(run=run, index=b, requested=len(picks[start:start + batch_size]), sources=picks[start:start + batch_size])
            for b, start in enumerate(range(0, count, batch_size))
        ])
    run.techniques.set(techniques)
    run.events.set(events)
    run.batches_total = run.batches.count()
    run.save(update_fields=["batches_total"])
    if enqueue:
        _enqueue(run.pk)
    return run


def _llm_params(run: Run, dimension: Dimension, sub_dimension, techniques, events, endpoint) -> dict[str, Any]:
    dim_template = template_current(dimension=dimension)
    tech_templates = [template_current(technique=t) for t in techniques]
    techniques_section = ""
    if tech_templates:
        techniques_section = gt.TECHNIQUES_HEADER + "".join(f"- {t.body.strip()}\n" for t in tech_templates)
    topics_section = gt.TOPICS_HEADER.format(topics="、".join(run.seed_topics)) if run.seed_topics else ""
    events_section = ""
    if events:
        lines = [f"- {e.date:%Y-%m-%d} {e.title}" + (f"：{e.summary[:300]}" if e.summary else "") for e in events]
        events_section = gt.EVENTS_HEADER + "\n".join(lines) + "\n"
    from llm.services import endpoint_config

    return {
        "templates": [
            {"id": dim_template.pk, "scope": "dimension", "target": dimension.code, "version": dim_template.version},
            *({"id": t.pk, "scope": "technique", "target": t.technique.code, "version": t.version} for t in tech_templates),
        ],
        "system_text": dim_template.system_text,
        "body": dim_template.body,
        "context": {
            "taxonomy": dimension.taxonomy.name_zh,
            "dimension": dimension.name_zh,
            "sub_dimension": f"（{sub_dimension.name_zh}）" if sub_dimension else "",
            "techniques": techniques_section,
            "topics": topics_section,
            "events": events_section,
        },
        "endpoint": {"id": endpoint.pk, "name": endpoint.name, "model": endpoint.model,
                     "fingerprint": endpoint_config(endpoint).fingerprint()},
        "uses_reference_answers": dimension.uses_reference_answers,
        "event_ids": [e.pk for e in events],
    }


def batch_messages(run: Run, batch: Batch) -> list[dict[str, str]]:
    """The chat messages of a batch: fixed by the run's frozen template text, the batch number and how
    many failed attempts it has had (a retry asks anew instead of replaying a cached bad answer)."""
    p = run.params
    label = f"{batch.index + 1}" + (f" · 重试 {batch.attempts}" if batch.attempts else "")
    context = {**p["context"], "count": batch.requested, "run": run.pk, "batch": label}
    messages = []
    if p.get("system_text"):
        messages.append({"role": "system", "content": p["system_text"]})
    messages.append({"role": "user", "content": gt.render(p["body"], context)})
    return messages


def batch_call_params(run: Run, batch: Batch) -> dict[str, Any]:
    params: dict[str, Any] = {"temperature": run.temperature}
    defaults = run.endpoint.default_params or {}
    if "max_tokens" not in defaults and "max_completion_tokens" not in defaults:
        # Room for the items (and reference answers) without letting a rambling model run on for ever.
        params["max_tokens"] = min(8192, 400 + 250 * batch.requested)
    return params


# -- cancelling and resuming -------------------------------------------------------------------


@transaction.atomic
def run_cancel(*, run: Run, actor=None) -> Run:
    run = Run.objects.select_for_update().get(pk=run.pk)
    if not run.is_active:
        raise RunError(gettext("only a queued or running run can be cancelled"))
    run.status = Run.Status.CANCELLED
    run.finished_at = timezone.now()
    run.error = f"cancelled by {actor}" if actor else "cancelled"
    run.save(update_fields=["status", "finished_at", "error"])
    return run


@transaction.atomic
def run_resume(*, run: Run, actor=None, enqueue: bool = True) -> Run:
    """Queue a run again: failed batches are retried, pending ones run, finished ones are kept."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    retry = run.batches.filter(status=Batch.Status.FAILED)
    has_work = retry.exists() or run.batches.exclude(status=Batch.Status.DONE).exists()
    if run.is_active:
        if enqueue:
            _enqueue(run.pk)  # a stalled run: the lease decides whether anyone is still on it
        return run
    if not has_work:
        raise RunError(gettext("nothing to resume: every batch is done"))
    retry.update(status=Batch.Status.PENDING)
    run.status = Run.Status.QUEUED
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["status", "finished_at", "error"])
    _refresh_counters(run.pk)
    if enqueue:
        _enqueue(run.pk)
    return run


# -- leases ------------------------------------------------------------------------------------

_ACTIVE_HERE: set[int] = set()
_ACTIVE_LOCK = threading.Lock()


def _new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: str, run_id: int) -> bool:
    """True when the lease holder is a process of this host that is gone (or a finished task of ours)."""
    try:
        host, pid, _token = owner.rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid_n == os.getpid():
        with _ACTIVE_LOCK:
            return run_id not in _ACTIVE_HERE
    import psutil

    try:
        proc = psutil.Process(pid_n)
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _lease_seconds() -> float:
    return float(getattr(settings, "GENERATION_LEASE_SECONDS", 60))


def _claim(run_id: int, owner: str) -> bool:
    now = timezone.now()
    expires = now + timedelta(seconds=_lease_seconds())
    free = Q(lease_owner="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner)
    active = Run.objects.filter(pk=run_id, status__in=Run.ACTIVE)
    if active.filter(free).update(lease_owner=owner, lease_expires_at=expires):
        return True
    held = active.values_list("lease_owner", flat=True).first()
    if held and _owner_dead(held, run_id):
        log.warning("generation run %s: lease holder %s is gone; taking the run over", run_id, held)
        return bool(active.filter(lease_owner=held).update(lease_owner=owner, lease_expires_at=expires))
    return False


def _renew(run_id: int, owner: str) -> None:
    Run.objects.filter(pk=run_id, lease_owner=owner).update(
        lease_expires_at=timezone.now() + timedelta(seconds=_lease_seconds())
    )


def _release(run_id: int, owner: str) -> None:
    Run.objects.filter(pk=run_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def runs_recover() -> list[int]:
    """Queue again every active run nobody holds (worker start-up): a worker that died mid-run."""
    generation_run_execute = task("generation.tasks.generation_run_execute")
    generation_runs_recover = task("generation.tasks.generation_runs_recover")

    queued: list[int] = []
    later: float | None = None
    now = timezone.now()
    for run_id, owner, expires in Run.objects.filter(status__in=Run.ACTIVE).values_list(
        "pk", "lease_owner", "lease_expires_at"
    ):
        if not owner or expires is None or expires < now or _owner_dead(owner, run_id):
            generation_run_execute.delay(run_id)
            queued.append(run_id)
        else:
            wait_s = (expires - now).total_seconds() + 1
            later = wait_s if later is None else min(later, wait_s)
    if later is not None:
        generation_runs_recover.apply_async(countdown=later)
    if queued:
        log.info("generation runs queued again after a restart: %s", queued)
    return queued


# -- executing ---------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    status: str
    reason: str = ""
    created: int = 0
    exact: int = 0
    near: int = 0


def _refresh_counters(run_id: int) -> None:
    agg = Batch.objects.filter(run_id=run_id).aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=Batch.Status.DONE)),
        failed=Count("pk", filter=Q(status=Batch.Status.FAILED)),
        created=Sum("created_count"),
        exact=Sum("exact_duplicates"),
        near=Sum("near_duplicates"),
        gated=Sum("gated_count"),
    )
    reasons: dict[str, int] = {}
    if agg["gated"]:
        for counts in Batch.objects.filter(run_id=run_id, gated_count__gt=0).values_list("gate_reasons", flat=True):
            for code, n in (counts or {}).items():
                reasons[code] = reasons.get(code, 0) + int(n)
    Run.objects.filter(pk=run_id).update(
        batches_total=agg["total"], batches_done=agg["done"], batches_failed=agg["failed"],
        candidates_created=agg["created"] or 0, exact_duplicates=agg["exact"] or 0, near_duplicates=agg["near"] or 0,
        gated=agg["gated"] or 0, gate_reasons=_ordered_reasons(reasons),
    )


def _ordered_reasons(counts: dict[str, int]) -> dict[str, int]:
    known = [code for code in qg.REASONS if counts.get(code)]
    return {code: counts[code] for code in [*known, *sorted(set(counts) - set(known))] if counts[code]}


def run_execute(*, run_id: int) -> Run | None:
    """Work through a run's unfinished batches. Safe to call twice: the second caller finds the
    lease held (or the run finished) and returns None."""
    owner = _new_owner()
    if not _claim(run_id, owner):
        log.info("generation run %s: not claimed (finished, cancelled or held by another worker)", run_id)
        return None
    with _ACTIVE_LOCK:
        _ACTIVE_HERE.add(run_id)
    try:
        Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING, started_at=timezone.now()
        )
        run = Run.objects.select_related("endpoint", "dimension", "dimension__taxonomy").get(pk=run_id)
        if run.mode == Run.Mode.LLM:
            _execute_llm(run, owner)
        else:
            _execute_mutation(run, owner)
        _finish(run_id)
    except Exception as exc:
        log.exception("generation run %s failed", run_id)
        Run.objects.filter(pk=run_id, status__in=Run.ACTIVE).update(
            status=Run.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
    finally:
        _release(run_id, owner)
        with _ACTIVE_LOCK:
            _ACTIVE_HERE.discard(run_id)
        try:
            from curation import dedup_service

            dedup_service.persist()
        except Exception:  # the index is a cache: losing a save only costs a catch-up
            log.exception("could not persist the dedup index")
    return Run.objects.get(pk=run_id)


def _finish(run_id: int) -> None:
    _refresh_counters(run_id)
    run = Run.objects.get(pk=run_id)
    if run.status not in Run.ACTIVE:
        return  # cancelled meanwhile: finished batches are kept, the rest stays pending for a resume
    if run.batches.exclude(status__in=[Batch.Status.DONE, Batch.Status.FAILED]).exists():
        return  # lease lost half-way; whoever holds it now finishes
    if run.batches_done == 0:
        status, error = Run.Status.FAILED, "every batch failed; see each batch for its reason"
    else:
        status = Run.Status.SUCCEEDED
        error = f"{run.batches_failed} batch(es) failed; resume the run to retry them" if run.batches_failed else ""
    Run.objects.filter(pk=run_id, status__in=Run.ACTIVE).update(status=status, error=error, finished_at=timezone.now())


def _cancelled(run_id: int) -> bool:
    return Run.objects.filter(pk=run_id).values_list("status", flat=True).first() not in Run.ACTIVE


def _unfinished(run_id: int) -> list[Batch]:
    # "running" here means started by an executor that is gone: we hold the lease now.
    return list(
        Batch.objects.filter(run_id=run_id, status__in=[Batch.Status.PENDING, Batch.Status.RUNNING]).order_by("index")
    )


def _execute_llm(run: Run, owner: str) -> None:
    from llm.services import client_flush, client_for

    endpoint = run.endpoint
    parallel = max(1, min(int(endpoint.max_concurrency), 32))
    client = client_for(endpoint, purpose=f"generation run {run.pk}")
    try:
        while True:
            batches = _unfinished(run.pk)
            if not batches:
                if _cancelled(run.pk) or not _plan_topup(run.pk):
                    return
                continue
            client.cache.preload(client.cache_key(batch_messages(run, b), {**endpoint.default_params,
                                                                           **batch_call_params(run, b)})
                                 for b in batches)
            if not _run_wave(run, owner, client, batches, parallel, client_flush):
                return  # cancelled
    finally:
        client_flush(client)
        client.close()


def _run_wave(run, owner, client, batches: list[Batch], parallel: int, client_flush) -> bool:
    """Run these batches, at most `parallel` at a time; False if the run was cancelled meanwhile."""
    queue = list(batches)
    running: dict[Future, Batch] = {}
    cancelled = False
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=f"gen-run-{run.pk}") as pool:
        while queue or running:
            while queue and not cancelled and len(running) < parallel:
                batch = queue.pop(0)
                Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RUNNING, started_at=timezone.now())
                future = pool.submit(client.chat, batch_messages(run, batch), **batch_call_params(run, batch))
                running[future] = batch
            if not running:
                break
            done, _ = wait(running, timeout=max(1.0, _lease_seconds() / 3), return_when=FIRST_COMPLETED)
            _renew(run.pk, owner)
            for future in done:
                batch = running.pop(future)
                client_flush(client)
                try:
                    result = future.result()
                except Exception as exc:  # the client never raises for API errors; this is a bug or a crash
                    result = LLMResult(ERROR, error=f"{type(exc).__name__}: {exc}")
                _record_llm_batch(run, batch.pk, result)
            if not cancelled and _cancelled(run.pk):
                cancelled = True
                queue.clear()
    _renew(run.pk, owner)
    return not cancelled


def run_execute_batch(*, batch_id: int) -> BatchOutcome | None:
    """Execute one batch on the calling thread; a batch already done is skipped (returns None)."""
    batch = Batch.objects.select_related("run", "run__endpoint", "run__dimension").get(pk=batch_id)
    if batch.status == Batch.Status.DONE:
        return None
    run = batch.run
    if run.mode == Run.Mode.MUTATION:
        return _record_mutation_batch(run, batch_id)
    from llm.services import client_flush, client_for

    with client_for(run.endpoint, purpose=f"generation run {run.pk}") as client:
        result = client.chat(batch_messages(run, batch), **batch_call_params(run, batch))
        client_flush(client)
    return _record_llm_batch(run, batch_id, result)


def _failure_reason(result: LLMResult) -> str:
    if result.outcome == BLOCKED:
        return f"blocked by the provider's content filter ({result.error or result.finish_reason})"
    if result.outcome == EMPTY:
        return "the model returned empty output"
    if result.outcome == ERROR:
        return f"the call failed after {result.attempts} attempt(s): {result.error}"
    return result.error or result.outcome


def gate_thresholds() -> qg.Thresholds:
    """The quality gate's thresholds: its defaults, or what settings.GENERATION_GATE overrides."""
    return qg.Thresholds.from_mapping(getattr(settings, "GENERATION_GATE", None))


def _gate_items(run: Run, batch: Batch, items: list[dict[str, Any]], *, output_truncated: bool
                ) -> tuple[list[dict[str, Any]], list[qg.Drop]]:
    """The items fit for review, and what the quality gate dropped, judged against this batch's own prompt."""
    instructions = [m["content"] for m in batch_messages(run, batch)]
    result = qg.gate_texts([str(item.get("text") or "") for item in items], instructions=instructions,
                           output_truncated=output_truncated, thresholds=gate_thresholds())
    return [items[i] for i in result.kept], result.dropped


def _gate_note(drops: Sequence[qg.Drop]) -> str:
    counts = qg.GateResult(dropped=list(drops)).counts()
    return f"quality gate dropped {len(drops)} ({', '.join(f'{code} {n}' for code, n in counts.items())})"


def _record_llm_batch(run: Run, batch_id: int, result: LLMResult) -> BatchOutcome | None:
    batch = Batch.objects.get(pk=batch_id)
    items: list[dict[str, Any]] = []
    drops: list[qg.Drop] = []
    notes: list[str] = []
    if result.outcome in (OK, TRUNCATED):
        # Parsed without a cap: junk the gate drops must not take the places of usable items.
        parsed = parse_prompt_list_detailed(result.content)
        items = parsed.items
        kept, drops = _gate_items(run, batch, items, output_truncated=(
            result.outcome == TRUNCATED and parsed.method in OPEN_ENDED_PARSES))
        kept = kept[:batch.requested]
        if result.outcome == TRUNCATED:
            notes.append(f"output truncated (finish_reason=length); kept {len(kept)} complete item(s)")
            if not items:
                notes.append(parsed.reason)
        elif not items:
            notes.append(f"unusable output: {parsed.reason}")
        if drops:
            notes.append(_gate_note(drops))
    else:
        kept = []
        notes.append(_failure_reason(result))
    raw = (result.content or "")[:RAW_OUTPUT_LIMIT]
    drafts = _llm_drafts(run, batch, kept, result) if kept else []
    return _record(run, batch_id, drafts, raw_output=raw, reason="; ".join(notes), outcome=result.outcome,
                   parsed=len(items), gated=drops)


def _llm_drafts(run: Run, batch: Batch, items: list[dict[str, Any]], result: LLMResult) -> list[PromptDraft]:
    # Asking the model for a technique does not make a prompt use it: the request is provenance, and an
    # annotator's check on the review page turns it into a label.
    requested = list(run.techniques.order_by("order", "code").values_list("code", flat=True))
    uses_refs = bool(run.params.get("uses_reference_answers"))
    provenance = {
        "kind": "generation",
        "run": run.pk,
        "batch": batch.index,
        "endpoint": run.params["endpoint"]["name"],
        "model": result.model or run.params["endpoint"]["model"],
        "templates": run.params["templates"],
        "params": {**(run.endpoint.default_params or {}), **batch_call_params(run, batch)},
        "events": run.params.get("event_ids", []),
        "topics": run.seed_topics,
        "llm_outcome": result.outcome,
        "techniques_requested": requested,
    }
    drafts = []
    for item in items:
        try:
            text = clean_text(str(item["text"]))
        except (TypeError, ValueError):
            continue  # NUL, lone surrogates or blank: nothing a reviewer could use
        refs = [str(r).strip() for r in item.get("reference_answers") or [] if str(r).strip()]
        extra = {k: v for k, v in item.items() if k not in ("text", "risk_expression", "reference_answers")}
        drafts.append(PromptDraft(
            text=text,
            dimension_id=run.dimension_id,
            sub_dimension_id=run.sub_dimension_id,
            technique_ids=[],
            risk_expression=item.get("risk_expression") or "",
            expected_behaviour=Prompt.ExpectedBehaviour.CORRECT_PREMISE if uses_refs else "",
            reference_answers=refs,
            provenance=provenance,
            metadata={"generator": extra} if extra else {},
        ))
    return drafts


@transaction.atomic
def _record(run: Run, batch_id: int, drafts: list[PromptDraft], *, raw_output: str, reason: str, outcome: str,
            parsed: int, gated: Sequence[qg.Drop] = ()) -> BatchOutcome | None:
    """Record one batch and create its candidates in one transaction; a batch done already is left alone."""
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if batch.status == Batch.Status.DONE:
        return None
    created = exact = near = 0
    if drafts:
        result = prompts_create(drafts=drafts, source=Prompt.Source.GENERATED, actor=run.created_by,
                                reason=f"generation run {run.pk}, batch {batch.index + 1}")
        created, exact, near = len(result.created_ids), len(result.duplicates), len(result.near_duplicates)
    usable = bool(drafts)
    batch.status = Batch.Status.DONE if usable else Batch.Status.FAILED
    if not usable and parsed and not reason:
        reason = "every parsed item was unusable (blank or invalid text)"
    batch.reason = reason[:5000]
    batch.raw_output = raw_output if (not usable or reason) else raw_output[:20000]
    batch.llm_outcome = outcome
    batch.parsed_count = parsed
    batch.created_count, batch.exact_duplicates, batch.near_duplicates = created, exact, near
    # A retried batch is judged anew: what an earlier attempt dropped is replaced, not added to.
    batch.gated_count = len(gated)
    batch.gate_reasons = qg.GateResult(dropped=list(gated)).counts()
    batch.gated_items = [{"text": d.text[:GATED_TEXT_LIMIT], "reason": d.reason, "detail": d.detail}
                         for d in gated[:GATED_ITEMS_LIMIT]]
    batch.attempts += 1
    batch.finished_at = timezone.now()
    batch.save()
    _refresh_counters(run.pk)
    return BatchOutcome(batch.status, reason, created, exact, near)


def _plan_topup(run_id: int) -> bool:
    """Add batches for what duplicates took away, while the last round still produced candidates."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.mode != Run.Mode.LLM or run.topup_rounds >= MAX_TOPUP_ROUNDS or run.status not in Run.ACTIVE:
            return False
        _refresh_counters(run_id)
        run.refresh_from_db()
        shortfall = run.count - run.candidates_created
        if shortfall <= 0:
            return False
        round_start = int(run.params.get("round_start", 0))
        if not run.batches.filter(index__gte=round_start, created_count__gt=0).exists():
            return False
        start = run.batches.order_by("-index").values_list("index", flat=True).first() + 1
        sizes = _plan_sizes(shortfall, run.batch_size)
        Batch.objects.bulk_create([Batch(run=run, index=start + i, requested=n) for i, n in enumerate(sizes)])
        run.params = {**run.params, "round_start": start}
        run.topup_rounds += 1
        run.save(update_fields=["topup_rounds", "params"])
        _refresh_counters(run_id)
        return True


# -- offline mutations -------------------------------------------------------------------------


def _item_seed(run_seed: int, prompt_id: int, occurrence: int) -> int:
    digest = hashlib.sha256(f"livesec-mutation-item:{run_seed}:{prompt_id}:{occurrence}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def _execute_mutation(run: Run, owner: str) -> None:
    for batch in _unfinished(run.pk):
        if _cancelled(run.pk):
            return
        Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RUNNING, started_at=timezone.now())
        _record_mutation_batch(run, batch.pk)
        _renew(run.pk, owner)


def _record_mutation_batch(run: Run, batch_id: int) -> BatchOutcome | None:
    batch = Batch.objects.get(pk=batch_id)
    chain = [(step["strategy"], step["params"]) for step in run.strategies]
    sources = {p.pk: p for p in Prompt.objects.filter(pk__in=[pid for pid, _ in batch.sources]).prefetch_related("techniques")}
    tech_codes = {STRATEGY_TECHNIQUES[s["strategy"]] for s in run.strategies if s["strategy"] in STRATEGY_TECHNIQUES}
    chain_tech_ids = list(Technique.objects.filter(code__in=tech_codes).values_list("pk", flat=True))
    wrapped = any(s["strategy"] in WRAPPER_STRATEGIES for s in run.strategies)
    drafts: list[PromptDraft] = []
    unchanged = missing = 0
    for pid, occurrence in batch.sources:
        source = sources.get(pid)
        if source is None:
            missing += 1
            continue
        seed = _item_seed(run.seed, pid, occurrence)
        try:
            result = mutations.mutate(source.text, chain, seed)
        except Exception:  # one odd source must not sink the batch
            log.exception("mutation of prompt %s failed", pid)
            unchanged += 1
            continue
        if not result.changed:
            unchanged += 1
            continue
        try:
            text = clean_text(result.text)
        except ValueError:
            unchanged += 1
            continue
        drafts.append(PromptDraft(
            text=text,
            dimension_id=source.dimension_id,
            sub_dimension_id=source.sub_dimension_id,
            technique_ids=list(dict.fromkeys([*(t.pk for t in source.techniques.all()), *chain_tech_ids])),
            language=source.language,
            risk_expression=Prompt.RiskExpression.IMPLICIT if wrapped else source.risk_expression,
            severity=source.severity,
            expected_behaviour=source.expected_behaviour,
            reference_answers=list(source.reference_answers or []),
            provenance={
                "kind": "mutation", "run": run.pk, "batch": batch.index, "source_prompt": pid,
                "occurrence": occurrence, "chain": result.steps, "seed": seed,
            },
        ))
    notes = []
    if unchanged:
        notes.append(f"{unchanged} source(s) unchanged by the chain")
    if missing:
        notes.append(f"{missing} source(s) no longer exist")
    reason = "; ".join(notes)
    if not drafts:
        reason = reason or "nothing to mutate"
    return _record(run, batch_id, drafts, raw_output="", reason=reason, outcome="mutation", parsed=len(batch.sources))
