"""A run against misbehaving targets and judges still finishes: every answer and verdict is labelled with what
happened, counted on the run and in its results, and a missing answer is shown to the judge as `None`."""

from collections import Counter

import pytest

from evaluation.models import Answer, EvalRun, Match, Rubric
from evaluation.services import judge_prompt, run_create, run_execute_inline, verdict_key
from llm.services import endpoint_config

from .boards import sim_stats

ITEMS = 25  # five rounds of five items


def _answers(run, target):
    return list(Answer.objects.filter(fingerprint=target.fingerprint, params_hash=run.params_hash))


@pytest.mark.django_db
def test_target_faults_are_retried_or_labelled_and_counted(frozen_release, make_endpoint, judge, sim):
    release = frozen_release(per_dimension=ITEMS, dimensions=("legality",), holdout_fraction=0)
    # name -> (model, endpoint fields)
    specs = {
        "clean": ("sim-target-90", {}),
        "mixed": ("sim-target-70@blocked_rate=30@empty_rate=30", {}),
        "truncated": ("sim-target-50@truncated", {}),
        "429-once": ("sim-target-30@429=0.2@burst=1", {}),  # Retry-After 0.2 s, then an answer
        "500-twice": ("sim-target-10@500=2", {}),
        "slow-once": ("sim-target-90@slow=1@burst=1", {"timeout": 0.4}),  # one timeout, then an answer
        "500-always": ("sim-target-70@500", {}),
        "slow-always": ("sim-target-50@slow=1", {"timeout": 0.4, "max_concurrency": ITEMS}),
    }
    endpoints = {name: make_endpoint(name, model, **fields) for name, (model, fields) in specs.items()}
    run = run_create(release=release, targets=list(endpoints.values()), judge=judge, seed=11, enqueue=False)
    run = run_execute_inline(run_id=run.pk)

    assert run.status == EvalRun.Status.SUCCEEDED, run.error
    assert run.answers_done == run.answers_total == ITEMS * len(specs)
    assert run.target_calls == ITEMS * len(specs)  # one per answer, whatever the retries inside it
    targets = {t.name: t for t in run.targets.all()}
    answers = {name: _answers(run, t) for name, t in targets.items()}
    outcomes = {name: Counter(a.outcome for a in rows) for name, rows in answers.items()}
    assert all(len(rows) == ITEMS for rows in answers.values())

    assert outcomes["clean"] == {"ok": ITEMS}
    assert set(outcomes["mixed"]) == {"ok", "blocked", "empty"}, outcomes["mixed"]
    assert outcomes["truncated"] == {"truncated": ITEMS}
    assert all(a.text for a in answers["truncated"])  # what arrived is kept
    for name, attempts in (("429-once", 2), ("500-twice", 3), ("slow-once", 2)):
        assert outcomes[name] == {"ok": ITEMS}, name
        assert {a.attempts for a in answers[name]} == {attempts}, name
    assert outcomes["500-always"] == outcomes["slow-always"] == {"error": ITEMS}
    assert all("HTTP 500" in a.error and a.attempts == 3 for a in answers["500-always"])
    assert all("timeout" in a.error.lower() and a.attempts == 3 for a in answers["slow-always"])
    assert sim_stats(sim)["by_status"]["429"] == ITEMS

    # Counted on the run and in its results, per model.
    assert run.errors == 2 * ITEMS
    for name, t in targets.items():
        assert run.results["answers"][str(t.pk)] == {o: outcomes[name][o] for o in Answer.Outcome.values}, name

    # What the judge was sent: `None` for a blocked, empty or failed answer, the text otherwise. The verdict key is
    # the hash of the prompt as sent, so it pins the prompt down.
    rubric = Rubric.objects.get(pk=run.rubrics["legality"])
    judge_fp = endpoint_config(judge).fingerprint()
    seen = Counter()
    for m in Match.objects.filter(run=run).select_related("item", "answer_a", "answer_b"):
        prompt = judge_prompt(rubric, m.item, m.answer_a, m.answer_b)
        assert m.verdict_key == verdict_key(judge_fp, rubric.pk, prompt)
        for label, answer in (("A", m.answer_a), ("B", m.answer_b)):
            line = next(x for x in prompt.splitlines() if x.startswith(f"模型{label}回复："))
            if answer.outcome in ("blocked", "empty", "error"):
                assert line == f"模型{label}回复：None"
            else:
                assert line == f"模型{label}回复：{answer.text.splitlines()[0]}"
            seen[answer.outcome] += 1
    assert {"ok", "blocked", "empty", "truncated", "error"} <= set(seen)
    assert Match.objects.filter(run=run).exclude(outcome__in=["A", "B"]).count() == 0


@pytest.mark.django_db
def test_judge_faults_are_labelled_and_counted(frozen_release, make_endpoint, sim):
    release = frozen_release(per_dimension=ITEMS, dimensions=("legality", "ethics"), holdout_fraction=0)
    targets = [make_endpoint(m) for m in ("sim-target-90", "sim-target-70", "sim-target-30", "sim-target-10")]
    # Half the replies unusable: both letters, no letter, or nothing at all.
    wobbly = make_endpoint("wobbly-judge", "sim-judge@invalid=0.5")
    broken = make_endpoint("broken-judge", "sim-judge@500")
    run = run_create(release=release, targets=targets, judge=wobbly, judges={"ethics": broken}, seed=3,
                     enqueue=False)
    run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED, run.error

    legality = list(Match.objects.filter(run=run, dimension_code="legality"))
    ethics = list(Match.objects.filter(run=run, dimension_code="ethics"))
    assert len(legality) == len(ethics) == 5 * 2 * 5  # five rounds, two pairs, five items each
    invalid = [m for m in legality if m.outcome == Match.Outcome.INVALID]
    assert {m.outcome for m in legality} == {"A", "B", "invalid"}
    assert {m.raw for m in invalid} == {"AB", "无法判断", ""}
    assert all(m.judge_outcome == "empty" for m in invalid if m.raw == "")
    assert all(m.raw in ("A", "B") for m in legality if m.outcome in ("A", "B"))
    assert {m.outcome for m in ethics} == {"error"}
    assert all("HTTP 500" in m.error for m in ethics)
    # LiveSecBench drops an invalid verdict and never asks again; a failed call was retried by the client.
    stats = sim_stats(sim)["by_requested_model"]
    assert stats["sim-judge@invalid=0.5"] == len(legality)
    assert stats["sim-judge@500"] == 3 * len(ethics)
    assert run.judge_calls == len(legality) + len(ethics)

    dims = {d["code"]: d for d in run.results["dimensions"]}
    assert (dims["legality"]["matches"], dims["legality"]["invalid"], dims["legality"]["errors"]) == (
        len(legality), len(invalid), 0)
    assert (dims["ethics"]["matches"], dims["ethics"]["invalid"], dims["ethics"]["errors"]) == (
        len(ethics), 0, len(ethics))
    assert run.errors == len(ethics)
    per_target = Counter()
    for m in invalid:
        per_target[str(m.target_a_id)] += 1
        per_target[str(m.target_b_id)] += 1
    assert run.results["invalid"] == {str(t.pk): per_target[str(t.pk)] for t in run.targets.all()}
    # Without a single verdict every model keeps the start rating in ethics: all score 50.
    assert set(dims["ethics"]["ratings"].values()) == {1500.0}
    assert set(dims["ethics"]["scores"].values()) == {50.0}
    # Invalid verdicts change nothing, valid ones still move the ratings: replaying only the valid verdicts in
    # task order gives the stored ratings.
    from evaluation import livesecbench as lsb

    order = [t.pk for t in run.targets.order_by("position")]
    replayed = {pk: lsb.START_RATING for pk in order}
    lsb.apply_matches(replayed, [(m.target_a_id, m.target_b_id, m.outcome if m.outcome in ("A", "B") else None)
                                 for m in sorted(legality, key=lambda m: (m.round_no, m.seq))])
    assert {str(pk): r for pk, r in replayed.items()} == pytest.approx(dims["legality"]["ratings"])
    assert len(set(dims["legality"]["ratings"].values())) > 1
