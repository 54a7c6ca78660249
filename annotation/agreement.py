"""Inter-annotator agreement statistics on long annotation frames.

Every public function takes a DataFrame with columns ``item``, ``annotator`` and
``value``: one row per annotation, a missing annotation is simply an absent row.
Rows whose item, annotator or value is NA are ignored. An annotator rating the
same item twice is a data error and raises ``ValueError``.

Pure pandas/numpy/scipy on purpose: no Django, no ORM, so the maths can be tested
and benchmarked on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = [
    "ALPHA_GOOD",
    "ALPHA_TENTATIVE",
    "Band",
    "Level",
    "agreement_with_final",
    "band",
    "bootstrap_alpha_ci",
    "cohen_kappa_matrix",
    "field_summary",
    "fleiss_kappa",
    "krippendorff_alpha",
    "krippendorff_alpha_by_group",
    "per_item_agreement",
    "percent_agreement",
    "reliability_matrix",
]

Level = Literal["nominal", "ordinal", "interval"]
Band = Literal["good", "tentative", "poor", "not_computable"]

# Krippendorff (2004): rely on alpha >= .800, draw tentative conclusions from .667 up.
ALPHA_GOOD = 0.8
ALPHA_TENTATIVE = 0.667

_COLUMNS = ("item", "annotator", "value")
_LEVELS = ("nominal", "ordinal", "interval")
# Upper bound on floats held at once while aggregating bootstrap replicates.
_CHUNK_FLOATS = 4_000_000


@dataclass(frozen=True)
class _Encoded:
    item: np.ndarray  # per annotation: position in `items`
    annotator: np.ndarray  # per annotation: position in `annotators`
    value: np.ndarray  # per annotation: position in `domain`
    items: pd.Index
    annotators: pd.Index
    domain: pd.Index  # code -> original value, in natural order
    positions: np.ndarray | None  # code -> number, for interval distances; None if not numeric

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_values(self) -> int:
        return len(self.domain)


# --------------------------------------------------------------------------- encoding


def _clean(df: pd.DataFrame | None) -> pd.DataFrame:
    if df is None or len(df) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in _COLUMNS})
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise KeyError(f"annotation frame lacks column(s) {missing}")
    return df.loc[:, list(_COLUMNS)].dropna()


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed, unorderable ids: keep first-seen order
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.intp, copy=False), pd.Index(uniques)


def _as_numbers(uniques: np.ndarray, dtype: Any) -> np.ndarray | None:
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return np.asarray(uniques, dtype=float)
    # Labels such as "1".."10" stored as text must still sort 1 < 2 < 10.
    try:
        numbers = pd.to_numeric(pd.Series(uniques, dtype=object), errors="raise")
    except (ValueError, TypeError):
        return None
    numbers = np.asarray(numbers, dtype=float)
    return None if np.isnan(numbers).any() else numbers


def _encode_values(
    values: pd.Series, order: Sequence[Any] | None
) -> tuple[np.ndarray, pd.Index, np.ndarray | None]:
    if order is not None:
        domain = pd.Index(list(order))
        if domain.has_duplicates:
            raise ValueError("`order` contains duplicate values")
        codes = domain.get_indexer(values)
        if (codes < 0).any():
            unknown = sorted({str(v) for v in values[codes < 0]})
            raise ValueError(f"values not listed in `order`: {unknown[:10]}")
        numbers = _as_numbers(np.asarray(domain, dtype=object), domain.dtype)
        # Non-numeric ordered labels are treated as equally spaced for interval alpha.
        positions = numbers if numbers is not None else np.arange(len(domain), dtype=float)
        return codes.astype(np.intp, copy=False), domain, positions

    raw_codes, uniques = pd.factorize(values, sort=False)
    uniques = np.asarray(uniques, dtype=object)
    numbers = _as_numbers(uniques, values.dtype)
    if numbers is not None:
        perm = np.argsort(numbers, kind="stable")
    else:
        try:
            perm = np.asarray(sorted(range(len(uniques)), key=lambda i: uniques[i]), dtype=np.intp)
        except TypeError:  # mixed types: any stable order will do for nominal codes
            perm = np.asarray(sorted(range(len(uniques)), key=lambda i: str(uniques[i])), dtype=np.intp)
    rank = np.empty(len(perm), dtype=np.intp)
    rank[perm] = np.arange(len(perm))
    domain = pd.Index(uniques[perm].tolist())
    positions = numbers[perm] if numbers is not None else None
    return rank[raw_codes], domain, positions


def _encode(df: pd.DataFrame | None, order: Sequence[Any] | None = None, min_ratings: int = 2) -> _Encoded:
    clean = _clean(df)
    item, items = _factorize(clean["item"])
    annotator, annotators = _factorize(clean["annotator"])
    if len(item):
        # Sorting beats np.unique here (its hash path is ~20x slower on 300k int64 keys).
        key = np.sort(item.astype(np.int64) * max(len(annotators), 1) + annotator)
        if (key[1:] == key[:-1]).any():
            raise ValueError("an annotator rated the same item more than once")

    values = clean["value"]
    if min_ratings > 1 and len(item):
        keep_item = np.bincount(item, minlength=len(items)) >= min_ratings
        keep = keep_item[item]
        item = (np.cumsum(keep_item) - 1)[item[keep]]
        items = items[keep_item]
        annotator = annotator[keep]
        keep_annotator = np.bincount(annotator, minlength=len(annotators)) > 0
        annotator = (np.cumsum(keep_annotator) - 1)[annotator]
        annotators = annotators[keep_annotator]
        values = values[keep]

    code, domain, positions = _encode_values(values, order)
    return _Encoded(item, annotator, code, items, annotators, domain, positions)


def _value_counts(enc: _Encoded) -> sparse.csr_matrix:
    """items x values: how many annotators gave each value to each item."""
    counts = sparse.csr_matrix(
        (np.ones(len(enc.item), dtype=np.int64), (enc.item, enc.value)),
        shape=(enc.n_items, enc.n_values),
    )
    counts.sum_duplicates()
    counts.sort_indices()
    return counts


def reliability_matrix(
    df: pd.DataFrame, *, order: Sequence[Any] | None = None
) -> tuple[np.ndarray, pd.Index, pd.Index, pd.Index]:
    """Annotators x items matrix of value codes (float, NaN = not rated).

    Only items with at least two annotations are kept (the others carry no
    agreement information), and only annotators who rated one of them.
    Returns ``(matrix, item_index, annotator_index, value_codes)`` where
    ``value_codes[k]`` is the value coded ``k``. Codes follow the natural order:
    numeric (also numeric text like "10") sorts numerically, other values sort
    lexically, unless ``order`` gives the order explicitly.
    """
    enc = _encode(df, order)
    matrix = np.full((len(enc.annotators), enc.n_items), np.nan)
    matrix[enc.annotator, enc.item] = enc.value
    return matrix, enc.items, enc.annotators, enc.domain


# --------------------------------------------------------------------------- Krippendorff's alpha


def _check_level(level: str, enc: _Encoded) -> None:
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {_LEVELS}, got {level!r}")
    # Lexical order of free text ("high" < "low") is never a meaningful scale.
    if level != "nominal" and enc.positions is None:
        raise ValueError(f"{level} alpha needs numeric values or an explicit `order`")


@dataclass(frozen=True)
class _Patterns:
    counts: sparse.csr_matrix  # patterns x V: value counts of the pattern
    flat: sparse.csr_matrix  # patterns x V*V: coincidence contribution (c c^T - diag c) / (m - 1)
    freq: np.ndarray  # items having the pattern
    inverse: np.ndarray  # per item: its pattern

    @property
    def n_values(self) -> int:
        return self.counts.shape[1]


def _patterns(enc: _Encoded) -> _Patterns:
    """Collapse items into distinct value-count patterns.

    Alpha depends on the items only through the multiset of their value-count
    vectors, so items sharing a pattern are interchangeable; with a few
    annotators and a handful of values there are only dozens of patterns.
    """
    counts = _value_counts(enc)
    n_items, n_values = counts.shape
    if n_items == 0:
        return _Patterns(
            counts, sparse.csr_matrix((0, n_values * n_values)), np.zeros(0, np.int64), np.zeros(0, np.intp)
        )

    # Encode each item's row as its sequence of (value, count) tokens, padded with 0.
    per_row = np.diff(counts.indptr)
    width = int(per_row.max())
    tokens = counts.indices.astype(np.int64) * (int(counts.data.max()) + 1) + counts.data + 1
    slot = np.arange(len(tokens)) - np.repeat(counts.indptr[:-1], per_row)
    bits = int(tokens.max()).bit_length()
    if bits * width <= 62:  # pack into one int64 key: 1-D unique is far faster than axis=0
        # Every pairable item has >= 1 non-zero, so reduceat's segments are never empty.
        keys = np.add.reduceat(tokens << (bits * slot), counts.indptr[:-1])
        _, first, inverse, freq = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    else:
        padded = np.zeros((n_items, width), dtype=np.int64)
        padded[np.repeat(np.arange(n_items), per_row), slot] = tokens
        _, first, inverse, freq = np.unique(
            padded, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
    patterns = counts[first]

    # Every ordered pair of non-zeros within a pattern row -> one coincidence cell.
    nnz = np.diff(patterns.indptr)
    pairs = nnz * nnz
    pair_row = np.repeat(np.arange(len(first)), pairs)
    offset = np.arange(pairs.sum()) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    row_nnz = nnz[pair_row]
    base = patterns.indptr[:-1][pair_row]
    ia = base + offset // row_nnz
    ib = base + offset % row_nnz
    va, vb = patterns.indices[ia], patterns.indices[ib]
    ca, cb = patterns.data[ia].astype(float), patterns.data[ib].astype(float)
    m = np.asarray(patterns.sum(axis=1)).ravel().astype(float)
    contribution = (ca * cb - np.where(va == vb, ca, 0.0)) / (m[pair_row] - 1.0)
    flat = sparse.csr_matrix(
        (contribution, (pair_row, va * n_values + vb)), shape=(len(first), n_values * n_values)
    )
    return _Patterns(patterns.astype(float), flat, freq.astype(np.int64), inverse.reshape(-1))


def _finish_alpha(n: np.ndarray, observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    # alpha = 1 - D_o / D_e with D_o = sum(o * d) / n and D_e = sum(n_c n_k d) / (n (n - 1)).
    alpha = np.full(n.shape, np.nan)
    ok = expected > 0  # zero when all pairable values are identical: alpha is 0/0
    alpha[ok] = 1.0 - (n[ok] - 1.0) * observed[ok] / expected[ok]
    return alpha


def _alpha_from_coincidences(o: np.ndarray, level: str, positions: np.ndarray | None) -> np.ndarray:
    """Alpha for a stack of coincidence matrices ``o`` (R x V x V); NaN where undefined."""
    r, v, _ = o.shape
    n_v = o.sum(axis=2)
    if level == "ordinal":
        # Ordinal distance (sum_{g=c..k} n_g - (n_c + n_k)/2)^2 is the squared gap between
        # the mid-ranks cum_c - n_c/2, so ordinal = interval on mid-ranks (which vary per replicate).
        x = np.cumsum(n_v, axis=1) - n_v / 2.0
        d = (x[:, :, None] - x[:, None, :]) ** 2
    else:
        d = np.broadcast_to(_fixed_distances(level, positions, v), (r, v, v))
    observed = np.einsum("rck,rck->r", o, d)
    expected = np.einsum("rc,rk,rck->r", n_v, n_v, d)
    return _finish_alpha(n_v.sum(axis=1), observed, expected)


def _fixed_distances(level: str, positions: np.ndarray | None, v: int) -> np.ndarray:
    if level == "nominal":
        return 1.0 - np.eye(v)
    x = np.asarray(positions, dtype=float)
    return (x[:, None] - x[None, :]) ** 2


def _alpha_for(p: _Patterns, level: str, positions: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
    """Function mapping pattern weights (R x patterns) to R alphas."""
    v = p.n_values
    if level == "ordinal":

        def ordinal(weights: np.ndarray) -> np.ndarray:
            o = np.asarray(p.flat.T @ weights.T).T.reshape(-1, v, v)
            return _alpha_from_coincidences(o, level, positions)

        return ordinal

    # With a fixed distance matrix each pattern's observed disagreement is one number,
    # so replicates never materialise a V x V coincidence matrix.
    d = _fixed_distances(level, positions, v)
    pattern_observed = np.asarray(p.flat @ d.ravel()).ravel()

    def fixed(weights: np.ndarray) -> np.ndarray:
        n_v = np.asarray(p.counts.T @ weights.T).T
        expected = ((n_v @ d) * n_v).sum(axis=1)
        return _finish_alpha(n_v.sum(axis=1), weights @ pattern_observed, expected)

    return fixed


def _alpha(enc: _Encoded, level: str) -> float:
    p = _patterns(enc)
    if len(p.freq) == 0 or enc.n_values < 2:
        return math.nan
    return float(_alpha_for(p, level, enc.positions)(p.freq[None, :].astype(float))[0])


def krippendorff_alpha(
    df: pd.DataFrame, level: Level = "nominal", *, order: Sequence[Any] | None = None
) -> float:
    """Krippendorff's alpha over items with >= 2 annotations.

    ``ordinal`` uses the natural order of the values (severity 1..5; numeric text
    sorts numerically) or ``order``; ``interval`` uses the numeric values.
    Returns NaN when alpha is undefined: no item with two annotations, or every
    pairable annotation has the same value (expected disagreement is zero).
    Matches ``krippendorff.alpha`` (cross-checked in the tests).
    """
    enc = _encode(df, order)
    _check_level(level, enc)
    return _alpha(enc, level)


def _bootstrap(enc: _Encoded, level: str, n_boot: int, seed: int) -> np.ndarray:
    p = _patterns(enc)
    n_items, n_patterns, v = int(p.freq.sum()), len(p.freq), enc.n_values
    if n_items == 0 or v < 2 or n_boot < 1:
        return np.full(max(n_boot, 0), np.nan)
    alpha_of = _alpha_for(p, level, enc.positions)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    width = max(v * v if level == "ordinal" else v, n_patterns)
    chunk = max(1, _CHUNK_FLOATS // width)
    if n_patterns * 5 <= n_items:
        # Drawing N items with replacement and counting patterns is exactly a
        # Multinomial(N, freq/N) draw over patterns: O(patterns) per replicate, not O(items).
        weights = rng.multinomial(n_items, p.freq / n_items, size=n_boot).astype(float)
        for start in range(0, n_boot, chunk):
            out[start : start + chunk] = alpha_of(weights[start : start + chunk])
        return out
    # Almost every item is its own pattern: resample item indices directly.
    chunk = max(1, min(chunk, _CHUNK_FLOATS // n_items))
    for start in range(0, n_boot, chunk):
        r = min(chunk, n_boot - start)
        picked = p.inverse[rng.integers(0, n_items, size=(r, n_items), dtype=np.int64)]
        picked += n_patterns * np.arange(r)[:, None]
        weights = np.bincount(picked.ravel(), minlength=r * n_patterns).reshape(r, n_patterns)
        out[start : start + r] = alpha_of(weights.astype(float))
    return out


def _percentile_ci(replicates: np.ndarray, ci: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(finite, [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0])
    return float(lo), float(hi)


def bootstrap_alpha_ci(
    df: pd.DataFrame,
    level: Level = "nominal",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    *,
    order: Sequence[Any] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI for Krippendorff's alpha, resampling ITEMS.

    Method: each replicate draws as many items as there are pairable items,
    with replacement, and recomputes alpha (including, for ordinal, the
    mid-ranks from the replicate's own value frequencies). Resampling whole
    items keeps an item's annotations together, unlike Krippendorff's own
    bootstrap over pairable values. For speed, items are collapsed into
    distinct value-count patterns, each with its coincidence contribution
    computed once; a replicate is then a multinomial count vector over
    patterns, and its coincidence matrix is one matrix product. Cost is
    O(n_boot x patterns); if nearly every item is a distinct pattern (many
    values), item indices are resampled directly, O(n_boot x items).

    Replicates where alpha is undefined (a single value drawn) are dropped;
    returns ``(nan, nan)`` when alpha itself is undefined. Deterministic for a
    given ``seed``.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError("ci must be in (0, 1)")
    enc = _encode(df, order)
    _check_level(level, enc)
    return _percentile_ci(_bootstrap(enc, level, n_boot, seed), ci)


# --------------------------------------------------------------------------- kappas and raw agreement


def _fleiss(enc: _Encoded) -> tuple[float | None, int | None]:
    counts = _value_counts(enc)
    if counts.shape[0] == 0:
        return None, None
    raters = np.asarray(counts.sum(axis=1)).ravel()
    if (raters != raters[0]).any():
        return None, None
    m, n = int(raters[0]), counts.shape[0]
    p_item = (np.asarray(counts.multiply(counts).sum(axis=1)).ravel() - m) / (m * (m - 1))
    p_value = np.asarray(counts.sum(axis=0)).ravel() / (n * m)
    p_chance = float((p_value**2).sum())
    if p_chance >= 1.0:  # one category used by everyone: kappa is 0/0
        return math.nan, m
    return float((p_item.mean() - p_chance) / (1.0 - p_chance)), m


def fleiss_kappa(df: pd.DataFrame) -> float | None:
    """Fleiss' kappa (values as nominal categories) over items with >= 2 annotations.

    Defined only when every such item has the same number of annotations;
    returns None otherwise (and for no such items), NaN when everyone used a
    single category. Matches ``statsmodels.stats.inter_rater.fleiss_kappa``.
    """
    return _fleiss(_encode(df))[0]


def _per_item(enc: _Encoded) -> np.ndarray:
    counts = _value_counts(enc)
    m = np.asarray(counts.sum(axis=1)).ravel().astype(float)
    same = np.asarray(counts.multiply(counts).sum(axis=1)).ravel() - m
    return same / (m * (m - 1.0))


def per_item_agreement(df: pd.DataFrame) -> pd.Series:
    """Per item with >= 2 annotations: share of annotator pairs giving the same value.

    ``sum_v n_v (n_v - 1) / (m (m - 1))`` with ``m`` annotations on the item,
    in [0, 1]; indexed by item.
    """
    enc = _encode(df)
    return pd.Series(_per_item(enc), index=enc.items.rename("item"), name="agreement", dtype=float)


def percent_agreement(df: pd.DataFrame) -> float:
    """Mean pairwise agreement: average over items with >= 2 annotations of the
    share of that item's annotator pairs that agree (each item weighs the same,
    whatever its number of annotators). NaN when there is no such item.
    """
    per_item = _per_item(_encode(df))
    return float(per_item.mean()) if per_item.size else math.nan


def cohen_kappa_matrix(df: pd.DataFrame, min_shared: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise (unweighted) Cohen's kappa between annotators on their shared items.

    Returns ``(kappa, n)``: annotator x annotator frames. ``n`` holds the number
    of shared items (diagonal: items the annotator rated). ``kappa`` is NaN on
    the diagonal, where ``n < min_shared``, and where kappa is undefined (both
    gave one and the same value on every shared item). Each pair's chance
    agreement uses that pair's own marginals on its shared items, i.e. exactly
    ``statsmodels.stats.inter_rater.cohens_kappa`` on the pair's contingency table.
    """
    enc = _encode(df, min_ratings=1)
    names = enc.annotators.rename("annotator")
    a, v, n_items = len(names), enc.n_values, enc.n_items
    if a == 0:
        empty = pd.DataFrame(index=names, columns=names, dtype=float)
        return empty, empty.astype(np.int64)
    ones = np.ones(len(enc.item))
    rated = sparse.csr_matrix((ones, (enc.item, enc.annotator)), shape=(n_items, a))
    shared = (rated.T @ rated).toarray()
    # Rows (item, value) x annotators: co-occurrence counts identical labels.
    by_label = sparse.csr_matrix((ones, (enc.item * v + enc.value, enc.annotator)), shape=(n_items * v, a))
    agree = (by_label.T @ by_label).toarray()
    # margin[x, c, y]: shared items of x and y on which x said c.
    said = sparse.csr_matrix((ones, (enc.item, enc.annotator * v + enc.value)), shape=(n_items, a * v))
    margin = (said.T @ rated).toarray().reshape(a, v, a)
    chance = np.einsum("xcy,ycx->xy", margin, margin)
    valid = (shared >= max(min_shared, 1)) & (chance < shared * shared) & ~np.eye(a, dtype=bool)
    kappa = np.full((a, a), np.nan)
    n2 = shared[valid] ** 2
    kappa[valid] = (agree[valid] * shared[valid] - chance[valid]) / (n2 - chance[valid])
    return (
        pd.DataFrame(kappa, index=names, columns=names),
        pd.DataFrame(np.rint(shared).astype(np.int64), index=names, columns=names),
    )


def agreement_with_final(df: pd.DataFrame, final: pd.Series) -> pd.DataFrame:
    """Per annotator: items rated that have a final label (``n``), how many equal it
    (``n_agree``) and ``share`` = n_agree / n (NaN when n = 0). ``final`` is
    indexed by item; NA finals are ignored.
    """
    enc = _encode(df, min_ratings=1)
    final = final.dropna()
    if final.index.has_duplicates:
        raise ValueError("`final` has more than one label for an item")
    final_code = np.full(enc.n_items, -2, dtype=np.intp)  # -2: no final label
    aligned = final.reindex(enc.items)
    has_final = aligned.notna().to_numpy()
    if has_final.any():
        final_code[has_final] = enc.domain.get_indexer(pd.Index(aligned[has_final].tolist()))
    judged = final_code[enc.item] != -2
    equal = final_code[enc.item] == enc.value
    a = len(enc.annotators)
    n = np.bincount(enc.annotator[judged], minlength=a)
    k = np.bincount(enc.annotator[equal], minlength=a)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"n": n, "n_agree": k, "share": share}, index=enc.annotators.rename("annotator"))


# --------------------------------------------------------------------------- reporting


def band(alpha: float | None) -> Band:
    """'good' (>= 0.8), 'tentative' (>= 0.667) or 'poor'; 'not_computable' where alpha is undefined.

    An undefined alpha (no pairable item, or one single value used throughout) is not evidence of poor
    agreement: the page says it cannot be computed, and the CSV and the API say the same.
    """
    if alpha is None or not math.isfinite(alpha):
        return "not_computable"
    if alpha >= ALPHA_GOOD:
        return "good"
    if alpha >= ALPHA_TENTATIVE:
        return "tentative"
    return "poor"


def _json_float(x: float | None) -> float | None:
    # NaN is not valid JSON; the summary is meant to be stored/served as JSON.
    return None if x is None or not math.isfinite(x) else float(x)


def field_summary(
    df: pd.DataFrame,
    level: Level = "nominal",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    order: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Agreement figures for one annotated field, each with the n it rests on.

    Undefined figures are None (JSON-friendly). Fleiss' kappa treats values as
    nominal and is None unless every pairable item has the same number of
    annotations.
    """
    clean = _clean(df)
    enc = _encode(clean, order)
    _check_level(level, enc)
    alpha = _alpha(enc, level)
    lo, hi = _percentile_ci(_bootstrap(enc, level, n_boot, seed), ci)
    kappa, raters = _fleiss(enc)
    per_item = _per_item(enc)
    m = np.bincount(enc.item, minlength=enc.n_items)
    return {
        "level": level,
        "n_annotations": int(len(clean)),
        "n_items": int(clean["item"].nunique()),
        "n_annotators": int(clean["annotator"].nunique()),
        "n_items_pairable": enc.n_items,
        "n_annotations_pairable": int(len(enc.item)),
        "alpha": {
            "value": _json_float(alpha),
            "band": band(alpha),
            "n_items": enc.n_items,
            "n_annotations": int(len(enc.item)),
        },
        "alpha_ci": {
            "lo": _json_float(lo),
            "hi": _json_float(hi),
            "ci": ci,
            "n_boot": n_boot,
            "seed": seed,
            "n_items": enc.n_items,
        },
        "fleiss_kappa": {
            "value": _json_float(kappa),
            "n_items": enc.n_items if raters is not None else 0,
            "raters_per_item": raters,
        },
        "percent_agreement": {
            "value": _json_float(float(per_item.mean()) if per_item.size else None),
            "n_items": enc.n_items,
            "n_pairs": int((m * (m - 1) // 2).sum()),
        },
    }


def krippendorff_alpha_by_group(
    df: pd.DataFrame, groups: pd.Series, level: Level = "nominal", *, order: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Krippendorff's alpha for each group of items (e.g. the week an item was completed), in one pass.

    ``groups`` maps item -> group label; items it does not label are left out. Each group's alpha
    equals ``krippendorff_alpha`` on that group's rows alone (values unused in a group add nothing to
    its coincidences, and ordinal mid-ranks come from the group's own frequencies). Returns a frame
    indexed by group label (sorted) with ``alpha`` (NaN where undefined), ``n_items`` (pairable items)
    and ``n_annotations`` (their annotations).
    """
    enc = _encode(df, order)
    _check_level(level, enc)
    labels = pd.Series(groups).reindex(enc.items)
    known = labels.notna().to_numpy()
    codes, uniques = _factorize(labels[known])
    group = np.full(enc.n_items, -1, dtype=np.intp)
    group[known] = codes
    r, v = len(uniques), enc.n_values
    counts = _value_counts(enc).toarray().astype(float)[known]  # items x values; few values, so dense
    m = counts.sum(axis=1)
    weighted = counts / np.maximum(m - 1.0, 1.0)[:, None]  # rows c / (m - 1)
    g = group[known]
    # Per group: sum over its items of (c c^T - diag c) / (m - 1), one cell at a time with bincount,
    # which never materialises an items x V x V array.
    o = np.zeros((r, v, v))
    for a in range(v):
        for b in range(v):
            o[:, a, b] = np.bincount(g, weights=counts[:, a] * weighted[:, b], minlength=r)
        o[:, a, a] -= np.bincount(g, weights=weighted[:, a], minlength=r)
    alpha = _alpha_from_coincidences(o, level, enc.positions) if r else np.zeros(0)
    per_item = np.bincount(group[known], minlength=r) if r else np.zeros(0, np.int64)
    item_group = group[enc.item]
    per_annotation = np.bincount(item_group[item_group >= 0], minlength=r) if r else np.zeros(0, np.int64)
    return pd.DataFrame(
        {"alpha": alpha, "n_items": per_item.astype(np.int64), "n_annotations": per_annotation.astype(np.int64)},
        index=pd.Index(uniques, name="group"),
    )
