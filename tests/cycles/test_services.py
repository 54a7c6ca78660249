"""The cycle's steps on the simulator with tasks run inline: what each step makes, waits for and refuses."""

import datetime as dt

import pytest
from django.utils import timezone

from cycles import services
from cycles.models import Cycle, CycleLog
from tests.cycles.conftest import COUNTS, review_all

pytestmark = pytest.mark.django_db(transaction=True)


def advance(cycle, now=None):
    """What the beat does on its ticks, until the cycle stops moving (tasks run inline)."""
    seen = None
    for _ in range(20):
        services.cycles_tick(now=now)
        cycle.refresh_from_db()
        if (cycle.step, cycle.status, cycle.wait, cycle.attempts) == seen:
            return cycle
        seen = (cycle.step, cycle.status, cycle.wait, cycle.attempts)
    raise AssertionError(f"the cycle keeps moving: {seen}")


def test_a_cycle_runs_from_events_to_report_waiting_for_the_cut_and_the_approval(plan, reviewers, maintainer, sim):
    from curation.models import Prompt
    from evaluation.models import EvalRun
    from generation import services as gen
    from releases.models import Release

    event = gen.event_create(title="某地发生网络诈骗新案", date=timezone.localdate(), summary="冒充客服", actor=maintainer)
    cycle = services.cycle_open(plan=plan)
    assert services.cycle_open(plan=plan).pk == cycle.pk  # one cycle per period
    advance(cycle)
    # Generation ran (tasks inline) and the candidates went to review; the cycle waits for the cut date.
    assert cycle.step == Cycle.Step.REVIEW and cycle.status == Cycle.Status.WAITING, cycle.wait
    assert list(cycle.events.all()) == [event]
    prompts = services.cycle_prompts(cycle)
    assert prompts.count() == sum(COUNTS.values())
    assert sorted(cycle.generation_runs.values_list("dimension__code", flat=True)) == sorted(COUNTS)
    assert all(p.status == Prompt.Status.IN_REVIEW for p in prompts)

    review_all(reviewers, accept=lambda prompt: prompt.dimension.code == "legality")
    cycle = advance(cycle)
    assert cycle.step == Cycle.Step.REVIEW  # the cut date has not come
    services.cycle_cut_now(cycle=cycle, actor=maintainer)
    advance(cycle)
    assert cycle.step == Cycle.Step.APPROVE and cycle.status == Cycle.Status.WAITING
    assert cycle.release.status == Release.Status.DRAFT and cycle.release.parent is None
    assert cycle.wait["code"] == "approval"

    services.cycle_approve(cycle=cycle, actor=maintainer)
    advance(cycle)
    assert cycle.status == Cycle.Status.DONE, (cycle.step, cycle.wait, cycle.error)
    release = cycle.release
    assert release.is_frozen and release.item_count == COUNTS["legality"]
    assert release.exports.filter(status="done").count() == release.exports.count() >= 2
    assert cycle.eval_run.status == EvalRun.Status.SUCCEEDED and cycle.eval_run.published_at is not None
    assert cycle.release.version in cycle.report_zh and "排行" in cycle.report_zh
    assert "Leaderboard" in cycle.report_en
    steps_done = list(cycle.log.filter(kind=CycleLog.Kind.DONE).values_list("step", flat=True))
    assert steps_done == list(services.STEPS)


def test_the_next_period_is_a_child_of_the_last_release_and_uses_only_new_events(plan, reviewers, maintainer, sim):
    from generation import services as gen

    old = gen.event_create(title="旧事件", date=timezone.localdate(), actor=maintainer)
    first = advance(services.cycle_open(plan=plan))
    review_all(reviewers)
    services.cycle_cut_now(cycle=first, actor=maintainer)
    services.cycle_approve(cycle=advance(first), actor=maintainer)
    advance(first)
    assert first.status == Cycle.Status.DONE

    new = gen.event_create(title="新事件", date=timezone.localdate(), actor=maintainer)
    # The next period, on the first day of it: the beat opens its cycle, which generates from the new event only.
    later = timezone.make_aware(dt.datetime.combine(first.period_end + dt.timedelta(days=1), dt.time(1)))
    services.cycles_tick(now=later)
    second = advance(Cycle.objects.exclude(pk=first.pk).get(), now=later)
    assert second.step == Cycle.Step.REVIEW and second.label != first.label
    assert list(second.events.all()) == [new] and list(first.events.all()) == [old]
    review_all(reviewers)
    services.cycle_cut_now(cycle=second, actor=maintainer)
    services.cycle_approve(cycle=advance(second, now=later), actor=maintainer)
    advance(second, now=later)
    assert second.status == Cycle.Status.DONE, second.wait
    assert second.release.parent_id == first.release_id
    assert second.release.item_count == first.release.item_count + sum(COUNTS.values())


def test_a_failing_step_is_retried_shown_and_resumed_by_a_maintainer_after_the_fix(
    plan, reviewers, maintainer, sim, settings, client
):
    from django.urls import reverse

    from generation.models import GenerationRun

    settings.CYCLE_MAX_ATTEMPTS = 3
    sim.set_model_fault("sim-generator", "500")  # the generator is down
    cycle = advance(services.cycle_open(plan=plan))
    # Resumed on its own (each try logged), then failed for good: shown, waiting for a person.
    assert cycle.status == Cycle.Status.FAILED and cycle.retry_at is None, (cycle.status, cycle.wait)
    assert cycle.step == Cycle.Step.GENERATE and cycle.wait["code"] == "generation_failed"
    assert cycle.log.filter(kind=CycleLog.Kind.RETRIED).count() == 2
    client.force_login(maintainer)
    page = client.get(reverse("cycles:cycle_detail", args=[cycle.pk]), headers={"accept-language": "en"})
    assert "Generation runs" in page.content.decode() and "failed again" in page.content.decode()
    assert "waits for a maintainer" in page.content.decode()

    sim.set_model_fault("sim-generator", "")
    response = client.post(reverse("cycles:cycle_retry", args=[cycle.pk]), {"confirm": "1"})
    assert response.status_code == 302
    advance(cycle)
    assert cycle.step == Cycle.Step.REVIEW and cycle.status == Cycle.Status.WAITING, (cycle.step, cycle.wait)
    # The runs that failed were resumed, not made again.
    assert cycle.generation_runs.count() == len(plan.counts)
    assert set(cycle.generation_runs.values_list("status", flat=True)) == {GenerationRun.Status.SUCCEEDED}
    assert services.cycle_prompts(cycle).count() == sum(plan.counts.values())


@pytest.fixture
def english():
    from django.utils import translation

    with translation.override("en"):
        yield


def test_plans_refuse_what_cannot_run(taxonomy, endpoints, english):
    def make(**changes):
        fields = {"name": "计划", "taxonomy": "v251030", "counts": {"legality": 2}, "targets": endpoints["targets"],
                  "judge": endpoints["judge"], "generator": endpoints["generator"], **changes}
        return services.plan_create(**fields)

    for changes, message in [
        ({"counts": {"no-such": 2}}, "no dimension no-such"),
        ({"counts": {"legality": 0}}, "at least one candidate"),
        ({"counts": {"legality": -1}}, "whole number"),
        ({"generator": None}, "generator endpoint"),
        ({"targets": []}, "models to evaluate"),
        ({"cut_day": 29}, "between 1 and 28"),
        ({"period": "weekly", "cut_day": 8}, "between 1 and 7"),
        ({"generate_day": 10, "cut_day": 5}, "on or before"),
        ({"holdout_fraction": 1.0}, "below 1"),
        ({"taxonomy": "nope"}, "no taxonomy nope"),
    ]:
        with pytest.raises(services.CycleError, match=message):
            make(**changes)
    plan = make(generation_mode="mutation", generator=None)
    with pytest.raises(services.CycleError, match="exists already"):
        make()
    assert plan.counts == {"legality": 2}


def test_the_command_lists_opens_moves_and_approves_a_cycle(plan, reviewers, maintainer, sim, capsys):
    from django.core.management import call_command

    call_command("cycle", "open", plan.name, "--language", "en")
    cycle = Cycle.objects.get()
    assert f"{cycle.pk}\t{plan.name}\t{cycle.label}\tReview\tWaiting" in capsys.readouterr().out
    review_all(reviewers)
    call_command("cycle", "cut", str(cycle.pk), "--user", maintainer.username, "--language", "en")
    assert "Approve the cut\tWaiting" in capsys.readouterr().out
    call_command("cycle", "approve", str(cycle.pk), "--user", maintainer.username)
    for _ in range(10):
        call_command("cycle", "tick")
    call_command("cycle", "show", str(cycle.pk), "--language", "en")
    out = capsys.readouterr().out
    assert "\tDone\tDone" in out and "[   done] Write the report" in out
    assert Cycle.objects.get().approved_by == maintainer
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no cycle"):
        call_command("cycle", "approve", "999999")
