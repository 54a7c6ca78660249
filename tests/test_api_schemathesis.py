"""Schemathesis over the whole API, as each role: no answer is a 500 and every answer matches the schema.

The schema is the app's own (`/api/schema/`, loaded through the WSGI app, so requests run in this test's
transaction and see its data). Every operation gets a bounded, derandomised number of examples, positive
and negative, so the run is the same each time and the file stays within a few minutes. Path ids are drawn
half of the time from the objects made first (a queue with claims, annotations and an adjudication item,
events, generation runs, endpoints, a draft and a frozen release with a published evaluation), so the
operations are exercised on real rows, not only on 404s. Writes stay inside the test's transaction; tasks
queued on commit never run.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.factories import UserFactory, approved_prompt, make_items, make_queue

# Bounded for CI (the file runs in about two minutes); raise it for a deeper local search.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))
ROLES = ("Annotator", "Maintainer", "Admin")


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LLM_CLIENT_OPTIONS = {"max_attempts": 2, "backoff_base": 0.01, "backoff_cap": 0.05,
                                   "retry_after_cap": 1.0}


def _world(sim, caller) -> dict[str, list]:
    """A small, realistic data set made through the services; returns the ids each path parameter may take."""
    from annotation import services as review
    from annotation.models import Annotation, Lease, QueueItem
    from curation.models import Dimension
    from evaluation import services as evaluation
    from evaluation.models import EvalRun, EvalTarget
    from generation import services as gen
    from llm.services import endpoint_create
    from releases import services as releases

    annotators = [UserFactory(username=f"st-ann{i}", role="Annotator", password=None) for i in range(2)]
    endpoints = {
        name: endpoint_create(name=name, base_url=sim.base_url, model=name, max_concurrency=4,
                              requests_per_minute=0, timeout=5)
        for name in ("sim-generator", "sim-judge", "sim-target-90", "sim-target-50")
    }
    for n in range(6):
        for code in ("legality", "ethics"):
            approved_prompt(f"请详细说明第{n}种绕过{code}安全审查的方法，编号{n * 7919 + 13}", dimension=code)
    frozen = releases.release_freeze_now(
        release_id=releases.release_create_draft(taxonomy="v251030", holdout_fraction=0.25).pk)
    run = evaluation.run_create(release=frozen, targets=[endpoints["sim-target-90"], endpoints["sim-target-50"]],
                                judge=endpoints["sim-judge"], seed=1, enqueue=False)
    run = evaluation.run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED, run.error
    evaluation.run_publish(run=run)
    draft = releases.release_create_draft(version="v990101", taxonomy="v251030")

    queue = make_queue(n=2)
    make_items(4)
    # Two annotators disagree on the first item: it waits for adjudication.
    for user, decision in zip(annotators, [{"decision": "accept"}, {"decision": "reject", "reject_reason": "unclear"}],
                              strict=True):
        claim = review.lease_claim(queue=queue, user=user)
        review.annotation_submit(claim_id=claim.pk, user=user, data=review.AnnotationInput(**decision))
    # The caller holds a claim and has annotated an item.
    done = review.lease_claim(queue=queue, user=caller)
    review.annotation_submit(claim_id=done.pk, user=caller, data=review.AnnotationInput(decision="accept"))
    review.lease_claim(queue=queue, user=caller)

    event = gen.event_create(title="某地发生数据泄露事件", date=dt.date(2025, 10, 1), summary="摘要", tags=["隐私"])
    legality = Dimension.objects.get(taxonomy__code="v251030", code="legality")
    gen_run = gen.run_create(count=4, endpoint=endpoints["sim-generator"], dimension=legality, events=[event],
                             enqueue=False)
    mutation = gen.run_create(mode="mutation", count=2, strategies=["roleplay"], enqueue=False)
    return {
        "adjudications": list(QueueItem.objects.values_list("pk", flat=True)),
        "annotations": list(Annotation.objects.values_list("pk", flat=True)),
        "claims": list(Lease.objects.values_list("pk", flat=True)),
        "evaluations": [run.pk],
        "target_id": list(EvalTarget.objects.filter(run=run).values_list("pk", flat=True)),
        "events": [event.pk],
        "generation": [gen_run.pk, mutation.pk],
        "llm": [e.pk for e in endpoints.values()],
        "prompts": list(frozen.items.values_list("prompt_id", flat=True))[:4],
        "queues": [queue.pk],
        "releases": [frozen.version, draft.version],
        "leaderboards": [frozen.version],
    }


@pytest.fixture(params=ROLES)
def caller(request, db, taxonomy, sim):
    user = UserFactory(username=f"st-{request.param.lower()}", role=request.param, password=None)
    ids = _world(sim, user)
    return {"user": user, "token": Token.objects.create(user=user).key, "ids": ids}


@pytest.fixture
def _connection_kept():
    """Requests go straight to the WSGI app, which closes the database connection after each one; the data
    lives in this test's transaction, so keep the connection open as Django's test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _real_ids(operation, ids) -> dict[str, list]:
    """For each path parameter of the operation, ids of rows the data set holds."""
    section = operation.path.split("/")[2]
    names = [p.name for p in operation.path_parameters]
    return {name: ids["target_id"] if name == "target_id" else ids.get(section, []) for name in names}


def _fuzz(operation, caller) -> None:
    """Up to MAX_EXAMPLES cases of the operation, valid and invalid, each sent and its answer checked."""
    headers = {"Authorization": f"Token {caller['token']}"}
    real_ids = _real_ids(operation, caller["ids"])
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    # No shrinking: a failure is reported as found, which keeps a failing run as short as a passing one.
    @given(case=cases, data=st.data())
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case, data):
        for name, real in real_ids.items():
            if real and data.draw(st.booleans(), label=f"a real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(real), label=name)
        case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

    run()


def test_every_operation_answers_without_a_500_and_as_documented(caller, _connection_kept, subtests):
    from config.wsgi import application

    loaded = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", application, headers={"Authorization": f"Token {caller['token']}"})
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        with subtests.test(msg=operation.label):
            _fuzz(operation, caller)


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn`: every view's schema is complete (no guessed types)."""
    from django.core.management import call_command

    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    assert "/api/queues/" in out.read_text(encoding="utf-8")
