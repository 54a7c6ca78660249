"""Attack runs: create, execute (lease-holding, resumable after each turn), cancel; successes become candidates."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from core.queue import task
from curation.models import Dimension, Prompt, Technique
from curation.services import PromptDraft, prompts_create
from curation.text import check_storable, clean_text

from . import attack
from . import quality_gate as qg
from .models import AttackRun
from .services import STRATEGY_TECHNIQUES, WRAPPER_STRATEGIES, RunError, _new_owner, gate_thresholds

log = logging.getLogger(__name__)

LIMITS = {"streams": (1, 10), "iterations": (1, 20), "branching": (1, 5), "width": (1, 10), "threshold": (1, 10),
          "max_calls": (1, 5000), "max_tokens": (1, 10_000_000), "max_seconds": (1, 86_400)}


def _check_limits(values: dict[str, Any]) -> None:
    for name, (low, high) in LIMITS.items():
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RunError(gettext("%(name)s must be a whole number from %(low)s to %(high)s")
                           % {"name": name, "low": low, "high": high})
    rate = values["mutation_rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise RunError(gettext("the offline mutation rate must be between 0 and 1"))


def _enqueue(run_id: int) -> None:
    attack_run_execute = task("generation.tasks.attack_run_execute")

    transaction.on_commit(lambda: attack_run_execute.delay(run_id))


@transaction.atomic
def attack_run_create(*, attacker, target, judge, seed_prompt: Prompt | None = None, seed_text: str = "",
                      dimension: Dimension | None = None, streams: int = 3, iterations: int = 4, branching: int = 1,
                      width: int = 1, tap: bool = False, threshold: int = 10, mutation_rate: float = 0.2,
                      seed: int = 0, max_calls: int = 60, max_tokens: int = 200_000, max_seconds: int = 600,
                      actor=None, enqueue: bool = True) -> AttackRun:
    """Record a run and queue it. The seed is a prompt of the pool (its text and dimension) or a text given here."""
    values = {"streams": streams, "iterations": iterations, "branching": branching, "width": width,
              "threshold": threshold, "max_calls": max_calls, "max_tokens": max_tokens, "max_seconds": max_seconds,
              "mutation_rate": mutation_rate}
    _check_limits(values)
    if seed_prompt is not None:
        seed_text, dimension = seed_prompt.text, seed_prompt.dimension
    else:
        try:
            seed_text = clean_text(seed_text or "")
        except ValueError as exc:
            raise RunError(str(exc)) from exc
        if dimension is None:
            raise RunError(gettext("a seed text needs a dimension"))
    check_storable(seed_text)
    run = AttackRun.objects.create(
        seed_prompt=seed_prompt, seed_text=seed_text, dimension=dimension, attacker=attacker, target=target,
        judge=judge, tap=bool(tap) or branching > 1, seed=int(seed), created_by=actor, state=attack.new_state(),
        **values)
    if enqueue:
        _enqueue(run.pk)
    return run


@transaction.atomic
def attack_run_cancel(*, run: AttackRun, actor=None) -> AttackRun:
    AttackRun.objects.filter(pk=run.pk, status__in=AttackRun.ACTIVE).update(
        status=AttackRun.Status.CANCELLED, finished_at=timezone.now())
    run.refresh_from_db()
    return run


# -- executing ---------------------------------------------------------------------------------


def _lease_seconds() -> float:
    return float(getattr(settings, "GENERATION_LEASE_SECONDS", 60))


def _claim(run_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_owner="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    return bool(AttackRun.objects.filter(free, pk=run_id, status__in=AttackRun.ACTIVE).update(
        lease_owner=owner, lease_expires_at=now + timedelta(seconds=_lease_seconds())))


def attack_runs_recover() -> list[int]:
    """Queue again every active run whose lease is free or expired (a worker died mid-run): it resumes
    from its last saved turn."""
    execute = task("generation.tasks.attack_run_execute")

    now = timezone.now()
    stale = AttackRun.objects.filter(
        Q(lease_owner="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        status__in=AttackRun.ACTIVE)
    queued = list(stale.values_list("pk", flat=True))
    for run_id in queued:
        execute.delay(run_id)
    return queued


def _config(run: AttackRun) -> tuple[attack.Config, attack.Budget]:
    config = attack.Config(streams=run.streams, iterations=run.iterations, branching=run.branching, width=run.width,
                           threshold=run.threshold, mutation_rate=run.mutation_rate, seed=run.seed, tap=run.tap)
    return config, attack.Budget(max_calls=run.max_calls, max_tokens=run.max_tokens, max_seconds=run.max_seconds)


def _caller(clients: dict[str, Any]) -> attack.Caller:
    def call(role: str, messages: list[dict[str, str]], params: dict[str, Any]) -> attack.Reply:
        result = clients[role].chat(messages, **params)
        tokens = (result.prompt_tokens or 0) + (result.completion_tokens or 0)
        if result.ok or result.outcome == "truncated":
            return attack.Reply(result.content or "", tokens)
        return attack.Reply("", tokens, error=f"{result.outcome}: {result.error or ''}".strip(": ")[:500])

    return call


class _Cancelled(Exception):
    pass


def attack_run_execute(*, run_id: int) -> AttackRun | None:
    """Run the loop on this thread, saving the state after every turn; None when another worker holds it."""
    from llm.services import client_flush, client_for

    owner = _new_owner()
    if not _claim(run_id, owner):
        return None
    clients: dict[str, Any] = {}
    try:
        AttackRun.objects.filter(pk=run_id, status=AttackRun.Status.QUEUED).update(
            status=AttackRun.Status.RUNNING, started_at=timezone.now())
        run = AttackRun.objects.select_related("attacker", "target", "judge", "dimension").get(pk=run_id)
        config, budget = _config(run)
        for role, endpoint in ((attack.ATTACKER, run.attacker), (attack.TARGET, run.target),
                               (attack.JUDGE, run.judge)):
            clients[role] = client_for(endpoint, purpose=f"attack run {run.pk} {role}")

        def after_turn(state: dict[str, Any]) -> None:
            for client in clients.values():
                client_flush(client)
            _save_turn(run, state, owner)
            if AttackRun.objects.filter(pk=run.pk, status=AttackRun.Status.CANCELLED).exists():
                raise _Cancelled

        state = run.state if run.state.get("nodes") is not None else attack.new_state()
        try:
            attack.run(run.seed_text, config=config, budget=budget, caller=_caller(clients), clock=time.monotonic,
                       state=state, after_turn=after_turn)
        except _Cancelled:
            return AttackRun.objects.get(pk=run_id)
        AttackRun.objects.filter(pk=run_id, status__in=AttackRun.ACTIVE).update(
            status=AttackRun.Status.SUCCEEDED, finished_at=timezone.now())
    except Exception as exc:
        log.exception("attack run %s failed", run_id)
        AttackRun.objects.filter(pk=run_id, status__in=AttackRun.ACTIVE).update(
            status=AttackRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
    finally:
        for client in clients.values():
            client_flush(client)
            client.close()
        AttackRun.objects.filter(pk=run_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)
    return AttackRun.objects.get(pk=run_id)


@transaction.atomic
def _save_turn(run: AttackRun, state: dict[str, Any], owner: str) -> None:
    """Store the state and turn this turn's successes into candidates, in one transaction."""
    locked = AttackRun.objects.select_for_update().get(pk=run.pk)
    skipped = list(locked.candidates_skipped)
    created = locked.candidates_created
    for node in attack.successes(state):
        if node.get("recorded"):
            continue
        outcome = _record_success(locked, state, node)
        node["recorded"] = True
        if isinstance(outcome, int):
            node["candidate"] = outcome
            created += 1
        else:
            node["skipped"] = outcome
            skipped.append({"node": node["id"], "reason": outcome})
    AttackRun.objects.filter(pk=run.pk).update(
        state=state, calls=state["calls"], tokens=state["tokens"], stop_reason=state.get("stop", ""),
        successes=len(attack.successes(state)), candidates_created=created, candidates_skipped=skipped,
        lease_expires_at=timezone.now() + timedelta(seconds=_lease_seconds()))


def _record_success(run: AttackRun, state: dict[str, Any], node: dict[str, Any]) -> int | str:
    """The new candidate's id, or why the rewrite did not become one (quality gate, duplicate, unstorable)."""
    try:
        text = clean_text(node["prompt"])
    except ValueError as exc:
        return f"unstorable: {exc}"
    verdict = qg.check_text(text, thresholds=gate_thresholds())
    if verdict is not None:
        return f"gate: {verdict[0]}"
    technique = attack.node_technique(node)
    code = STRATEGY_TECHNIQUES.get(technique)
    technique_ids = list(Technique.objects.filter(code=code).values_list("pk", flat=True)) if code else []
    applied = node["move"] in attack.TECHNIQUE_MOVES
    seed_prompt = run.seed_prompt
    provenance = {
        "kind": "attack", "attack_run": run.pk,
        "seed": {"prompt": run.seed_prompt_id, "text": run.seed_text},
        "attacker": run.attacker.model, "target": run.target.model, "judge": run.judge.model,
        "chain": attack.chain_of(state, node["id"]), "score": node["score"], "technique": technique,
        "techniques_requested": [code] if code and not applied else [],
        "techniques_applied": [code] if code and applied else [],
    }
    draft = PromptDraft(
        text=text, dimension_id=run.dimension_id,
        sub_dimension_id=seed_prompt.sub_dimension_id if seed_prompt else None,
        # An offline move's technique is in the text by construction; the attacker's is a claim for review.
        technique_ids=technique_ids if applied else [],
        risk_expression=Prompt.RiskExpression.IMPLICIT if technique in WRAPPER_STRATEGIES else "",
        severity=seed_prompt.severity if seed_prompt else None,
        expected_behaviour=seed_prompt.expected_behaviour if seed_prompt else "",
        reference_answers=list(seed_prompt.reference_answers or []) if seed_prompt else [],
        provenance=provenance,
    )
    result = prompts_create(drafts=[draft], source=Prompt.Source.GENERATED, actor=run.created_by,
                            reason=f"attack run {run.pk}")
    if not result.created_ids:
        return "duplicate"
    return result.created_ids[0]
