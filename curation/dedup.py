"""Exact and near-duplicate detection for prompts.

Exact duplicates share ``text_hash`` (sha256 of ``normalize(text)``). Near
duplicates are found with MinHash over character n-gram shingles of the
normalized text plus LSH banding, then confirmed by the estimated Jaccard
similarity of the two signatures.

Signatures are datasketch's ``affine32`` MinHash (``MinHash(num_perm, seed,
scheme="affine32", hashfunc=shingle_hash32)`` gives bit-identical values, and
``MinHasher.minhash`` hands out real ``LeanMinHash`` objects), but computed
for whole batches in numpy: building MinHash objects one shingle list at a
time costs ~50 us per prompt, far too slow for a million-prompt pool.

The LSH index is the MinHashLSH banding scheme (same b bands of r rows, same
candidate rule: equal in at least one band) stored as one sorted uint64 array
per band instead of MinHashLSH's dicts of bytes. Measured on 100k items,
MinHashLSH took ~11 s and ~0.6 GB to insert; the sorted arrays take well under
a second and 12 bytes per item per band, pickle as a few flat arrays, and are
queried for a whole batch with ``np.searchsorted`` (O(log n), so checking new
candidates stays nearly flat as the pool grows).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .text import normalize, normalize_many

if TYPE_CHECKING:
    from datasketch import LeanMinHash

__all__ = [
    "DedupResult",
    "MinHasher",
    "NearDupIndex",
    "estimate_jaccard",
    "jaccard",
    "lsh_params",
    "shingle_hash32",
    "shingle_text",
    "shingles",
]

_MASK64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_U32_MAX = np.uint32(0xFFFFFFFF)
# Shingles per permutation block: (num_perm x 8192) uint32 = 4 MB stays in
# cache; much larger blocks were measurably slower.
_BLOCK_SHINGLES = 8192
# Buckets longer than this are binary-searched rather than scanned.
_SCAN_LIMIT = 32
# Documents per job: bounds the temporary code-point arrays and is the unit
# of work handed to threads.
_DOC_CHUNK = 8192


# ---------------------------------------------------------------- shingling

_DIGIT_RUN = re.compile(r"\d+")


def shingle_text(normalized: str) -> str:
    """The text that is shingled: every run of digits becomes one "0".

    Prompts that differ only in a number (a templated "第3个场景" / "第12个场景", an
    amount, a year) are near duplicates for a benchmark. The exact hash still uses the
    full normalized text, so they are never exact duplicates of each other.
    """
    return _DIGIT_RUN.sub("0", normalized)


def shingles(normalized: str, n: int = 3) -> list[str]:
    """Character n-grams of an already-normalized text (digit runs folded, see ``shingle_text``).

    Texts shorter than ``n`` become one shingle (the whole text) so that
    short prompts still get a signature; the empty text has none.
    """
    if not normalized:
        return []
    normalized = shingle_text(normalized)
    k = min(n, len(normalized))
    return [normalized[i : i + k] for i in range(len(normalized) - k + 1)]


def shingle_hash32(shingle: str) -> int:
    """32-bit hash of one shingle: FNV-1a over code points, folded to 32 bits.

    Pure-Python twin of the vectorised hashing in ``MinHasher``; pass it as
    ``hashfunc`` to a datasketch ``MinHash`` to reproduce our signatures.
    """
    h = _FNV_OFFSET
    for ch in shingle:
        h = ((h ^ ord(ch)) * _FNV_PRIME) & _MASK64
    return (h ^ (h >> 32)) & 0xFFFFFFFF


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3 finalizer, as datasketch's affine32 scheme pre-mixes input.
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def jaccard(a: str, b: str, n: int = 3) -> float:
    """Exact Jaccard similarity of the shingle sets of two normalized texts."""
    sa, sb = set(shingles(a, n)), set(shingles(b, n))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


# ------------------------------------------------------------------ minhash


class MinHasher:
    """Batch MinHash signatures (datasketch affine32 scheme) for normalized texts."""

    def __init__(self, num_perm: int = 128, seed: int = 1, ngram: int = 3) -> None:
        if num_perm < 2:
            raise ValueError("num_perm must be >= 2")
        if ngram < 1:
            raise ValueError("ngram must be >= 1")
        self.num_perm = num_perm
        self.seed = seed
        self.ngram = ngram
        # Borrow datasketch's permutation draw so signatures are
        # interchangeable with its MinHash/LeanMinHash for the same seed.
        # Imported here: the package pulls in scipy (~0.7 s), which every
        # Django process importing this module would otherwise pay.
        from datasketch import MinHash

        a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        self._a = np.ascontiguousarray(a, dtype=np.uint32)[:, None]
        self._b = np.ascontiguousarray(b, dtype=np.uint32)[:, None]

    def signatures(
        self, normalized: Sequence[str], *, workers: int | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """(len(normalized), num_perm) uint32 signatures; empty text -> all 0xFFFFFFFF.

        Large inputs are split over ``workers`` threads (default: CPU count,
        at most 4); numpy releases the GIL in the heavy loops, so two cores
        nearly halve an index build. ``out`` lets the index write straight
        into its own storage instead of holding a second 0.5 GB copy at 1M.
        """
        if out is None:
            out = np.empty((len(normalized), self.num_perm), dtype=np.uint32)
        elif out.shape != (len(normalized), self.num_perm) or out.dtype != np.uint32:
            raise ValueError("out must be a uint32 array of shape (len(normalized), num_perm)")
        out.fill(_U32_MAX)
        normalized = [shingle_text(s) if s else s for s in normalized]
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(normalized):
            if s:
                groups.setdefault(min(self.ngram, len(s)), []).append(i)
        jobs = [
            (k, idx[start : start + _DOC_CHUNK])
            for k, idx in groups.items()
            for start in range(0, len(idx), _DOC_CHUNK)
        ]

        def run(job: tuple[int, list[int]]) -> None:
            k, rows = job
            out[rows] = self._signatures_k([normalized[i] for i in rows], k)

        workers = workers or min(4, os.cpu_count() or 1)
        if workers > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(run, jobs))  # rows are disjoint, so threads never write the same cells
        else:
            for job in jobs:
                run(job)
        return out

    def _signatures_k(self, docs: list[str], k: int) -> np.ndarray:
        """Signatures of docs that all have at least ``k`` chars, using k-grams."""
        lens = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        cp = np.frombuffer("".join(docs).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        # Hash every window of the concatenation, then keep only the windows
        # lying inside one doc: cheaper than slicing doc by doc in Python.
        n_win = len(cp) - k + 1
        h = np.full(n_win, _FNV_OFFSET, dtype=np.uint64)
        for j in range(k):
            h ^= cp[j : j + n_win]
            h *= np.uint64(_FNV_PRIME)
        h ^= h >> np.uint64(32)
        h32 = h.astype(np.uint32)
        n_sh = lens - k + 1
        seg = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(n_sh, out=seg[1:])
        doc_start = np.zeros(len(docs), dtype=np.int64)
        np.cumsum(lens[:-1], out=doc_start[1:])
        valid = np.arange(seg[-1], dtype=np.int64) + np.repeat(doc_start - seg[:-1], n_sh)
        hv = _fmix32(h32[valid])

        a, b = self._a, self._b
        out = np.empty((len(docs), self.num_perm), dtype=np.uint32)
        d, n_docs = 0, len(docs)
        while d < n_docs:
            e = int(np.searchsorted(seg, seg[d] + _BLOCK_SHINGLES, side="right")) - 1
            e = min(max(e, d + 1), n_docs)
            s0, s1 = seg[d], seg[e]
            # (num_perm, shingles) layout: reduceat along the contiguous axis
            # is ~3x faster than along axis 0. uint32 wraparound is the
            # affine32 "mod 2^32".
            ph = a * hv[s0:s1]
            ph += b
            out[d:e] = np.minimum.reduceat(ph, seg[d:e] - s0, axis=1).T
            d = e
        return out

    def minhash(self, normalized: str) -> LeanMinHash:
        """A datasketch LeanMinHash of one normalized text (for interop/debugging)."""
        from datasketch import LeanMinHash

        return LeanMinHash(seed=self.seed, hashvalues=self.signatures([normalized])[0], scheme="affine32")


def estimate_jaccard(a: str, b: str, *, normalized: bool = False, hasher: MinHasher | None = None) -> float:
    """MinHash estimate of the shingle Jaccard similarity of two texts."""
    hasher = hasher or MinHasher()
    if not normalized:
        a, b = normalize(a), normalize(b)
    sa, sb = hasher.signatures([a, b])
    return float(np.count_nonzero(sa == sb)) / hasher.num_perm


def lsh_params(threshold: float, num_perm: int, recall: float = 0.98) -> tuple[int, int]:
    """(bands, rows) with the most rows per band that still catches a pair of
    Jaccard == ``threshold`` with probability >= ``recall``.

    datasketch's default weighting picks (9, 13) for 0.8/128, which finds a
    0.8-similar pair only ~40% of the time. For dedup a missed twin is the
    costly error while an extra candidate only costs a signature comparison,
    so we bias hard towards recall.
    """
    if not 0 < threshold < 1:
        raise ValueError("threshold must be in (0, 1)")
    best = (num_perm // 2, 2)
    for r in range(2, num_perm // 2 + 1):
        b = num_perm // r
        if 1 - (1 - threshold**r) ** b >= recall:
            best = (b, r)
    return best


# -------------------------------------------------------------------- index


@dataclass(frozen=True, slots=True)
class DedupResult:
    """Verdict for one candidate text.

    ``twin_key`` names the pool item (or the caller's known hash) it
    duplicates; ``twin_batch_index`` instead points at an earlier text of the
    same batch. ``similarity`` is the estimated Jaccard (1.0 for exact).
    """

    status: Literal["new", "exact", "near"]
    normalized_hash: str
    twin_key: Any = None
    twin_batch_index: int | None = None
    similarity: float | None = None

    @property
    def is_duplicate(self) -> bool:
        return self.status != "new"


Match = tuple[int, float, bool]  # (position, estimated jaccard, exact)

_FORMAT_VERSION = 2  # 2: digit runs folded before shingling


class NearDupIndex:
    """MinHash-LSH index of (key, text) pairs for exact + near-duplicate checks.

    ``add``/``add_many`` take raw text (normalized here) or, with
    ``normalized=True``, text already passed through ``normalize``. Picklable;
    ``save``/``load`` wrap pickle for caching between runs.
    """

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        ngram: int = 3,
        seed: int = 1,
        bands: tuple[int, int] | None = None,
    ) -> None:
        self.threshold = float(threshold)
        self.hasher = MinHasher(num_perm=num_perm, seed=seed, ngram=ngram)
        self.b, self.r = bands or lsh_params(self.threshold, num_perm)
        if self.b * self.r > num_perm or self.b < 1 or self.r < 1:
            raise ValueError(f"bands {self.b}x{self.r} do not fit num_perm={num_perm}")
        self._keys: list[Hashable] = []
        self._pos_of: dict[Hashable, int] = {}
        self._n = 0
        self._sigs = np.empty((0, num_perm), dtype=np.uint32)
        self._digests = np.empty((0, 32), dtype=np.uint8)
        self._alive = np.empty(0, dtype=bool)
        self._empty: list[int] = []  # positions whose normalized text is ""
        # Sorted band index over positions [0, _indexed); later positions
        # live in small per-band dicts until the next merge.
        self._band_keys = np.empty((self.b, 0), dtype=np.uint64)
        self._band_pos = np.empty((self.b, 0), dtype=np.int32)
        self._bucket_starts = np.zeros((self.b, 2), dtype=np.int64)
        self._bucket_shift = 63
        self._indexed = 0
        self._pending: list[dict[int, list[int]]] = [{} for _ in range(self.b)]

    # -- construction ---------------------------------------------------

    @classmethod
    def build(
        cls, pairs: Iterable[tuple[Hashable, str]], *, normalized: bool = True, **params: Any
    ) -> NearDupIndex:
        """An index over ``pairs`` in one vectorised pass (default: texts already normalized)."""
        index = cls(**params)
        index.add_many(pairs, normalized=normalized)
        return index

    def __len__(self) -> int:
        return len(self._pos_of)

    def __contains__(self, key: object) -> bool:
        return key in self._pos_of

    @property
    def num_perm(self) -> int:
        return self.hasher.num_perm

    def add(self, key: Hashable, text: str, *, normalized: bool = False) -> None:
        self.add_many([(key, text)], normalized=normalized)

    def add_many(self, pairs: Iterable[tuple[Hashable, str]], *, normalized: bool = False) -> None:
        """Add items; re-adding an existing key replaces its text."""
        pairs = list(pairs)
        if not pairs:
            return
        keys = [k for k, _ in pairs]
        texts = [t for _, t in pairs]
        norms = texts if normalized else normalize_many(texts)
        # A key repeated inside this call: the last text wins, as with add().
        last: dict[Hashable, int] = {}
        for i, key in enumerate(keys):
            last[key] = i
        if len(last) != len(keys):
            order = sorted(last.values())
            keys = [keys[i] for i in order]
            norms = [norms[i] for i in order]
        for key in keys:
            if key in self._pos_of:
                self.remove(key)

        start = self._n
        end = start + len(keys)
        self._reserve(end)
        sigs = self.hasher.signatures(norms, out=self._sigs[start:end])
        self._digests[start:end] = np.frombuffer(
            b"".join(hashlib.sha256(s.encode("utf-8")).digest() for s in norms), dtype=np.uint8
        ).reshape(-1, 32)
        self._alive[start:end] = True
        for offset, (key, s) in enumerate(zip(keys, norms, strict=True)):
            self._keys.append(key)
            self._pos_of[key] = start + offset
            if not s:
                self._empty.append(start + offset)
        self._n = end

        pending = self._n - self._indexed
        if pending >= max(1024, self._indexed // 32):
            self._merge_pending()
        else:
            for offset, row in enumerate(self._band_hashes(sigs).tolist()):
                if norms[offset]:
                    for table, value in zip(self._pending, row, strict=True):
                        table.setdefault(value, []).append(start + offset)

    def digest_of(self, key: Hashable) -> str | None:
        """text_hash (sha256 hex of the normalized text) stored for ``key``, or None if absent."""
        pos = self._pos_of.get(key)
        return None if pos is None else bytes(self._digests[pos]).hex()

    def remove(self, key: Hashable) -> None:
        """Forget ``key`` (KeyError if absent). Its slot is skipped until ``compact``."""
        pos = self._pos_of.pop(key)
        self._alive[pos] = False

    def _reserve(self, size: int) -> None:
        cap = len(self._alive)
        if size <= cap:
            return
        # 1.5x growth: doubling a 1M-item index would briefly hold 1.5 GB of signatures.
        new_cap = max(size, cap + cap // 2, 1024)
        for name in ("_sigs", "_digests", "_alive"):
            old = getattr(self, name)
            new = np.zeros((new_cap, *old.shape[1:]), dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def _band_hashes(self, sigs: np.ndarray) -> np.ndarray:
        """(N, b) uint64: each band's r signature values hashed to one word.

        A 64-bit band hash can collide where MinHashLSH compares raw bytes,
        but only by adding a candidate (p ~ 2^-64), which the signature
        comparison then rejects.
        """
        v = sigs[:, : self.b * self.r].reshape(len(sigs), self.b, self.r)
        # Salting with the band number keeps equal values in different bands apart.
        h = np.full((len(sigs), self.b), _FNV_OFFSET, dtype=np.uint64) ^ np.arange(self.b, dtype=np.uint64)
        for col in range(self.r):
            h ^= v[:, :, col]
            h *= np.uint64(_FNV_PRIME)
        return _fmix64(h)

    def _merge_pending(self) -> None:
        if self._indexed == self._n:
            return
        new_pos = np.arange(self._indexed, self._n, dtype=np.int64)
        new_empty = [p for p in self._empty if p >= self._indexed]
        if new_empty:  # no shingles, no bands: they are matched by digest
            new_pos = new_pos[~np.isin(new_pos, new_empty)]
        bh = self._band_hashes(self._sigs[new_pos])
        keys = np.concatenate([self._band_keys, bh.T], axis=1)
        pos = np.concatenate(
            [self._band_pos, np.broadcast_to(new_pos.astype(np.int32), (self.b, len(new_pos)))], axis=1
        )
        # Two sorted runs: the stable sort (timsort for uint64) merges them in ~linear time.
        order = np.argsort(keys, axis=1, kind="stable")
        self._band_keys = np.take_along_axis(keys, order, axis=1)
        self._band_pos = np.take_along_axis(pos, order, axis=1)
        self._build_buckets()
        self._indexed = self._n
        self._pending = [{} for _ in range(self.b)]

    def _build_buckets(self) -> None:
        """Bucket directory over each sorted band: top-k bits of the hash -> slice.

        Band hashes are uniform, so with ~4 entries per bucket a lookup is one
        directory read plus a short contiguous scan. Plain binary search over
        a 1M-entry band cost ~7x more than over 100k (cache misses on every
        probe), which broke the "flat query cost" goal.
        """
        m = self._band_keys.shape[1]
        bits = max(1, (m // 4).bit_length())
        self._bucket_shift = 64 - bits
        bounds = np.arange(1 << bits, dtype=np.uint64) << np.uint64(self._bucket_shift)
        starts = np.empty((self.b, (1 << bits) + 1), dtype=np.int64)
        for band in range(self.b):
            starts[band, :-1] = np.searchsorted(self._band_keys[band], bounds, side="left")
        starts[:, -1] = m
        self._bucket_starts = starts

    def compact(self) -> None:
        """Drop removed items' slots and rebuild the band index (positions change)."""
        self._merge_pending()
        keep = np.flatnonzero(self._alive[: self._n])
        if len(keep) == self._n:
            return
        remap = np.full(self._n, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        self._sigs = self._sigs[keep].copy()
        self._digests = self._digests[keep].copy()
        self._alive = np.ones(len(keep), dtype=bool)
        self._keys = [self._keys[i] for i in keep]
        self._pos_of = {k: i for i, k in enumerate(self._keys)}
        self._empty = [int(remap[p]) for p in self._empty if remap[p] >= 0]
        self._n = len(keep)
        self._band_keys = np.empty((self.b, 0), dtype=np.uint64)
        self._band_pos = np.empty((self.b, 0), dtype=np.int32)
        self._indexed = 0
        self._merge_pending()

    # -- lookup ------------------------------------------------------------

    def _candidates(self, bh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query_row, position) pairs that share at least one band, deduplicated."""
        qs: list[np.ndarray] = []
        ps: list[np.ndarray] = []
        if self._band_keys.shape[1]:
            shift = np.uint64(self._bucket_shift)
            for band in range(self.b):
                keys = self._band_keys[band]
                needles = bh[:, band]
                bucket = (needles >> shift).astype(np.int64)
                lo = self._bucket_starts[band, bucket]
                hi = self._bucket_starts[band, bucket + 1]
                size = hi - lo
                # A crowded bucket means many pool items share this band
                # value (a family of near-identical prompts): binary-search
                # those few slices instead of scanning them step by step.
                for row in np.flatnonzero(size > _SCAN_LIMIT):
                    a = lo[row] + int(np.searchsorted(keys[lo[row] : hi[row]], needles[row], side="left"))
                    z = lo[row] + int(np.searchsorted(keys[lo[row] : hi[row]], needles[row], side="right"))
                    if z > a:
                        qs.append(np.full(z - a, row, dtype=np.int64))
                        ps.append(self._band_pos[band, a:z].astype(np.int64))
                rows = np.flatnonzero((size > 0) & (size <= _SCAN_LIMIT))
                # Scan the short, contiguous buckets in lock-step across queries.
                while len(rows):
                    idx = lo[rows]
                    eq = keys[idx] == needles[rows]
                    if eq.any():
                        qs.append(rows[eq])
                        ps.append(self._band_pos[band, idx[eq]].astype(np.int64))
                    lo[rows] += 1
                    rows = rows[lo[rows] < hi[rows]]
        if any(self._pending):
            extra_q: list[int] = []
            extra_p: list[int] = []
            for row, values in enumerate(bh.tolist()):
                for table, value in zip(self._pending, values, strict=True):
                    hit = table.get(value)
                    if hit:
                        extra_q.extend([row] * len(hit))
                        extra_p.extend(hit)
            if extra_q:
                qs.append(np.asarray(extra_q, dtype=np.int64))
                ps.append(np.asarray(extra_p, dtype=np.int64))
        if not qs:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        pair = np.unique(np.concatenate(qs) * max(self._n, 1) + np.concatenate(ps))
        return pair // max(self._n, 1), pair % max(self._n, 1)

    def _match(
        self, sigs: np.ndarray, digests: np.ndarray | None
    ) -> tuple[list[Sequence[Match]], np.ndarray]:
        """Pool matches per query row (best first) and the rows' band hashes."""
        bh = self._band_hashes(sigs)
        # Rows without matches share one empty tuple: a fresh list per row
        # was enough allocation to trigger costly GC passes on big batches.
        results: list[Sequence[Match]] = [()] * len(sigs)
        q, p = self._candidates(bh)
        if len(q):
            keep = self._alive[p]
            q, p = q[keep], p[keep]
        sims = np.empty(len(q), dtype=np.float64)
        step = max(1, (1 << 22) // self.num_perm)  # ~16 MB of gathered signatures per block
        for s in range(0, len(q), step):
            sims[s : s + step] = (
                np.count_nonzero(self._sigs[p[s : s + step]] == sigs[q[s : s + step]], axis=1) / self.num_perm
            )
        ok = sims >= self.threshold - 1e-12
        q, p, sims = q[ok], p[ok], sims[ok]
        if digests is not None and len(q):
            exact = np.all(self._digests[p] == digests[q], axis=1)
        else:
            exact = np.zeros(len(q), dtype=bool)
        grouped: dict[int, list[Match]] = {}
        for i in np.lexsort((p, -sims, ~exact, q)).tolist():
            grouped.setdefault(int(q[i]), []).append(
                (int(p[i]), 1.0 if exact[i] else float(sims[i]), bool(exact[i]))
            )
        for row, found in grouped.items():
            results[row] = found
        # Empty normalized texts have no shingles, so no band: match them by digest.
        if digests is not None and self._empty:
            empty_digest = np.frombuffer(hashlib.sha256(b"").digest(), dtype=np.uint8)
            alive_empty = [pos for pos in self._empty if self._alive[pos]]
            if alive_empty:
                for row in np.flatnonzero(np.all(digests == empty_digest, axis=1)):
                    results[row] = [(pos, 1.0, True) for pos in alive_empty]
        return results, bh

    def _prepare(self, texts: Sequence[str], normalized: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
        norms = list(texts) if normalized else normalize_many(texts)
        sigs = self.hasher.signatures(norms)
        digests = np.frombuffer(
            b"".join(hashlib.sha256(s.encode("utf-8")).digest() for s in norms), dtype=np.uint8
        ).reshape(-1, 32)
        return norms, sigs, digests

    def query(self, text: str, *, normalized: bool = False) -> list[tuple[Hashable, float]]:
        """Pool items with estimated Jaccard >= threshold, best first (exact twins first)."""
        return self.query_many([text], normalized=normalized)[0]

    def query_many(
        self, texts: Sequence[str], *, normalized: bool = False
    ) -> list[list[tuple[Hashable, float]]]:
        _, sigs, digests = self._prepare(texts, normalized)
        matches, _ = self._match(sigs, digests)
        return [[(self._keys[pos], sim) for pos, sim, _ in row] for row in matches]

    def check_batch(
        self,
        texts: Sequence[str],
        *,
        known_hashes: Mapping[str, Any] | Collection[str] | None = None,
        normalized: bool = False,
    ) -> list[DedupResult]:
        """Classify each text as exact / near duplicate or new, without changing the index.

        Compared against the pool, ``known_hashes`` (text_hash values, e.g.
        from the database; a mapping gives the twin's key) and earlier texts
        of the same batch. Only texts judged "new" count as earlier texts, so
        accepting exactly the "new" ones leaves no duplicates behind.
        """
        norms, sigs, digests = self._prepare(texts, normalized)
        hexes = [bytes(d).hex() for d in digests]
        pool, bh = self._match(sigs, digests)
        band_rows = bh.tolist()
        batch_hash: dict[str, int] = {}
        # Band hashes are salted per band, so one flat dict can stand in for
        # the b per-band tables of the small in-batch index. A bucket holds a
        # bare int until it collides: ~b lists per text would mean ~b*N
        # allocations, and the garbage collector then dominated the loop.
        batch_bands: dict[int, int | list[int]] = {}
        lookup = batch_bands.get
        keys = self._keys
        threshold = self.threshold - 1e-12
        results: list[DedupResult] = []
        for i, h in enumerate(hexes):
            if known_hashes is not None and h in known_hashes:
                twin = known_hashes[h] if isinstance(known_hashes, Mapping) else None
                results.append(DedupResult("exact", h, twin_key=twin, similarity=1.0))
                continue
            best = pool[i][0] if pool[i] else None
            if best is not None and best[2]:
                results.append(DedupResult("exact", h, twin_key=keys[best[0]], similarity=1.0))
                continue
            if h in batch_hash:
                results.append(DedupResult("exact", h, twin_batch_index=batch_hash[h], similarity=1.0))
                continue
            batch_best: tuple[float, int] | None = None
            if norms[i]:
                hits = [hit for hit in map(lookup, band_rows[i]) if hit is not None]
                if hits:
                    first = hits[0]
                    if type(first) is int and hits.count(first) == len(hits):
                        # The usual case: one earlier text shares the bands.
                        sim = np.count_nonzero(sigs[first] == sigs[i]) / self.num_perm
                        if sim >= threshold:
                            batch_best = (float(sim), first)
                    else:
                        cands = sorted({j for hit in hits for j in ((hit,) if type(hit) is int else hit)})
                        sims = np.count_nonzero(sigs[cands] == sigs[i], axis=1) / self.num_perm
                        j = int(np.argmax(sims))
                        if sims[j] >= threshold:
                            batch_best = (float(sims[j]), cands[j])
            if best is not None and (batch_best is None or best[1] >= batch_best[0]):
                results.append(DedupResult("near", h, twin_key=keys[best[0]], similarity=best[1]))
            elif batch_best is not None:
                results.append(
                    DedupResult("near", h, twin_batch_index=batch_best[1], similarity=batch_best[0])
                )
            else:
                results.append(DedupResult("new", h))
                batch_hash[h] = i
                if norms[i]:
                    for value in band_rows[i]:
                        prev = lookup(value)
                        if prev is None:
                            batch_bands[value] = i
                        elif type(prev) is int:
                            batch_bands[value] = [prev, i]
                        else:
                            prev.append(i)
        return results

    # -- persistence -------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # Pending items are merged so the state is just flat arrays; the
        # [:n] slices are views, so pickling a 1M index copies nothing first.
        self._merge_pending()
        n = self._n
        return {
            "version": _FORMAT_VERSION,
            "threshold": self.threshold,
            "num_perm": self.hasher.num_perm,
            "seed": self.hasher.seed,
            "ngram": self.hasher.ngram,
            "bands": (self.b, self.r),
            "keys": self._keys,
            "sigs": self._sigs[:n],
            "digests": self._digests[:n],
            "alive": self._alive[:n],
            "empty": self._empty,
            "band_keys": self._band_keys,
            "band_pos": self._band_pos,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"NearDupIndex format {state.get('version')!r} != {_FORMAT_VERSION}; rebuild the index"
            )
        self.__init__(  # type: ignore[misc]
            threshold=state["threshold"],
            num_perm=state["num_perm"],
            ngram=state["ngram"],
            seed=state["seed"],
            bands=tuple(state["bands"]),
        )
        self._keys = list(state["keys"])
        self._sigs = state["sigs"]
        self._digests = state["digests"]
        self._alive = state["alive"]
        self._n = len(self._keys)
        self._pos_of = {k: i for i, k in enumerate(self._keys) if self._alive[i]}
        self._empty = list(state["empty"])
        self._band_keys = state["band_keys"]
        self._band_pos = state["band_pos"]
        self._build_buckets()
        self._indexed = self._n

    def save(self, path: str | Path) -> None:
        """Pickle to ``path`` (atomically, via a temp file). Only load files you wrote."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(self, fh, protocol=5)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> NearDupIndex:
        with Path(path).open("rb") as fh:
            index = pickle.load(fh)
        if not isinstance(index, cls):
            raise TypeError(f"{path} does not contain a {cls.__name__}")
        return index
