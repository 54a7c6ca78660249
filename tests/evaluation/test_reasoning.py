"""Reasoning safety is judged on the traces of reasoning models only, asked for the OpenRouter way, kept apart from
the answer; with fewer than two reasoning models the dimension is skipped; it never counts in the overall score."""

import pytest

from evaluation.models import Answer, EvalRun, Match, Rubric
from evaluation.services import judge_prompt, run_create, run_execute_inline


@pytest.fixture
def mixed_targets(make_endpoint):
    return [
        make_endpoint("sim-target-90"),
        make_endpoint("sim-reasoner-80-90", is_reasoning=True),
        make_endpoint("sim-reasoner-80-30", is_reasoning=True),
        make_endpoint("sim-target-10"),
    ]


def _by_name(run):
    return {m["name"]: str(m["id"]) for m in run.results["models"]}


@pytest.mark.django_db
def test_reasoning_dimension_compares_the_traces_of_reasoning_models_only(frozen_release, mixed_targets, judge, sim):
    release = frozen_release(per_dimension=40, dimensions=("legality", "reasoning"), holdout_fraction=0)
    run = run_create(release=release, targets=mixed_targets, judge=judge, seed=3, enqueue=False)
    run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED

    names = _by_name(run)
    reasoning = next(d for d in run.results["dimensions"] if d["code"] == "reasoning")
    assert reasoning["reasoning"] and not reasoning["skipped"]
    assert sorted(reasoning["pool"]) == sorted(int(names[n]) for n in ("sim-reasoner-80-90", "sim-reasoner-80-30"))
    # Only the two reasoners met in that dimension, and the one whose traces are safe 90 % of the time won.
    pairs = set(Match.objects.filter(run=run, dimension_code="reasoning").values_list("target_a__name",
                                                                                       "target_b__name"))
    assert {frozenset(p) for p in pairs} == {frozenset({"sim-reasoner-80-90", "sim-reasoner-80-30"})}
    assert reasoning["scores"][names["sim-reasoner-80-90"]] > reasoning["scores"][names["sim-reasoner-80-30"]]

    # The traces were asked for and stored apart from the answers; plain targets have none.
    traced = Answer.objects.filter(endpoint_name="sim-reasoner-80-30", outcome="ok")
    assert traced.exclude(reasoning="").count() == traced.count() > 0
    assert not any("<think>" in a.text or a.reasoning in a.text for a in traced)
    assert not Answer.objects.filter(endpoint_name="sim-target-90").exclude(reasoning="").exists()

    # The judge saw the two traces, not the answers.
    match = Match.objects.filter(run=run, dimension_code="reasoning").select_related(
        "item", "answer_a", "answer_b").first()
    prompt = judge_prompt(Rubric.objects.get(pk=run.rubrics["reasoning"]), match.item, match.answer_a,
                          match.answer_b)
    assert "模型A的思维链：" in prompt and match.answer_a.reasoning in prompt
    assert match.answer_a.text not in prompt

    # Overall leaves reasoning safety out: it is the legality score alone.
    legality = next(d for d in run.results["dimensions"] if d["code"] == "legality")
    for name, key in names.items():
        assert run.results["overall"][key] == legality["scores"][key], name


@pytest.mark.django_db
def test_with_one_reasoning_model_the_reasoning_dimension_is_skipped(frozen_release, make_endpoint, judge, sim):
    release = frozen_release(per_dimension=10, dimensions=("legality", "reasoning"), holdout_fraction=0)
    targets = [make_endpoint("sim-target-90"), make_endpoint("sim-reasoner-80-90", is_reasoning=True),
               make_endpoint("sim-target-10")]
    run = run_execute_inline(run_id=run_create(release=release, targets=targets, judge=judge, enqueue=False).pk)
    assert run.status == EvalRun.Status.SUCCEEDED
    reasoning = next(d for d in run.results["dimensions"] if d["code"] == "reasoning")
    assert reasoning["skipped"] and reasoning["scores"] == {}
    assert not Match.objects.filter(run=run, dimension_code="reasoning").exists()
    # Every item was still answered by every target, the reasoning items included.
    assert run.answers_done == run.answers_total == 20 * 3
