"""The `robust` ratings: Bradley–Terry fit, item bootstrap, ranks, scores, proportions, swapped pairs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.proportion import proportion_confint

from evaluation import livesecbench
from evaluation.adaptive import (
    MIN_DIRECT,
    adjacent_pairs,
    count_used,
    pair_item_order,
    plan_comparisons,
    simulate_robust,
    warmup_plan,
)
from evaluation.ratings import (
    START_RATING,
    PairOutcome,
    combine_orders,
    fit_bradley_terry,
    parse_verdict,
    position_bias,
    rate_models,
    uncertain_ranks,
    verdict_arrays,
    wilson_interval,
    win_rate_scores,
)

ELO = 400 / math.log(10)


def simulate_bt(rng: np.random.Generator, true: np.ndarray, n_items: int, pairs_per_item: int):
    """Verdicts from a Bradley–Terry model without ties: each item compares `pairs_per_item` random pairs."""
    m = len(true)
    first = rng.integers(0, m, size=(n_items, pairs_per_item))
    second = (first + rng.integers(1, m, size=first.shape)) % m
    first, second = first.ravel(), second.ravel()
    p_first = 1 / (1 + 10 ** ((true[second] - true[first]) / 400))
    score = (rng.random(first.size) < p_first).astype(float)
    item = np.repeat(np.arange(n_items), pairs_per_item)
    return first, second, score, item


def test_recovers_known_strengths_and_intervals_cover_them():
    rng = np.random.default_rng(2024)
    true = np.linspace(1200, 1800, 20)
    true = true - true.mean() + START_RATING
    taus, covered = [], []
    for rep in range(100):
        first, second, score, item = simulate_bt(rng, true, n_items=500, pairs_per_item=10)
        fit = rate_models(first, second, score, item, n_models=20, seed=rep)
        taus.append(stats.kendalltau(fit.ratings, true).statistic)
        covered.extend((fit.low <= true) & (true <= fit.high))
    print(f"Kendall tau min {min(taus):.3f} mean {np.mean(taus):.3f}; 95% interval coverage {np.mean(covered):.3f}")
    assert min(taus) >= 0.9
    assert np.mean(covered) >= 0.9


def penalised_objective(theta, first, second, score, ridge):
    d = theta[first] - theta[second]
    loglik = score * -np.logaddexp(0, -d) + (1 - score) * -np.logaddexp(0, d)
    return -(loglik.sum() - ridge / 2 * np.sum(theta**2))


def test_fit_is_the_penalised_maximum_likelihood():
    rng = np.random.default_rng(5)
    true = rng.normal(1500, 200, 6)
    first, second, score, _ = simulate_bt(rng, true, n_items=40, pairs_per_item=3)
    score[::7] = 0.5  # some ties
    for ridge in (0.01, 0.1, 1.0):
        fitted = fit_bradley_terry(first, second, score, n_models=6, ridge=ridge)
        best = optimize.minimize(penalised_objective, np.zeros(6), args=(first, second, score, ridge),
                                 method="BFGS", options={"gtol": 1e-10}).x
        expected = best * ELO
        np.testing.assert_allclose(fitted, expected - expected.mean() + START_RATING, atol=1e-4)


def test_ridge_keeps_an_unbeaten_model_finite_and_first():
    # Model 0 wins all of its 12 games; the others split theirs.
    first = [0] * 12 + [1, 2, 3, 1, 2, 3]
    second = [1, 2, 3] * 4 + [2, 3, 1, 3, 1, 2]
    score = [1.0] * 12 + [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    gaps = []
    for ridge in (0.01, 0.1, 1.0):
        ratings = fit_bradley_terry(first, second, score, n_models=4, ridge=ridge)
        assert np.all(np.isfinite(ratings))
        assert np.argmax(ratings) == 0
        gaps.append(ratings[0] - ratings[1:].max())
    # A stronger pull towards equal strengths gives a smaller (but still positive) lead.
    assert gaps[0] > gaps[1] > gaps[2] > 0
    fit = rate_models(first, second, score, list(range(18)), n_models=4)
    assert np.all(np.isfinite(fit.high)) and fit.ranks[0] == 1


def test_anchor_holds_its_model_and_keeps_differences():
    rng = np.random.default_rng(9)
    first, second, score, item = simulate_bt(rng, np.array([1400.0, 1500, 1550, 1700]), 60, 3)
    centred = rate_models(first, second, score, item, n_models=4, seed=3)
    anchored = rate_models(first, second, score, item, n_models=4, seed=3, anchor=(1, 1000.0))
    assert anchored.ratings[1] == 1000.0
    assert anchored.low[1] == anchored.high[1] == 1000.0
    shift = anchored.ratings - centred.ratings
    np.testing.assert_allclose(shift, shift[0], atol=1e-9)
    assert centred.ratings.mean() == pytest.approx(START_RATING, abs=1e-9)
    # Scores are against the mean model: where the ratings sit does not change them.
    np.testing.assert_allclose(anchored.scores, centred.scores, atol=1e-9)
    np.testing.assert_allclose(anchored.score_low, centred.score_low, atol=1e-9)
    with pytest.raises(ValueError):
        fit_bradley_terry(first, second, score, n_models=4, anchor=(4, 1500.0))


def test_a_tie_counts_as_half_a_win_each_way():
    tie = fit_bradley_terry([0, 1, 0], [1, 2, 2], [0.5, 1.0, 1.0], n_models=3, ridge=0.1)
    # A tie's log-likelihood is half that of one win plus one loss, so the tie set equals the set with the
    # tie replaced by a win and a loss and every other verdict doubled, at twice the ridge.
    win_and_loss = fit_bradley_terry([0, 0, 1, 1, 0, 0], [1, 1, 2, 2, 2, 2], [1.0, 0.0, 1, 1, 1, 1],
                                     n_models=3, ridge=0.2)
    np.testing.assert_allclose(tie, win_and_loss, atol=1e-6)
    # 0 and 1 tied and both beat 2: equal, and above 2.
    assert tie[0] == pytest.approx(tie[1], abs=1e-9) and tie[1] > tie[2] + 100
    # Two models that only tied are equal, whichever is listed first.
    np.testing.assert_allclose(fit_bradley_terry([0, 1], [1, 0], [0.5, 0.5], n_models=2), [1500, 1500])
    # Listing order does not matter: (a, b, s) is the same verdict as (b, a, 1 - s).
    np.testing.assert_allclose(fit_bradley_terry([1, 2, 2], [0, 1, 0], [0.5, 0.0, 0.0], n_models=3, ridge=0.1), tie,
                               atol=1e-9)


def test_ranks_are_shared_when_intervals_overlap():
    low = np.array([1600.0, 1550, 1400, 1200])
    high = np.array([1700.0, 1650, 1500, 1300])
    ranks, shared = uncertain_ranks(low, high)
    # B's interval overlaps A's: both first. C is clearly behind A and B; D behind all three.
    assert ranks.tolist() == [1, 1, 3, 4]
    assert shared.tolist() == [True, True, False, False]
    # Through a fit: two indistinguishable strong models share rank 1, the weak one is 3rd.
    rng = np.random.default_rng(1)
    first, second, score, item = simulate_bt(rng, np.array([1800.0, 1800.0, 1200.0]), 300, 2)
    fit = rate_models(first, second, score, item, n_models=3)
    assert fit.ranks.tolist() == [1, 1, 3]
    assert fit.shared.tolist() == [True, True, False]


def test_scores_are_win_rates_against_the_mean_model_with_intervals():
    ratings = np.array([1600.0, 1500.0, 1400.0])
    np.testing.assert_allclose(win_rate_scores(ratings), 100 / (1 + 10 ** ((1500 - ratings) / 400)))
    assert win_rate_scores(np.array([1700.0, 1700.0]))[0] == pytest.approx(50.0)
    rng = np.random.default_rng(4)
    first, second, score, item = simulate_bt(rng, np.array([1300.0, 1500, 1700]), 200, 2)
    fit = rate_models(first, second, score, item, n_models=3)
    assert np.all(fit.score_low <= fit.scores) and np.all(fit.scores <= fit.score_high)
    assert np.all((0 < fit.score_low) & (fit.score_high < 100))
    assert fit.scores[0] < 50 < fit.scores[2]


def test_bootstrap_resamples_items_not_verdicts():
    rng = np.random.default_rng(11)
    first, second, score, item = simulate_bt(rng, np.array([1450.0, 1550.0]), 100, 1)
    once = rate_models(first, second, score, item, n_models=2)
    # The same verdicts four times over on the same items: no new evidence about items, same widths.
    repeated = rate_models(np.tile(first, 4), np.tile(second, 4), np.tile(score, 4), np.tile(item, 4),
                           n_models=2)
    # Four times over on new items: four times the items, half the width.
    new_items = rate_models(np.tile(first, 4), np.tile(second, 4), np.tile(score, 4),
                            np.concatenate([item + 1000 * k for k in range(4)]), n_models=2)
    width = (once.high - once.low)[0]
    assert (repeated.high - repeated.low)[0] == pytest.approx(width, rel=0.25)
    assert (new_items.high - new_items.low)[0] == pytest.approx(width / 2, rel=0.25)
    assert new_items.n_items == 400 and repeated.n_items == 100


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(12)
    data = simulate_bt(rng, np.array([1400.0, 1500, 1600]), 50, 2)
    a = rate_models(*data, n_models=3, seed=7)
    b = rate_models(*data, n_models=3, seed=7)
    c = rate_models(*data, n_models=3, seed=8)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.ratings, c.ratings)
    assert not np.array_equal(a.low, c.low)


def test_no_verdicts_leaves_everyone_equal():
    fit = rate_models([], [], [], [], n_models=3)
    assert fit.ratings.tolist() == [1500.0] * 3 and fit.ranks.tolist() == [1, 1, 1]
    assert fit.n_items == 0


def test_wilson_equals_statsmodels():
    for n in list(range(1, 41)) + [97, 250, 1000, 12345]:
        for k in sorted({0, 1, 2, n // 3, n // 2, n - 1, n} & set(range(n + 1))):
            for alpha in (0.05, 0.1, 0.01):
                expected = proportion_confint(k, n, alpha=alpha, method="wilson")
                got = wilson_interval(k, n, alpha=alpha)
                assert got == pytest.approx(expected, abs=1e-9), (k, n, alpha)
    ks, ns = np.array([0, 3, 7, 10]), np.array([10, 10, 20, 10])
    low, high = wilson_interval(ks, ns)
    ref_low, ref_high = proportion_confint(ks, ns, alpha=0.05, method="wilson")
    np.testing.assert_allclose(low, ref_low, atol=1e-9)
    np.testing.assert_allclose(high, ref_high, atol=1e-9)


def test_wilson_with_no_observation_is_the_whole_range():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(np.array([0, 1]), np.array([0, 2]))
    assert (low[0], high[0]) == (0.0, 1.0) and 0 < low[1] < 0.5 < high[1] < 1
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@pytest.mark.parametrize(
    ("first", "second", "outcome", "inconsistent", "orders"),
    [
        # X shown as A first, then as B.
        ("A", "B", "win", False, 2),  # X chosen both times
        ("B", "A", "loss", False, 2),  # Y chosen both times
        ("C", "C", "tie", False, 2),
        ("A", "A", "tie", True, 2),  # the first position chosen both times: position, not content
        ("B", "B", "tie", True, 2),
        ("A", "C", "tie", True, 2),
        ("C", "B", "tie", True, 2),
        ("B", "C", "tie", True, 2),
        ("C", "A", "tie", True, 2),
        ("A", None, "win", False, 1),
        (None, "B", "win", False, 1),
        (None, "A", "loss", False, 1),
        ("C", None, "tie", False, 1),
        (None, None, None, False, 0),
    ],
)
def test_combining_both_orders(first, second, outcome, inconsistent, orders):
    combined = combine_orders(first, second)
    assert combined == PairOutcome(outcome=outcome, inconsistent=inconsistent, orders=orders)
    assert combined.score == {"win": 1.0, "loss": 0.0, "tie": 0.5, None: None}[outcome]


def test_combining_refuses_unknown_verdicts():
    with pytest.raises(ValueError):
        combine_orders("a", "B")


def test_combined_outcome_mirrors_from_the_other_side():
    mirror = {"win": "loss", "loss": "win", "tie": "tie", None: None}
    for first, second in itertools.product(["A", "B", "C", None], repeat=2):
        x_side = combine_orders(first, second)
        # From Y's side, Y was shown as A in the second order: Y's (first, second) are X's (second, first),
        # with letters unchanged.
        y_side = combine_orders(second, first)
        assert y_side.outcome == mirror[x_side.outcome], (first, second)
        assert y_side.inconsistent == x_side.inconsistent


def test_parse_verdict_allows_ties():
    assert [parse_verdict(r) for r in ["A", "B", "C", "答案：C", "AB", "c", "", None, "AC"]] == [
        "A", "B", "C", "C", None, None, None, None, None]


def test_position_bias_share_and_interval():
    # A naive judge that always names the first position: share 1, every pair inconsistent.
    naive = position_bias(["A"] * 30, ["A"] * 30)
    assert (naive.share, naive.decisive, naive.inconsistent, naive.pairs) == (1.0, 60, 30, 30)
    assert naive.low == pytest.approx(proportion_confint(60, 60, method="wilson")[0], abs=1e-9)
    # A consistent judge: each answer wins in both orders, so first position wins exactly half.
    fair = position_bias(["A", "B", "C"] * 10, ["B", "A", "C"] * 10)
    assert (fair.share, fair.decisive, fair.inconsistent) == (0.5, 40, 0)
    assert fair.low < 0.5 < fair.high
    # Pairs with an invalid verdict are left out; with nothing decisive the share is unknown.
    partial = position_bias(["A", None, "C"], [None, "B", "C"])
    assert partial.pairs == 1 and partial.decisive == 0 and math.isnan(partial.share)
    assert (partial.low, partial.high) == (0.0, 1.0)


def test_verdict_arrays_feed_the_fit():
    rows = [(0, 1, "q1", combine_orders("A", "B")), (1, 2, "q1", combine_orders("C", "C")),
            (2, 0, "q2", combine_orders(None, None)), (2, 0, "q3", combine_orders("B", "A"))]
    first, second, score, item = verdict_arrays(rows)
    assert first.tolist() == [0, 1, 2] and second.tolist() == [1, 2, 0]
    assert score.tolist() == [1.0, 0.5, 0.0] and item.tolist() == ["q1", "q1", "q3"]
    fit = rate_models(first, second, score, item, n_models=3)
    assert fit.ratings[0] == fit.ratings.max()


# --------------------------------------------------------------------------------------------------------------
# Adaptive pairing


def test_pair_item_order_is_a_fixed_permutation_per_unordered_pair():
    order = pair_item_order(25, 1, 3, seed=7)
    assert sorted(order.tolist()) == list(range(25))
    np.testing.assert_array_equal(order, pair_item_order(25, 3, 1, seed=7))
    assert not np.array_equal(order, pair_item_order(25, 1, 2, seed=7))
    assert not np.array_equal(order, pair_item_order(25, 1, 3, seed=8))


def test_warmup_puts_every_pair_on_fresh_items():
    plan = warmup_plan(4, 10, seed=1, per_pair=2)
    pairs = {}
    for c in plan:
        pairs.setdefault((c.first, c.second), []).append(c.item)
    assert sorted(pairs) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert all(len(set(items)) == 2 for items in pairs.values())
    # Continued from the counts: the next items of each pair's order, none repeated.
    more = warmup_plan(4, 10, seed=1, per_pair=2, used=count_used(np.zeros((4, 4), dtype=int), plan))
    for (a, b), items in pairs.items():
        following = [c.item for c in more if (c.first, c.second) == (a, b)]
        assert following == pair_item_order(10, a, b, seed=1)[2:4].tolist()
        assert not set(following) & set(items)


def test_plan_goes_to_unseparated_adjacent_pairs_without_reusing_items():
    # Order 2 > 0 > 3 > 1. 2 and 0 overlap; 0 is clearly above 3 (and they met twice); 3 and 1 overlap.
    ratings = np.array([1550.0, 1300, 1600, 1400])
    low = np.array([1500.0, 1200, 1540, 1350])
    high = np.array([1600.0, 1380, 1660, 1450])
    used = np.zeros((4, 4), dtype=int)
    for a, b, k in [(0, 2, 3), (0, 3, 2), (1, 3, 1), (0, 1, 5)]:
        used[a, b] = used[b, a] = k
    pairs = adjacent_pairs(ratings, low, high, used, 25)
    assert [(p.upper, p.lower) for p in pairs] == [(2, 0), (0, 3), (3, 1)]
    assert [p.separated for p in pairs] == [False, True, False]
    plan = plan_comparisons(ratings, low, high, used, 25, size=12, seed=3, batch_number=0)
    assert len(plan) == 12
    chosen = {frozenset((c.first, c.second)) for c in plan}
    assert chosen <= {frozenset((2, 0)), frozenset((3, 1))}
    for pair in chosen:
        a, b = sorted(pair)
        items = [c.item for c in plan if {c.first, c.second} == pair]
        start = used[a, b]
        # Each pair continues its own item order: the items after those it already used, no repeat.
        assert items == pair_item_order(25, a, b, seed=3)[start : start + len(items)].tolist()
    assert plan == plan_comparisons(ratings, low, high, used, 25, size=12, seed=3, batch_number=0)
    assert plan != plan_comparisons(ratings, low, high, used, 25, size=12, seed=3, batch_number=1)


def test_the_more_doubtful_pair_gets_more_of_the_batch():
    ratings = np.array([1700.0, 1500, 1495])
    low, high = ratings - 120, ratings + 120
    used = np.full((3, 3), 3) - 3 * np.eye(3, dtype=int)
    plan = plan_comparisons(ratings, low, high, used, 500, size=400, seed=1, batch_number=0)
    close = sum({c.first, c.second} == {1, 2} for c in plan)
    # 1 and 2 are 5 points apart: their order is a coin flip. 0 and 1 are 200 apart, but their intervals
    # still meet, so they keep a small share.
    assert close > 350 and 400 - close > 0
    assert all({c.first, c.second} in ({0, 1}, {1, 2}) for c in plan)


def test_plan_is_empty_when_every_adjacent_pair_is_separated_or_out_of_items():
    ratings = np.array([1700.0, 1500, 1300])
    low, high = ratings - 50, ratings + 50
    used = np.full((3, 3), 4) - 4 * np.eye(3, dtype=int)
    assert plan_comparisons(ratings, low, high, used, 25, size=5, seed=0, batch_number=0) == []
    # Separated intervals with fewer than MIN_DIRECT direct comparisons are not trusted yet.
    few = np.zeros((3, 3), dtype=int)
    assert MIN_DIRECT > 0 and plan_comparisons(ratings, low, high, few, 25, size=5, seed=0, batch_number=0)
    # Overlapping, but every item used: nothing left to plan.
    wide_low, wide_high = ratings - 300, ratings + 300
    full = np.full((3, 3), 25) - 25 * np.eye(3, dtype=int)
    assert plan_comparisons(ratings, wide_low, wide_high, full, 25, size=5, seed=0, batch_number=0) == []


def test_simulated_run_stays_within_budget_and_retries_invalid_replies():
    rng = np.random.default_rng(0)
    calls = []

    def judge(a, b, item):
        calls.append((a, b, item))
        if rng.random() < 0.2:
            return "无法判断"
        return "A" if (a < b) == (rng.random() < 0.8) else "B"

    run = simulate_robust(4, 30, judge=judge, budget=101, seed=5)
    assert run.calls == len(calls) <= 101
    assert run.stopped == "budget"
    assert len(run.comparisons) == len(run.verdicts)
    # Retries: more calls than two per comparison, and fewer invalid verdicts than invalid replies.
    assert run.calls > 2 * len(run.comparisons)
    # No pair saw an item twice.
    seen = [(min(a, b), max(a, b), item) for a, b, item, _ in run.comparisons]
    assert len(seen) == len(set(seen))
    assert run.result.ratings[0] == run.result.ratings.max()


def test_simulated_run_stops_once_the_order_is_settled():
    def judge(a, b, item):
        return "A" if a < b else "B"  # never wrong

    run = simulate_robust(4, 200, judge=judge, budget=10_000, seed=2)
    assert run.stopped == "separated" and run.calls < 10_000
    assert run.result.ranks.tolist() == [1, 2, 3, 4]


# --------------------------------------------------------------------------------------------------------------
# Stability against LiveSecBench's Swiss Elo

P_SAFER = 0.75
STABILITY_MODELS = 5
STABILITY_DIMENSIONS = ("d1", "d2")
STABILITY_ITEMS = 25
STABILITY_SEEDS = 200


def noisy_judge(rng: np.random.Generator):
    """The safer model (lower id) wins each judged comparison with P_SAFER; every call is a fresh draw, so
    items, pairs, orientations and retries are independent."""

    def verdict(shown_a: int, shown_b: int) -> str:
        a_wins = rng.random() < (P_SAFER if shown_a < shown_b else 1 - P_SAFER)
        return "A" if a_wins else "B"

    return verdict


def livesecbench_trial(seed: int) -> tuple[bool, list[int]]:
    """Both dimensions in LiveSecBench mode; True when the overall ranks are the true order."""
    rng = np.random.default_rng([seed, 1])
    run_order = [int(m) for m in rng.permutation(STABILITY_MODELS)]
    verdict = noisy_judge(rng)
    scores, calls = {}, []
    for code in STABILITY_DIMENSIONS:
        count = [0]

        def judge(round_number, a, b, item, count=count):
            count[0] += 1
            return verdict(a, b)

        result = livesecbench.run_dimension(run_order, list(range(STABILITY_ITEMS)), seed=seed,
                                            dimension_code=code, judge=judge)
        scores[code] = result.scores
        calls.append(count[0])
    ranks = livesecbench.ranks(livesecbench.overall_scores(scores, run_order), run_order)
    return all(ranks[m] == m + 1 for m in range(STABILITY_MODELS)), calls


def robust_trial(seed: int, budgets: list[int]) -> tuple[bool, list[int]]:
    """Both dimensions in robust mode within the given judge calls; overall = mean of the 0–100 scores
    (ties keep the run order)."""
    rng = np.random.default_rng([seed, 2])
    run_order = rng.permutation(STABILITY_MODELS)  # run_order[k]: the true model at index k
    verdict = noisy_judge(rng)
    total, calls = np.zeros(STABILITY_MODELS), []
    for d, budget in enumerate(budgets):
        run = simulate_robust(STABILITY_MODELS, STABILITY_ITEMS, budget=budget, seed=seed * 10 + d,
                              judge=lambda a, b, item: verdict(int(run_order[a]), int(run_order[b])))
        total += run.result.scores
        calls.append(run.calls)
    ranking = run_order[np.argsort(-total, kind="stable")]
    return bool(np.array_equal(ranking, np.arange(STABILITY_MODELS))), calls


def test_robust_recovers_the_true_order_far_more_often_than_livesecbench():
    swiss = [livesecbench_trial(seed) for seed in range(STABILITY_SEEDS)]
    twice = [robust_trial(seed, [2 * c for c in calls]) for seed, (_, calls) in enumerate(swiss)]
    equal = [robust_trial(seed, calls) for seed, (_, calls) in enumerate(swiss)]
    rate = {name: np.mean([ok for ok, _ in trials]) for name, trials in
            (("livesecbench", swiss), ("robust_2x", twice), ("robust_1x", equal))}
    total_calls = {name: sum(sum(c) for _, c in trials) for name, trials in
                   (("livesecbench", swiss), ("robust_2x", twice), ("robust_1x", equal))}
    print(f"\ntrue order recovered over {STABILITY_SEEDS} seeds (p = {P_SAFER}): "
          f"livesecbench {rate['livesecbench']:.1%} with {total_calls['livesecbench']} judge calls; "
          f"robust {rate['robust_2x']:.1%} with {total_calls['robust_2x']} calls, "
          f"{rate['robust_1x']:.1%} with {total_calls['robust_1x']} calls")
    for (_, lsb_calls), (_, two), (_, one) in zip(swiss, twice, equal, strict=True):
        assert sum(two) <= 2 * sum(lsb_calls) and sum(one) <= sum(lsb_calls)
    assert rate["robust_2x"] >= 0.93
    assert rate["robust_1x"] >= 0.75
    assert rate["robust_1x"] > rate["livesecbench"] + 0.25
