"""robust mode: both orders, ties, retries, adaptive batches within a budget, Bradley–Terry with intervals,
position bias, safe and refusal rates, an anchor, and the judge's agreement with maintainers' labels."""

import numpy as np
import pytest
from django.utils import translation
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from evaluation import exports, selectors
from evaluation.calibration import cohens_kappa, confusion
from evaluation.models import EvalRun, Match, PointVerdict, Shard
from evaluation.services import EvalError, human_label_set, run_create, run_execute_inline

from .conftest import TARGETS


def _names(run):
    return {str(m["id"]): m["name"] for m in run.results["models"]}


def _order(scores, names):
    return [names[k] for k, _v in sorted(scores.items(), key=lambda kv: -kv[1])]


@pytest.mark.django_db
def test_a_position_biased_judge_still_orders_the_targets_and_its_bias_is_measured(
    frozen_release, targets, make_endpoint, sim
):
    release = frozen_release(per_dimension=100, dimensions=("legality", "ethics", "privacy"), holdout_fraction=0)
    biased = make_endpoint("biased-judge", model="sim-judge@bias=0.3")
    run = run_create(release=release, targets=targets, judge=biased, seed=11, mode="robust", also_livesecbench=True,
                     enqueue=False)
    run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED
    names = _names(run)
    robust_order = _order(run.results["overall"], names)
    lsb = run.results["livesecbench"]
    lsb_order = _order(lsb["overall"], names)
    print(f"\nrobust under bias=0.3: {robust_order}")
    print(f"livesecbench under bias=0.3 (same answers): {lsb_order}")
    assert robust_order == TARGETS
    # With probability 0.3 the judge names position A whatever it reads, else the safer answer: over swapped
    # pairs the first position wins (1 + 0.3) / 2 = 0.65 of the decisive verdicts.
    for dim in run.results["dimensions"]:
        bias = dim["position_bias"]
        print(dim["code"], bias)
        assert abs(bias["share"] - 0.65) <= 0.05, dim["code"]
        assert bias["low"] < 0.65 < bias["high"]
        assert bias["inconsistent"] > 0
    # The robust comparisons stayed within twice the judge calls the Swiss rounds spent on the same items.
    robust_calls = sum(d["judge_calls"] for d in run.results["dimensions"])
    lsb_calls = sum(d["matches"] for d in lsb["dimensions"])
    print(f"judge calls: robust {robust_calls}, livesecbench {lsb_calls}")
    assert robust_calls <= 2 * lsb_calls


@pytest.mark.django_db
def test_intervals_ranks_rates_and_anchor_are_reported(frozen_release, targets, judge, sim):
    release = frozen_release(per_dimension=30, dimensions=("legality", "privacy"), holdout_fraction=0)
    run = run_execute_inline(run_id=run_create(
        release=release, targets=targets, judge=judge, mode="robust", seed=2, anchor="sim-target-50",
        anchor_rating=1000, resamples=300, enqueue=False).pk)
    assert run.status == EvalRun.Status.SUCCEEDED
    results, names = run.results, _names(run)
    anchor = next(k for k, v in names.items() if v == "sim-target-50")
    assert results["anchor"] == {"name": "sim-target-50", "rating": 1000.0}
    for dim in results["dimensions"]:
        assert dim["ratings"][anchor] == pytest.approx(1000.0)
        for key in names:
            assert dim["low"][key] <= dim["ratings"][key] <= dim["high"][key]
            assert dim["score_low"][key] <= dim["scores"][key] <= dim["score_high"][key]
            rate, low, high, n = dim["safe_rate"][key]
            assert n == 30 and low <= rate <= high
            rate, low, high, n = dim["refusal_rate"][key]
            assert low <= rate <= high
        # The pointwise pass judged every answer of the dimension once.
        assert PointVerdict.objects.filter(run=run, dimension_code=dim["code"]).count() == 30 * 5
    # A rank respects the intervals: 1 + the models whose lower bound is above this one's upper bound.
    low, high = results["overall_rating_low"], results["overall_rating_high"]
    for key in names:
        assert results["ranks"][key] == 1 + sum(low[o] > high[key] for o in names)
    refusals = {names[k]: v[0] for k, v in results["dimensions"][0]["refusal_rate"].items()}
    assert refusals["sim-target-90"] > refusals["sim-target-10"]

    # The board and its exports carry the intervals, shared ranks and the anchor.
    board = selectors.leaderboard_for_run(run)
    assert board.robust and not board.has_livesecbench
    data = exports.leaderboard_dict(board)
    assert data["anchor"]["name"] == "sim-target-50"
    for row in data["rows"]:
        assert row["overall_low"] <= row["overall"] <= row["overall_high"]
        assert set(row["safe_rate"]) == {"legality", "privacy"}
    assert [r["rank"] for r in data["rows"]] == sorted(r["rank"] for r in data["rows"])
    md = exports.leaderboard_markdown(board)
    assert "[95% 区间]" in md and "锚点" in md
    shared = [r for r in board.rows if r.shared_rank]
    if shared:
        assert f"| ={shared[0].rank} |" in md
    header = exports.leaderboard_csv(board).splitlines()[0]
    assert "overall_low" in header and "shared_rank" in header


@pytest.mark.django_db
def test_invalid_replies_are_retried_and_counted_in_the_budget(frozen_release, targets, make_endpoint, sim):
    release = frozen_release(per_dimension=20, dimensions=("legality",), holdout_fraction=0)
    flaky = make_endpoint("flaky-judge", model="sim-judge@invalid=0.4")
    run = run_execute_inline(run_id=run_create(release=release, targets=targets, judge=flaky, mode="robust",
                                               budget=120, seed=4, enqueue=False).pk)
    assert run.status == EvalRun.Status.SUCCEEDED
    # Verdicts reused from an identical prompt (two models giving the same canned refusal) cost no call.
    batch = Match.objects.filter(run=run, shard__kind=Shard.Kind.BATCH, reused=False)
    assert not Match.objects.filter(run=run, reused=True).exclude(attempts=0).exists()
    attempts = sorted(set(batch.values_list("attempts", flat=True)))
    assert attempts[0] == 1 and attempts[-1] == 3  # some replies needed both retries
    # A reply still unusable after two retries is dropped as invalid; retries never follow a valid reply.
    assert batch.filter(outcome=Match.Outcome.INVALID).exclude(attempts=3).count() == 0
    dim = run.results["dimensions"][0]
    assert dim["judge_calls"] == sum(batch.values_list("attempts", flat=True)) > batch.count()
    # The budget bounds the comparisons' calls (a batch is planned within what is left before its retries).
    assert dim["judge_calls"] <= 120 * 1.6


@pytest.mark.django_db
def test_robust_needs_an_anchor_among_the_targets(frozen_release, targets, judge):
    release = frozen_release(per_dimension=2, dimensions=("legality",))
    with pytest.raises(EvalError, match="anchor"), translation.override("en"):
        run_create(release=release, targets=targets, judge=judge, mode="robust", anchor="nobody", enqueue=False)


@pytest.mark.django_db
def test_text_no_column_can_hold_is_refused_naming_what_held_it(frozen_release, targets, judge):
    from evaluation.models import Rubric
    from evaluation.services import rubric_update, rubrics_seed_defaults

    release = frozen_release(per_dimension=2, dimensions=("legality",))
    with pytest.raises(EvalError) as caught, translation.override("en"):
        run_create(release=release, targets=targets, judge=judge, system_prompt="系统\x00提示", enqueue=False)
    assert str(caught.value) == ("System prompt may not contain a NUL character (\\u0000) or an unpaired surrogate "
                                 "(\\ud800-\\udfff): \\u0000 at position 2.")
    rubrics_seed_defaults()
    rubric = Rubric.objects.order_by("pk").first()
    with pytest.raises(EvalError, match=r"^Rubric may not contain .*\\ud800 at position 0"), translation.override("en"):
        rubric_update(rubric=rubric, text="\ud800" + rubric.text)
    assert not EvalRun.objects.exists() and Rubric.objects.filter(dimension_id=rubric.dimension_id,
                                                                  kind=rubric.kind).count() == 1


def test_cohens_kappa_and_its_interval_equal_statsmodels():
    rng = np.random.default_rng(7)
    for _ in range(200):
        table = rng.integers(0, 25, size=(3, 3))
        ours, theirs = cohens_kappa(table), sm_kappa(table)
        assert ours.kappa == pytest.approx(theirs.kappa, abs=1e-9)
        assert ours.low == pytest.approx(theirs.kappa_low, abs=1e-9)
        assert ours.high == pytest.approx(theirs.kappa_upp, abs=1e-9)
    assert cohens_kappa(np.zeros((3, 3))).kappa is None
    assert cohens_kappa(confusion(["safe"] * 4, ["safe"] * 4)).kappa is None  # one label throughout


@pytest.mark.django_db
def test_maintainers_labels_move_the_judges_kappa(frozen_release, targets, judge, sim, maintainer):
    release = frozen_release(per_dimension=10, dimensions=("privacy",), holdout_fraction=0)
    run = run_execute_inline(run_id=run_create(release=release, targets=targets, judge=judge, mode="robust",
                                               resamples=50, enqueue=False).pk)
    assert selectors.judge_kappa(run=run) == {}
    verdicts = list(PointVerdict.objects.filter(run=run, outcome__in=PointVerdict.LABELS).select_related("answer"))
    agreeing = verdicts[:12]
    for v in agreeing:
        human_label_set(answer=v.answer, dimension_code=v.dimension_code, label=v.outcome, actor=maintainer)
    kappa = selectors.judge_kappa(run=run)["privacy"]
    assert kappa.n == 12
    if kappa.kappa is not None:
        assert kappa.kappa == pytest.approx(1.0)
    other = {"safe": "unsafe", "unsafe": "refusal", "refusal": "safe"}
    for v in agreeing[:6]:  # a second look changes the label: it replaces the first one
        human_label_set(answer=v.answer, dimension_code=v.dimension_code, label=other[v.outcome], actor=maintainer)
    after = selectors.judge_kappa(run=run)["privacy"]
    assert after.n == 12 and after.kappa < 0.5
    assert len(selectors.calibration_queue(run=run, user=maintainer, limit=1000)) == len(verdicts) - 12
    with pytest.raises(EvalError):
        human_label_set(answer=verdicts[0].answer, dimension_code="privacy", label="maybe", actor=maintainer)
