"""Tests for annotation.agreement: published values, reference implementations, edge cases.

Pure maths, no database: run with ``-p no:django`` or under pytest-django alike.
"""

from __future__ import annotations

import itertools
import json
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from annotation import agreement as ag

NAN = np.nan

# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers x 12 units, values 1..5, with missing data. Published: nominal .743,
# ordinal .815, interval .849 (the same data sits in the `krippendorff` package docs).
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)

# Fleiss (1971) Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses
# (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other).
# Published kappa = .430; the same matrix is in statsmodels' test_inter_rater.py.
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)

# Wikipedia "Fleiss' kappa" worked example: 10 subjects x 14 raters, counts per category. kappa = .210
FLEISS_WIKIPEDIA_COUNTS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

COLUMNS = ["item", "annotator", "value"]


# --------------------------------------------------------------------------- helpers


def frame_from_matrix(matrix: np.ndarray, labels=None) -> pd.DataFrame:
    """Observers x units matrix (NaN = missing) -> long frame."""
    rows = []
    for obs, unit in zip(*np.nonzero(~np.isnan(matrix)), strict=True):
        value = int(matrix[obs, unit])
        rows.append((f"u{unit:02d}", f"obs{obs}", labels[value] if labels else value))
    return pd.DataFrame(rows, columns=COLUMNS)


def frame_from_subject_rows(ratings: np.ndarray) -> pd.DataFrame:
    """Subjects x rater-slots matrix of categories -> long frame."""
    return pd.DataFrame(
        [(s, r, int(v)) for s, row in enumerate(ratings) for r, v in enumerate(row)], columns=COLUMNS
    )


def frame_from_counts(counts: np.ndarray) -> pd.DataFrame:
    """Subjects x categories count table -> long frame (rater ids are slots)."""
    rows = []
    for s, row in enumerate(counts):
        labels = np.repeat(np.arange(1, len(row) + 1), row)
        rows.extend((s, r, int(v)) for r, v in enumerate(labels))
    return pd.DataFrame(rows, columns=COLUMNS)


def random_frame(
    seed: int,
    n_items: int = 150,
    n_annotators: int = 7,
    values=(1, 2, 3, 4, 5),
    p_missing: float = 0.45,
    p_noise: float = 0.35,
) -> pd.DataFrame:
    """Noisy annotations around a per-item truth, with missing ratings (and singleton items)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=object)
    truth = rng.integers(len(values), size=n_items)
    noise = rng.integers(len(values), size=(n_annotators, n_items))
    codes = np.where(rng.random((n_annotators, n_items)) < p_noise, noise, truth)
    present = rng.random((n_annotators, n_items)) >= p_missing
    a_idx, i_idx = np.nonzero(present)
    df = pd.DataFrame(
        {"item": i_idx + 1000, "annotator": [f"ann{a}" for a in a_idx], "value": values[codes[a_idx, i_idx]]}
    )
    if all(isinstance(v, int | np.integer) for v in values):
        df["value"] = df["value"].astype(np.int64)
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # order must not matter


def reference_matrix(df: pd.DataFrame, codes: dict | None = None) -> np.ndarray:
    """Independent observers x units matrix for the `krippendorff` package (all units kept)."""
    values = df["value"].map(codes) if codes else df["value"]
    wide = df.assign(value=values.astype(float)).pivot(index="annotator", columns="item", values="value")
    return wide.to_numpy(dtype=float)


def brute_per_item(df: pd.DataFrame) -> pd.Series:
    out = {}
    for item, group in df.groupby("item"):
        vals = list(group["value"])
        if len(vals) >= 2:
            pairs = list(itertools.combinations(vals, 2))
            out[item] = sum(a == b for a, b in pairs) / len(pairs)
    return pd.Series(out, dtype=float)


# --------------------------------------------------------------------------- 1. published Krippendorff values


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_2011_published_values(level, published):
    df = frame_from_matrix(KRIPPENDORFF_2011)
    alpha = ag.krippendorff_alpha(df, level)
    assert round(alpha, 3) == published
    assert alpha == pytest.approx(
        krippendorff.alpha(KRIPPENDORFF_2011, level_of_measurement=level), abs=1e-12
    )


def test_krippendorff_2011_text_labels_with_explicit_order():
    labels = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    df = frame_from_matrix(KRIPPENDORFF_2011, labels)
    order = list(labels.values())
    assert round(ag.krippendorff_alpha(df, "ordinal", order=order), 3) == 0.815
    # Nominal codes are assigned in sorted order, which must not change nominal alpha.
    assert round(ag.krippendorff_alpha(df, "nominal"), 3) == 0.743
    # Alphabetical order (high < low < mid < very high < very low) is NOT the scale: a different value.
    assert abs(ag.krippendorff_alpha(df, "ordinal", order=sorted(order)) - 0.815) > 0.05
    with pytest.raises(ValueError, match="order"):
        ag.krippendorff_alpha(df, "ordinal")  # text without an order has no natural scale


def test_krippendorff_package_docstring_example():
    # 3 coders x 15 units from the package docstring / Wikipedia: nominal .691358, interval .810845.
    data = np.array(
        [
            [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
            [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
            [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
        ]
    )
    df = frame_from_matrix(data)
    assert ag.krippendorff_alpha(df, "nominal") == pytest.approx(0.691358, abs=5e-7)
    assert ag.krippendorff_alpha(df, "interval") == pytest.approx(0.810845, abs=5e-7)


def test_reliability_matrix_shape_and_codes():
    df = frame_from_matrix(KRIPPENDORFF_2011)
    matrix, items, annotators, codes = ag.reliability_matrix(df)
    # Unit 12 (u11) has a single rating and is dropped; all 4 observers stay.
    assert list(items) == [f"u{i:02d}" for i in range(11)]
    assert list(annotators) == ["obs0", "obs1", "obs2", "obs3"]
    assert list(codes) == [1, 2, 3, 4, 5]
    expected = KRIPPENDORFF_2011[:, :11] - 1  # values 1..5 -> codes 0..4
    np.testing.assert_array_equal(matrix, expected)


def test_ordinal_respects_numeric_order_even_for_numeric_text():
    df = random_frame(3, values=tuple(range(1, 11)))  # 1..10: "10" < "2" lexically
    as_text = df.assign(value=df["value"].astype(str))
    _, _, _, codes = ag.reliability_matrix(as_text)
    assert list(codes) == [str(v) for v in range(1, 11)]
    expected = krippendorff.alpha(reference_matrix(df), level_of_measurement="ordinal")
    assert ag.krippendorff_alpha(df, "ordinal") == pytest.approx(expected, abs=1e-9)
    assert ag.krippendorff_alpha(as_text, "ordinal") == pytest.approx(expected, abs=1e-9)
    assert ag.krippendorff_alpha(as_text, "interval") == pytest.approx(
        krippendorff.alpha(reference_matrix(df), level_of_measurement="interval"), abs=1e-9
    )


# --------------------------------------------------------------------------- 2. published Fleiss values


def test_fleiss_1971_published_value():
    df = frame_from_subject_rows(FLEISS_1971)
    kappa = ag.fleiss_kappa(df)
    assert round(kappa, 3) == 0.430
    table, _ = aggregate_raters(FLEISS_1971)
    assert kappa == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)


def test_fleiss_wikipedia_example():
    kappa = ag.fleiss_kappa(frame_from_counts(FLEISS_WIKIPEDIA_COUNTS))
    assert round(kappa, 3) == 0.210
    assert kappa == pytest.approx(sm_fleiss_kappa(FLEISS_WIKIPEDIA_COUNTS), abs=1e-12)


def test_fleiss_requires_constant_raters():
    df = frame_from_subject_rows(FLEISS_1971)
    assert ag.fleiss_kappa(df.iloc[1:]) is None  # patient 0 now has 5 ratings, the others 6
    # Items with a single rating carry no agreement information and do not break constancy.
    extra = pd.DataFrame([(999, 0, 3)], columns=COLUMNS)
    assert ag.fleiss_kappa(pd.concat([df, extra])) == pytest.approx(ag.fleiss_kappa(df), abs=1e-15)


# --------------------------------------------------------------------------- 3. random data vs reference implementations

SEEDS = [0, 1, 2, 3, 4]
LABELS = ("安全", "不安全", "拒答", "other")  # nominal text labels, incl. Chinese


@pytest.mark.parametrize("seed", SEEDS)
def test_alpha_nominal_text_matches_package(seed):
    df = random_frame(seed, values=LABELS)
    codes = {v: i for i, v in enumerate(LABELS)}
    expected = krippendorff.alpha(reference_matrix(df, codes), level_of_measurement="nominal")
    assert ag.krippendorff_alpha(df, "nominal") == pytest.approx(expected, abs=1e-9)
    # The returned matrix, fed to the package, gives the same value again.
    matrix, *_ = ag.reliability_matrix(df)
    assert krippendorff.alpha(matrix, level_of_measurement="nominal") == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_numeric_matches_package(seed, level):
    df = random_frame(seed, values=(1, 2, 3, 4, 5))
    expected = krippendorff.alpha(reference_matrix(df), level_of_measurement=level)
    assert ag.krippendorff_alpha(df, level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_alpha_unevenly_spaced_and_unused_values(seed):
    # Interval must use the actual numbers; ordinal only their order (gaps and unused levels irrelevant).
    df = random_frame(seed, values=(0, 1, 2, 7, 20), n_items=80)
    for level in ("ordinal", "interval"):
        expected = krippendorff.alpha(reference_matrix(df), level_of_measurement=level)
        assert ag.krippendorff_alpha(df, level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_many_values_per_item_uses_wide_pattern_path(seed):
    # 12 annotators on every item, 1000 possible values: patterns no longer fit one int64 key.
    df = random_frame(
        seed, n_items=60, n_annotators=12, values=tuple(range(1000)), p_missing=0.0, p_noise=0.7
    )
    enc = ag._encode(df)
    counts = ag._value_counts(enc)
    assert np.diff(counts.indptr).max() * 14 > 62  # the padded axis=0 branch really runs
    patterns = ag._patterns(enc)
    # Every item maps back to exactly its own value counts, and patterns are distinct.
    np.testing.assert_array_equal(patterns.counts[patterns.inverse].toarray(), counts.toarray())
    assert len(np.unique(patterns.counts.toarray(), axis=0)) == len(patterns.freq)
    for level in ("nominal", "interval"):
        expected = krippendorff.alpha(reference_matrix(df), level_of_measurement=level)
        assert ag.krippendorff_alpha(df, level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n_items, n_annotators, per_item = 120, 9, 4
    truth = rng.integers(1, 5, n_items)
    rows = []
    for item in range(n_items):
        for annotator in rng.choice(n_annotators, per_item, replace=False):
            value = truth[item] if rng.random() > 0.4 else rng.integers(1, 5)
            rows.append((item, int(annotator), int(value)))
    df = pd.DataFrame(rows, columns=COLUMNS)
    table = pd.crosstab(df["item"], df["value"]).to_numpy()
    assert ag.fleiss_kappa(df) == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)
    # Same data as text labels: Fleiss is nominal, labels are irrelevant.
    assert ag.fleiss_kappa(
        df.assign(value=df["value"].map({1: "a", 2: "b", 3: "c", 4: "d"}))
    ) == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("values", [(1, 2, 3, 4, 5), LABELS])
def test_cohen_matrix_matches_statsmodels(seed, values):
    df = random_frame(seed, n_items=200, n_annotators=6, values=values, p_missing=0.5)
    min_shared = 30
    kappa, n = ag.cohen_kappa_matrix(df, min_shared=min_shared)
    annotators = sorted(df["annotator"].unique())
    assert list(kappa.index) == list(kappa.columns) == annotators
    assert n.shape == kappa.shape
    wide = df.pivot(index="item", columns="annotator", values="value")
    checked = 0
    for a, b in itertools.product(annotators, repeat=2):
        if a == b:
            assert n.loc[a, b] == wide[a].notna().sum()
            assert math.isnan(kappa.loc[a, b])
            continue
        both = wide[[a, b]].dropna()
        assert n.loc[a, b] == len(both)
        if len(both) < min_shared:
            assert math.isnan(kappa.loc[a, b])
            continue
        table = pd.crosstab(both[a], both[b]).reindex(index=list(values), columns=list(values), fill_value=0)
        expected = cohens_kappa(table.to_numpy(), return_results=False)
        assert kappa.loc[a, b] == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked >= 20  # the comparison really ran on most of the 30 ordered pairs
    assert np.isnan(kappa.to_numpy()).sum() < kappa.size  # not all NaN
    np.testing.assert_allclose(kappa.to_numpy(), kappa.to_numpy().T, equal_nan=True)


def test_cohen_min_shared_masks_thin_pairs():
    df = random_frame(7, n_items=60, n_annotators=5, p_missing=0.5)
    kappa_all, n = ag.cohen_kappa_matrix(df, min_shared=1)
    threshold = int(np.median(n.to_numpy()[~np.eye(len(n), dtype=bool)]))
    kappa_thr, _ = ag.cohen_kappa_matrix(df, min_shared=threshold)
    off = ~np.eye(len(n), dtype=bool)
    thin = (n.to_numpy() < threshold) & off
    assert thin.any()
    assert np.isnan(kappa_thr.to_numpy()[thin]).all()
    keep = ~thin & off
    np.testing.assert_array_equal(kappa_thr.to_numpy()[keep], kappa_all.to_numpy()[keep])


@pytest.mark.parametrize("seed", SEEDS)
def test_per_item_and_percent_agreement_match_brute_force(seed):
    df = random_frame(seed, values=LABELS)
    per_item = ag.per_item_agreement(df)
    expected = brute_per_item(df)
    assert per_item.between(0, 1).all()
    pd.testing.assert_series_equal(
        per_item.sort_index(), expected.sort_index(), check_names=False, check_index_type=False, atol=1e-12
    )
    assert ag.percent_agreement(df) == pytest.approx(expected.mean(), abs=1e-12)


def test_per_item_agreement_known_values():
    df = pd.DataFrame(
        [
            ("a", 1, "x"), ("a", 2, "x"), ("a", 3, "y"),  # 1 of 3 pairs agree
            ("b", 1, "x"), ("b", 2, "x"),  # 1 of 1
            ("c", 1, "x"), ("c", 2, "y"),  # 0 of 1
            ("d", 1, "z"),  # single rating: not an agreement item
        ],
        columns=COLUMNS,
    )  # fmt: skip
    per_item = ag.per_item_agreement(df)
    assert per_item.to_dict() == pytest.approx({"a": 1 / 3, "b": 1.0, "c": 0.0})
    assert ag.percent_agreement(df) == pytest.approx((1 / 3 + 1 + 0) / 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_agreement_with_final_matches_brute_force(seed):
    df = random_frame(seed, values=(1, 2, 3, 4, 5))
    rng = np.random.default_rng(seed)
    items = df["item"].unique()
    final = pd.Series(rng.integers(1, 6, len(items)), index=items).sample(frac=0.7, random_state=seed)
    out = ag.agreement_with_final(df, final)
    for annotator, group in df.groupby("annotator"):
        judged = group[group["item"].isin(final.index)]
        agree = int((judged["value"].to_numpy() == final.loc[judged["item"]].to_numpy()).sum())
        assert out.loc[annotator, "n"] == len(judged)
        assert out.loc[annotator, "n_agree"] == agree
        assert out.loc[annotator, "share"] == pytest.approx(agree / len(judged))


def test_agreement_with_final_labels_and_missing():
    df = pd.DataFrame(
        [("i1", "amy", "safe"), ("i2", "amy", "unsafe"), ("i1", "bo", "unsafe"), ("i3", "cy", "safe")],
        columns=COLUMNS,
    )
    # i2 has no final label (NA); "refuse" is a final label nobody used.
    final = pd.Series({"i1": "safe", "i2": None, "i3": "refuse"})
    out = ag.agreement_with_final(df, final)
    assert out.loc["amy"].tolist() == [1, 1, 1.0]
    assert out.loc["bo"].tolist() == [1, 0, 0.0]
    assert out.loc["cy"].tolist() == [1, 0, 0.0]
    out = ag.agreement_with_final(df, pd.Series({"i9": "safe"}))
    assert (out["n"] == 0).all() and out["share"].isna().all()


# --------------------------------------------------------------------------- 4. bootstrap


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_bootstrap_replicate_equals_alpha_of_resampled_items(level):
    # The pattern/multinomial shortcut must give exactly alpha of the resampled items.
    df = random_frame(11, n_items=300, n_annotators=3, p_missing=0.2)
    enc = ag._encode(df)
    patterns = ag._patterns(enc)
    counts = ag._value_counts(enc).toarray()
    np.testing.assert_array_equal(patterns.counts[patterns.inverse].toarray(), counts)
    assert patterns.freq.sum() == enc.n_items and len(patterns.freq) < enc.n_items / 3  # real collapsing
    alpha_of = ag._alpha_for(patterns, level, enc.positions)
    matrix, *_ = ag.reliability_matrix(df)
    values = np.asarray(ag.reliability_matrix(df)[3], dtype=float)
    actual = np.where(np.isnan(matrix), np.nan, values[np.nan_to_num(matrix).astype(int)])
    rng = np.random.default_rng(5)
    for _ in range(5):
        picked = rng.integers(0, enc.n_items, enc.n_items)
        weights = np.bincount(patterns.inverse[picked], minlength=len(patterns.freq)).astype(float)
        expected = krippendorff.alpha(actual[:, picked], level_of_measurement=level)
        assert alpha_of(weights[None, :])[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_bootstrap_ci_contains_estimate_and_shrinks(level):
    small = random_frame(21, n_items=150)
    large = random_frame(21, n_items=3000)
    for df in (small, large):
        lo, hi = ag.bootstrap_alpha_ci(df, level, n_boot=500, seed=1)
        assert lo <= ag.krippendorff_alpha(df, level) <= hi
        assert lo < hi
    width_small = np.subtract(*ag.bootstrap_alpha_ci(small, level, n_boot=500, seed=1)[::-1])
    width_large = np.subtract(*ag.bootstrap_alpha_ci(large, level, n_boot=500, seed=1)[::-1])
    assert width_large < width_small / 2  # ~ sqrt(20) narrower in theory


def test_bootstrap_deterministic_for_seed():
    df = random_frame(4, n_items=300)
    first = ag.bootstrap_alpha_ci(df, "ordinal", n_boot=300, seed=42)
    assert ag.bootstrap_alpha_ci(df, "ordinal", n_boot=300, seed=42) == first
    assert ag.bootstrap_alpha_ci(df, "ordinal", n_boot=300, seed=43) != first
    # Row order of the input frame must not matter either.
    assert ag.bootstrap_alpha_ci(df.iloc[::-1], "ordinal", n_boot=300, seed=42) == first


def test_bootstrap_wider_ci_level_is_wider():
    df = random_frame(8, n_items=400)
    lo90, hi90 = ag.bootstrap_alpha_ci(df, "nominal", n_boot=400, seed=0, ci=0.90)
    lo99, hi99 = ag.bootstrap_alpha_ci(df, "nominal", n_boot=400, seed=0, ci=0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_bootstrap_item_resampling_path():
    # Almost every item has its own pattern, so the direct index-resampling branch runs.
    df = random_frame(9, n_items=200, n_annotators=6, values=tuple(range(60)), p_missing=0.0, p_noise=0.5)
    enc = ag._encode(df)
    assert len(ag._patterns(enc).freq) * 5 > enc.n_items
    ci = ag.bootstrap_alpha_ci(df, "nominal", n_boot=300, seed=3)
    assert ci == ag.bootstrap_alpha_ci(df, "nominal", n_boot=300, seed=3)
    assert ci[0] <= ag.krippendorff_alpha(df, "nominal") <= ci[1]


def test_bootstrap_spread_matches_naive_item_bootstrap():
    # Compare against a plain loop: resample item columns, recompute with the package.
    df = random_frame(13, n_items=120)
    matrix, *_ = ag.reliability_matrix(df)
    rng = np.random.default_rng(0)
    naive = [
        krippendorff.alpha(
            matrix[:, rng.integers(0, matrix.shape[1], matrix.shape[1])], level_of_measurement="ordinal"
        )
        for _ in range(400)
    ]
    fast = ag._bootstrap(ag._encode(df), "ordinal", 4000, seed=0)
    # Same sampling distribution: SDs agree within Monte Carlo error (deterministic seeds).
    assert np.std(fast) == pytest.approx(np.std(naive), rel=0.15)
    assert np.mean(fast) == pytest.approx(np.mean(naive), abs=0.02)


# --------------------------------------------------------------------------- 5. edge cases


@pytest.mark.parametrize("df", [pd.DataFrame(columns=COLUMNS), pd.DataFrame()], ids=["with-columns", "bare"])
def test_empty_frame(df):
    matrix, items, annotators, codes = ag.reliability_matrix(df)
    assert matrix.shape == (0, 0) and len(items) == len(annotators) == len(codes) == 0
    for level in ("nominal", "ordinal", "interval"):
        assert math.isnan(ag.krippendorff_alpha(df, level))
        assert all(math.isnan(x) for x in ag.bootstrap_alpha_ci(df, level))
    assert ag.fleiss_kappa(df) is None
    assert math.isnan(ag.percent_agreement(df))
    assert ag.per_item_agreement(df).empty
    kappa, n = ag.cohen_kappa_matrix(df)
    assert kappa.empty and n.empty
    assert ag.agreement_with_final(df, pd.Series(dtype=object)).empty
    summary = ag.field_summary(df)
    assert summary["n_annotations"] == 0 and summary["alpha"]["value"] is None
    json.dumps(summary, allow_nan=False)


def test_single_value_everywhere_alpha_undefined():
    df = pd.DataFrame([(i, a, "safe") for i in range(20) for a in range(3)], columns=COLUMNS)
    assert math.isnan(ag.krippendorff_alpha(df, "nominal"))
    assert all(math.isnan(x) for x in ag.bootstrap_alpha_ci(df, "nominal", n_boot=50))
    assert math.isnan(ag.fleiss_kappa(df))
    assert ag.percent_agreement(df) == 1.0
    kappa, n = ag.cohen_kappa_matrix(df, min_shared=1)
    assert np.isnan(kappa.to_numpy()).all() and (n.to_numpy() == 20).all()
    numeric = df.assign(value=3)
    for level in ("ordinal", "interval"):
        assert math.isnan(ag.krippendorff_alpha(numeric, level))
    summary = ag.field_summary(df)
    # Everyone agreeing on one value is not poor agreement: it is a case alpha cannot measure.
    assert summary["alpha"]["value"] is None and summary["alpha"]["band"] == "not_computable"
    assert summary["percent_agreement"]["value"] == 1.0
    json.dumps(summary, allow_nan=False)


def test_single_annotator():
    df = pd.DataFrame([(i, "solo", i % 3) for i in range(30)], columns=COLUMNS)
    matrix, *_ = ag.reliability_matrix(df)
    assert matrix.shape == (0, 0)  # no item has two ratings
    assert math.isnan(ag.krippendorff_alpha(df, "ordinal"))
    assert all(math.isnan(x) for x in ag.bootstrap_alpha_ci(df, "ordinal", n_boot=20))
    assert ag.fleiss_kappa(df) is None
    assert math.isnan(ag.percent_agreement(df))
    kappa, n = ag.cohen_kappa_matrix(df, min_shared=1)
    assert kappa.shape == (1, 1) and math.isnan(kappa.iloc[0, 0]) and n.iloc[0, 0] == 30
    out = ag.agreement_with_final(df, pd.Series({i: 0 for i in range(30)}))
    assert out.loc["solo"].tolist() == [30, 10, pytest.approx(1 / 3)]
    summary = ag.field_summary(df, "ordinal")
    assert summary["n_items"] == 30 and summary["n_items_pairable"] == 0


def test_na_rows_ignored_and_duplicates_rejected():
    df = frame_from_matrix(KRIPPENDORFF_2011)
    noisy = pd.concat([df, pd.DataFrame([("u00", "obs9", None), (None, "obs1", 3)], columns=COLUMNS)])
    assert ag.krippendorff_alpha(noisy, "nominal") == ag.krippendorff_alpha(df, "nominal")
    with pytest.raises(ValueError, match="more than once"):
        ag.krippendorff_alpha(pd.concat([df, df.iloc[:1]]), "nominal")
    with pytest.raises(KeyError):
        ag.krippendorff_alpha(df.rename(columns={"value": "label"}))


def test_invalid_level():
    df = frame_from_matrix(KRIPPENDORFF_2011)
    with pytest.raises(ValueError, match="level"):
        ag.krippendorff_alpha(df, "ratio")


def test_band_thresholds():
    assert ag.band(1.0) == ag.band(0.8) == "good"
    assert ag.band(0.7999) == ag.band(0.667) == "tentative"
    assert ag.band(0.6669) == ag.band(0.0) == ag.band(-0.3) == "poor"
    assert ag.band(float("nan")) == ag.band(None) == "not_computable"


def test_field_summary_figures_carry_their_n():
    df = frame_from_subject_rows(FLEISS_1971)
    summary = ag.field_summary(df, "nominal", n_boot=200, seed=0)
    json.dumps(summary, allow_nan=False)
    assert summary["n_annotations"] == 180 and summary["n_items"] == 30
    assert summary["alpha"]["value"] == pytest.approx(ag.krippendorff_alpha(df, "nominal"))
    assert summary["alpha"]["n_items"] == 30 and summary["alpha"]["n_annotations"] == 180
    assert summary["alpha"]["band"] == ag.band(summary["alpha"]["value"])
    assert summary["alpha_ci"]["lo"] <= summary["alpha"]["value"] <= summary["alpha_ci"]["hi"]
    assert (summary["alpha_ci"]["lo"], summary["alpha_ci"]["hi"]) == ag.bootstrap_alpha_ci(
        df, "nominal", n_boot=200, seed=0
    )
    assert summary["alpha_ci"]["n_boot"] == 200 and summary["alpha_ci"]["n_items"] == 30
    assert round(summary["fleiss_kappa"]["value"], 3) == 0.430
    assert summary["fleiss_kappa"]["raters_per_item"] == 6 and summary["fleiss_kappa"]["n_items"] == 30
    assert summary["percent_agreement"]["value"] == pytest.approx(ag.percent_agreement(df))
    assert summary["percent_agreement"]["n_pairs"] == 30 * 15
    for key in ("alpha", "alpha_ci", "fleiss_kappa", "percent_agreement"):
        assert "n_items" in summary[key]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_by_group_equals_alpha_of_each_group_and_the_package(seed, level):
    df = random_frame(seed, n_items=240)
    rng = np.random.default_rng(seed)
    items = df["item"].unique()
    groups = pd.Series(rng.choice(["w1", "w2", "w3", None], size=len(items)), index=items).dropna()
    out = ag.krippendorff_alpha_by_group(df, groups, level)
    assert list(out.index) == sorted(set(groups))
    for label, row in out.iterrows():
        part = df[df["item"].isin(groups[groups == label].index)]
        assert row["alpha"] == pytest.approx(ag.krippendorff_alpha(part, level), abs=1e-9)
        reference = krippendorff.alpha(reliability_data=reference_matrix(part), level_of_measurement=level)
        assert row["alpha"] == pytest.approx(reference, abs=1e-9)
        pairable = part.groupby("item").size()
        assert row["n_items"] == (pairable >= 2).sum()
        assert row["n_annotations"] == pairable[pairable >= 2].sum()


def test_alpha_by_group_undefined_and_empty_groups():
    df = pd.DataFrame({"item": [1, 1, 2, 2, 3], "annotator": ["a", "b", "a", "b", "a"], "value": [1, 1, 1, 2, 2]})
    out = ag.krippendorff_alpha_by_group(df, pd.Series({1: "same", 2: "split", 3: "alone"}), "nominal")
    assert math.isnan(out.loc["same", "alpha"])  # one value only: alpha is 0/0
    assert out.loc["split", "alpha"] == pytest.approx(ag.krippendorff_alpha(df[df["item"] == 2]), nan_ok=True)
    assert "alone" not in out.index  # item 3 has one annotation: it carries no agreement information
    empty = ag.krippendorff_alpha_by_group(df.iloc[:0], pd.Series(dtype=object), "nominal")
    assert len(empty) == 0 and list(empty.columns) == ["alpha", "n_items", "n_annotations"]
