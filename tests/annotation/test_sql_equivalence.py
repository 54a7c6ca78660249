"""The hand-written PostgreSQL of the claim, the submit and the consensus decision against their ORM
versions, the specification (core.db.fast_path, switched by settings.SQL_FAST_PATH).

The same randomised scenario (claims, heartbeats, skips, lease expiries, late, surplus and double submits,
revisions, consensus and adjudication on any rule) runs once on each path, from the same rows and on the
same frozen clock, inside a savepoint rolled back afterwards; every row the two write (queue items, leases,
claims, annotations and their techniques, the prompts' status and labels, the status log) must be the same,
and so must every answer the services gave.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from annotation import services
from annotation.models import Annotation, Claim, Lease, QueueItem
from curation.models import Dimension, Prompt, PromptLog, SubDimension, Technique
from tests.conftest import requires_postgres
from tests.factories import UserFactory, make_items, make_queue

pytestmark = [requires_postgres, pytest.mark.django_db]

STEPS = 90
TEXTS = ["改写后的提示一", "改写后的提示二", "改写后的提示三"]


START = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)


class _Rollback(Exception):
    pass


class Clock:
    """A frozen clock the scenario moves by hand (a day behind the database's own, which the claim's
    window compares with: so the window is never narrower than the claim's own test)."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self):
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _labels(rng: random.Random, catalogue: dict) -> dict:
    """A random submit: sometimes leaves a label out (the prompt's value), sometimes gets one wrong."""
    decision = rng.choice(["accept", "accept", "edit", "reject"])
    kw: dict = {"decision": decision}
    if decision == "edit":
        kw["final_text"] = rng.choice(TEXTS + [""])
    if decision == "reject":
        kw["reject_reason"] = rng.choice(["duplicate", "unclear", "other", "other", "bogus"])
        kw["note"] = rng.choice(["", "理由"])
    if rng.random() < 0.4:
        kw["dimension_id"] = rng.choice(catalogue["dimensions"])
    if rng.random() < 0.3:
        kw["sub_dimension_id"] = rng.choice(catalogue["subs"] + [None])
    if rng.random() < 0.5:
        kw["technique_ids"] = rng.sample(catalogue["techniques"], rng.randint(0, 2))
    if rng.random() < 0.5:
        kw["severity"] = rng.choice([None, 1, 3, 5, 7])
    if rng.random() < 0.4:
        kw["risk_expression"] = rng.choice(["", "explicit", "implicit"])
    if rng.random() < 0.4:
        kw["expected_behaviour"] = rng.choice(["", "refuse", "safe_complete"])
    kw["seconds_spent"] = rng.choice([None, 3.5, 12.0])
    return kw


def _answer(service, **kwargs):
    """What a service answered, comparable across the two runs (row ids are the runs' own)."""
    try:
        value = service(**kwargs)
    except services.AnnotationError as exc:
        return ("refused", exc.code, exc.message)
    if value is None:
        return None
    if isinstance(value, Claim):
        lease = Lease.objects.get(pk=value.lease_id)
        return ("claim", value.item_id, lease.slot, lease.expires_at)
    if isinstance(value, services.SubmitResult):
        return ("submit", str(value.status), value.item_state, value.annotation.decision, value.annotation.is_surplus)
    if isinstance(value, Lease):
        return ("lease", value.item_id, value.slot, value.expires_at)
    if isinstance(value, QueueItem):
        return ("item", value.pk, value.state, value.outcome)
    return value


def _scenario(seed: int, queue, users, items, catalogue, clock: Clock, maintainer) -> list:
    rng = random.Random(seed)
    claims: dict[int, list[int]] = {u.pk: [] for u in users}
    answers = []
    for _step in range(STEPS):
        clock.tick(rng.choice([1, 1, 1, 30]))
        user = rng.choice(users)
        mine = claims[user.pk]
        op = rng.choices(
            ["claim", "submit", "expire", "heartbeat", "skip", "revise", "adjudicate", "reopen"],
            weights=[10, 9, 3, 2, 1, 1, 2, 1],
        )[0]
        if op == "claim" or not mine and op in ("submit", "expire", "heartbeat", "skip"):
            with_prompt = rng.random() < 0.5
            answer = _answer(services.lease_claim, queue_id=queue.pk, user=user, with_prompt=with_prompt)
            if answer and answer[0] == "claim":
                mine.append(Claim.objects.filter(annotator=user).latest("id").pk)
        elif op == "submit":
            claim_id = mine[-1] if rng.random() < 0.8 else rng.choice(mine)  # now and then an old claim: a double submit
            data = services.AnnotationInput(**_labels(rng, catalogue))
            answer = _answer(services.annotation_submit, claim_id=claim_id, user=user, data=data)
        elif op == "expire":
            claim = Claim.objects.get(pk=rng.choice(mine))
            past = clock.now - dt.timedelta(seconds=1)
            Lease.objects.filter(pk=claim.lease_id, state=Lease.State.ACTIVE).update(expires_at=past)
            QueueItem.objects.filter(pk=claim.item_id, free_at__gt=past).update(free_at=past)
            answer = ("expired", claim.item_id)
        elif op == "heartbeat":
            claim_id = mine[-1]
            answer = _answer(services.lease_heartbeat, claim_id=claim_id, user=user)
        elif op == "skip":
            claim_id = mine[-1]
            answer = _answer(services.lease_skip, claim_id=claim_id, user=user)
        elif op == "revise":
            own = list(Annotation.objects.filter(annotator=user).order_by("prompt_id").values_list("pk", flat=True))
            if not own:
                continue
            annotation_id = rng.choice(own)
            data = services.AnnotationInput(**_labels(rng, catalogue))
            answer = _answer(services.annotation_revise, annotation_id=annotation_id, user=user, data=data)
        elif op == "adjudicate":
            waiting = list(QueueItem.objects.filter(queue=queue, state=QueueItem.State.ADJUDICATION).order_by("id"))
            if not waiting:
                continue
            item = rng.choice(waiting)
            decision = rng.choice(["approved", "rejected"])
            final = services.final_labels_from(item=item, changes={"dimension": rng.choice(catalogue["dimensions"])})
            answer = _answer(services.item_adjudicate, item_id=item.pk, actor=maintainer, decision=decision, reason="裁决", final=final)
        else:
            decided = list(QueueItem.objects.filter(queue=queue, state=QueueItem.State.DECIDED).order_by("id"))
            if not decided:
                continue
            item = rng.choice(decided)
            answer = _answer(services.item_reopen, item_id=item.pk, actor=maintainer, reason="重开")
        answers.append((op, user.username, answer))
    return answers


def _ranked(rows: list[dict], key: str = "id") -> tuple[list[dict], dict]:
    """Rows with their own ids replaced by their rank (each run numbers new rows from its own sequence)."""
    rank = {row[key]: k for k, row in enumerate(sorted(rows, key=lambda r: r[key]))}
    out = []
    for row in sorted(rows, key=lambda r: r[key]):
        row = dict(row)
        row[key] = rank[row[key]]
        out.append(row)
    return out, rank


def _rows(queue, prompt_ids: list[int]) -> dict:
    """Every row the claim and submit paths write, in a form both runs can be compared in."""
    leases, lease_rank = _ranked(list(Lease.objects.filter(item__queue=queue).values()))
    claims, _claim_rank = _ranked(list(Claim.objects.filter(item__queue=queue).values()))
    for claim in claims:
        claim["lease_id"] = lease_rank.get(claim["lease_id"])
    annotations = []
    for a in Annotation.objects.filter(queue=queue).order_by("id"):
        row = model_to_dict(a)
        row["techniques"] = sorted(t.pk for t in row.pop("techniques"))
        row["submitted_at"], row["updated_at"] = a.submitted_at, a.updated_at
        annotations.append(row)
    annotations, _annotation_rank = _ranked(annotations)
    prompts = []
    for p in Prompt.objects.filter(pk__in=prompt_ids).order_by("id"):
        row = model_to_dict(p)
        row["techniques"] = sorted(t.pk for t in row.pop("techniques"))
        row["updated_at"] = p.updated_at
        prompts.append(row)
    logs, _log_rank = _ranked(list(PromptLog.objects.filter(prompt_id__in=prompt_ids).values()))
    return {
        "items": list(QueueItem.objects.filter(queue=queue).order_by("id").values()),
        "leases": leases,
        "claims": claims,
        "annotations": annotations,
        "prompts": prompts,
        "logs": logs,
    }


def _run(settings, fast: bool, seed: int, queue, users, items, catalogue, maintainer, monkeypatch) -> tuple:
    settings.SQL_FAST_PATH = fast
    clock = Clock(START)
    monkeypatch.setattr(timezone, "now", clock)
    result = None
    try:
        with transaction.atomic():
            answers = _scenario(seed, queue, users, items, catalogue, clock, maintainer)
            result = (answers, _rows(queue, [i.prompt_id for i in items]))
            raise _Rollback
    except _Rollback:
        pass
    finally:
        monkeypatch.undo()
    return result


@pytest.mark.parametrize("rule", ["unanimous", "majority_labels", "majority"])
@pytest.mark.parametrize("seed", range(4))
def test_the_sql_and_the_orm_paths_write_the_same_rows(taxonomy, settings, monkeypatch, rule, seed):
    rng = random.Random(seed)
    users = [UserFactory(username=f"eq{i}", role="Annotator", password=None) for i in range(5)]
    maintainer = UserFactory(username="eqm", role="Maintainer", password=None)
    queue = make_queue(name=f"等价{rule}", n=rng.choice([2, 3]), rule=rule)
    items = make_items(rng.choice([3, 5, 8]))
    legality = Dimension.objects.get(taxonomy__code="v251030", code="legality")
    catalogue = {
        "dimensions": list(Dimension.objects.filter(taxonomy=queue.taxonomy).order_by("id").values_list("pk", flat=True)[:3]),
        "subs": list(SubDimension.objects.filter(dimension=legality).order_by("id").values_list("pk", flat=True)[:2]),
        "techniques": list(Technique.objects.order_by("id").values_list("pk", flat=True)[:4]),
    }
    orm = _run(settings, False, seed, queue, users, items, catalogue, maintainer, monkeypatch)
    sql = _run(settings, True, seed, queue, users, items, catalogue, maintainer, monkeypatch)
    orm_answers, orm_rows = orm
    sql_answers, sql_rows = sql
    for step, (a, b) in enumerate(zip(orm_answers, sql_answers, strict=True)):
        assert a == b, f"step {step}: the ORM answered {a}, the SQL path {b}"
    for table in orm_rows:
        assert orm_rows[table] == sql_rows[table], table
    # The scenario reached what it is there for.
    ops = {(op, answer[0] if isinstance(answer, tuple) else answer) for op, _u, answer in orm_answers}
    assert ("claim", "claim") in ops and ("submit", "submit") in ops
