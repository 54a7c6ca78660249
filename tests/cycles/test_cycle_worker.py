"""Whole cycles run by a real Celery worker with beat inside it, on the simulator and a feed served by the test:
events fetched, candidates generated and routed, reviews submitted through the API, the cut approved through the
API, the release frozen, exported, evaluated and published, the report written; a second cycle whose release is
the first one's child. And a cycle whose worker is killed (-9) at every step and restarted: it completes with
nothing done twice."""

import threading
from email.utils import format_datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cycles import services
from cycles.models import Cycle, CycleLog
from tests.cycles.conftest import COUNTS, TARGETS
from tests.feeds import FeedServer
from tests.worker import Worker

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


def _rss(titles: list[str]) -> bytes:
    now = format_datetime(timezone.now())
    items = "".join(f"<item><title>{t}</title><link>https://news.example.cn/{i}</link>"
                    f"<description>{t}的详细报道</description><pubDate>{now}</pubDate></item>"
                    for i, t in enumerate(titles))
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>新闻</title>{items}' \
           f"</channel></rss>".encode()


@pytest.fixture
def feed():
    server = FeedServer()
    server.routes = {"/news.xml": ("body", _rss(["某电商平台用户数据遭泄露", "网络赌博新型引流手法曝光"]))}
    yield server
    server.stop()


@pytest.fixture
def source(db, feed):
    from generation import event_services

    return event_services.event_source_create(kind="feed", name="本地新闻", url=feed.url("/news.xml"),
                                              fetch_interval_minutes=1)


def _worker(tmp_path, settings) -> Worker:
    # Short leases, so that work a killed worker held is taken over within seconds by the next one.
    return Worker(tmp_path, beat=True, MEDIA_ROOT=str(settings.MEDIA_ROOT), CYCLE_TICK_SECONDS="1",
                  CYCLE_RETRY_SECONDS="1", EVENT_FETCH_BEAT_MINUTES="0.02", EVENT_FETCH_ALLOW_PRIVATE="1",
                  GENERATION_LEASE_SECONDS="3", EVAL_LEASE_SECONDS="3", LLM_LIMITER_LEASE_SECONDS="3",
                  RELEASE_EXPORT_LEASE_SECONDS="3")


def _api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, name: str, pk: int, data=None):
    return client.post(reverse(name, args=[pk]), data or {}, content_type="application/json")


def _review_through_the_api(reviewers, accept=lambda prompt: True) -> int:
    """Each reviewer takes the next item of each queue through the API until none is left for them."""
    from annotation.models import ReviewQueue

    done = 0
    for user in reviewers:
        client = _api(user)
        for queue_id in ReviewQueue.objects.values_list("pk", flat=True):
            while (response := _post(client, "api-queue-next", queue_id)).status_code == 200:
                claim = response.json()
                decision = ({"decision": "accept", "severity": 3} if accept(claim["prompt"])
                            else {"decision": "reject", "reject_reason": "unclear"})
                assert _post(client, "api-claim-submit", claim["id"], decision).status_code == 201
                done += 1
            assert response.status_code == 204, response.content
    return done


def _state(cycle_id: int) -> Cycle:
    return Cycle.objects.select_related("release", "eval_run").get(pk=cycle_id)


def _wait_step(worker: Worker, cycle_id: int, step: str, timeout: float = 120) -> Cycle:
    def reached():
        cycle = _state(cycle_id)
        assert cycle.status != Cycle.Status.FAILED or cycle.retry_at, (cycle.step, cycle.wait, cycle.error)
        return cycle if cycle.step == step and (step == Cycle.Step.DONE or cycle.status == Cycle.Status.WAITING) \
            else None

    return worker.wait(reached, timeout, f"cycle {cycle_id} at {step}", every=0.2)


def _run_one(worker, plan, reviewers, maintainer, accept=lambda prompt: True) -> Cycle:
    """One cycle from "open now" to the report, the people's part through the API."""
    staff = _api(maintainer)
    response = _post(staff, "api-cycle-plan-open", plan.pk)
    assert response.status_code == 201, response.content
    cycle_id = response.json()["id"]
    cycle = _wait_step(worker, cycle_id, Cycle.Step.REVIEW)
    assert services.cycle_prompts(cycle).count() == sum(COUNTS.values())
    assert _review_through_the_api(reviewers, accept) == 2 * sum(COUNTS.values())
    assert _post(staff, "api-cycle-cut", cycle_id).status_code == 200
    cycle = _wait_step(worker, cycle_id, Cycle.Step.APPROVE)
    assert cycle.release.status == "draft"
    assert staff.get(reverse("cycles:cycle_detail", args=[cycle_id])).status_code == 200
    assert _post(staff, "api-cycle-approve", cycle_id).status_code == 200
    return _wait_step(worker, cycle_id, Cycle.Step.DONE, timeout=240)


def test_two_cycles_run_by_a_worker_and_beat_from_a_feed_to_the_report(
    plan, reviewers, maintainer, source, feed, sim, tmp_path, settings
):
    from curation.models import Prompt
    from evaluation.models import EvalRun
    from generation.models import Event

    services.plan_update(plan=plan, enabled=False)  # opened through the API, not on the calendar
    worker = _worker(tmp_path, settings)
    worker.start()
    try:
        # The beat fetches the feed on its own before any cycle asks for it.
        worker.wait(lambda: Event.objects.filter(source=source).count() == 2, 60, "the feed's two events")
        first = _run_one(worker, plan, reviewers, maintainer, accept=lambda prompt: prompt["dimension"]["code"] != "privacy")
        assert set(first.events.values_list("title", flat=True)) == {"某电商平台用户数据遭泄露", "网络赌博新型引流手法曝光"}
        assert first.release.is_frozen and first.release.parent_id is None
        assert first.release.exports.filter(status="done").count() == first.release.exports.count() >= 8
        assert first.eval_run.status == EvalRun.Status.SUCCEEDED and first.eval_run.published_at is not None
        assert first.report_zh.startswith("#") and first.release.version in first.report_zh
        assert "Leaderboard" in first.report_en

        # A new item in the feed; the next period's cycle takes it, and only it.
        feed.routes["/news.xml"] = ("body", _rss(["某电商平台用户数据遭泄露", "网络赌博新型引流手法曝光",
                                                  "深度伪造冒充名人带货"]))
        second = _run_one(worker, plan, reviewers, maintainer)
    finally:
        worker.kill()
    assert list(second.events.values_list("title", flat=True)) == ["深度伪造冒充名人带货"]
    assert second.label != first.label and second.period_start > first.period_start
    assert second.release.parent_id == first.release_id
    approved_now = Prompt.objects.filter(status=Prompt.Status.APPROVED).count()
    assert second.release.item_count == approved_now > first.release.item_count
    # The report of the child compares ranks with the parent's leaderboard: every model has a rank change
    # (=, ↑n or ↓n), none is "new".
    rows = [line for line in second.report_en.splitlines() if any(f"| {t} |" in line for t in TARGETS)]
    assert len(rows) >= len(TARGETS), second.report_en
    for line in rows[:len(TARGETS)]:
        assert any(mark in line for mark in ("| = |", "| ↑", "| ↓")) and "| new |" not in line, line


def test_a_worker_killed_at_every_step_completes_the_cycle_with_nothing_done_twice(
    plan, reviewers, maintainer, source, sim, tmp_path, settings
):
    from curation.models import Prompt, PromptLog
    from evaluation.models import Answer, EvalRun
    from generation.models import GenerationRun
    from releases.models import Release, ReleaseExport

    services.plan_update(plan=plan, enabled=False)
    worker = _worker(tmp_path, settings)
    worker.start()
    kills: list[str] = []
    stop = threading.Event()
    cycle_box: dict[str, int] = {}

    def killer():
        # Each time the cycle moves to another step (or its evaluation is half done), kill the worker at once
        # and start a new one.
        from django.db import connection

        seen = set()
        try:
            while not stop.is_set():
                cycle = Cycle.objects.filter(pk=cycle_box.get("id")).first()
                if cycle is not None:
                    mark = cycle.step
                    run = EvalRun.objects.filter(pk=cycle.eval_run_id).first()
                    if run is not None and 0 < run.answers_done < run.answers_total:
                        mark = "answers"
                    if mark not in seen and mark != Cycle.Step.DONE:
                        seen.add(mark)
                        worker.kill()
                        kills.append(mark)
                        worker.start()
                stop.wait(0.1)
        finally:
            connection.close()

    from llm.services import endpoint_update

    # Answers come in over a few seconds (two in flight per target), so the evaluation is killed half way.
    sim.set_latency(300)
    for endpoint in plan.targets.all():
        endpoint_update(endpoint=endpoint, max_concurrency=2)
    staff = _api(maintainer)
    response = _post(staff, "api-cycle-plan-open", plan.pk)
    assert response.status_code == 201
    cycle_box["id"] = cycle_id = response.json()["id"]
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        _wait_step(worker, cycle_id, Cycle.Step.REVIEW, timeout=180)
        _review_through_the_api(reviewers)
        assert _post(staff, "api-cycle-cut", cycle_id).status_code == 200
        _wait_step(worker, cycle_id, Cycle.Step.APPROVE, timeout=180)
        assert _post(staff, "api-cycle-approve", cycle_id).status_code == 200
        cycle = _wait_step(worker, cycle_id, Cycle.Step.DONE, timeout=400)
    finally:
        stop.set()
        thread.join(30)
        worker.kill()
    # The steps that wait (for the worker or for people) are always seen; the others usually are too.
    assert {"generate", "review", "approve", "evaluate", "answers"} <= set(kills), kills

    # Nothing twice: one run per planned dimension, each candidate once (and routed once), one release with one
    # item per approved candidate, one export per scope and format, one evaluation with one answer per target and
    # item, and each step of the cycle finished once.
    runs = GenerationRun.objects.filter(cycles=cycle)
    assert sorted(runs.values_list("dimension__code", flat=True)) == sorted(COUNTS)
    prompts = services.cycle_prompts(cycle)
    assert prompts.count() == sum(COUNTS.values()) == Prompt.objects.count()
    routed = PromptLog.objects.filter(prompt__in=prompts, to_status=Prompt.Status.IN_REVIEW)
    assert routed.count() == prompts.count()
    assert Release.objects.count() == 1 and cycle.release.item_count == prompts.count()
    exports = ReleaseExport.objects.filter(release=cycle.release)
    assert exports.count() == len({(e.scope, e.format) for e in exports}) >= 8
    assert all(e.status == "done" for e in exports)
    assert EvalRun.objects.count() == 1 and cycle.eval_run.status == EvalRun.Status.SUCCEEDED
    assert Answer.objects.count() == len(TARGETS) * cycle.release.item_count
    done = list(CycleLog.objects.filter(cycle=cycle, kind=CycleLog.Kind.DONE).values_list("step", flat=True))
    assert done == list(services.STEPS)
    assert cycle.report_zh and cycle.eval_run.published_at is not None
