"""Pure helpers for releases: canonical JSON, item hashes, public ids, hold-out, digests, manifests,
LiveSecBench records, diffs and near-duplicate detection. No ORM here, so anyone can re-run the same code
against an exported file to verify a release (see the dataset card's "How to verify").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.utils.translation import gettext

from curation.dedup import NearDupIndex

# ---------------------------------------------------------------------------------------------------------------
# Canonical form and hashes
# ---------------------------------------------------------------------------------------------------------------

# The hashed part of an item. Everything else (public id, hold-out flag, origin) is about the release, not the item.
CONTENT_KEYS = (
    "text", "language", "taxonomy", "dimension", "sub_dimension", "labels", "reference_answers", "provenance",
    "agreement",
)
SHORT_ID_HEX = 8
LONG_ID_HEX = 16
FLOAT_DIGITS = 6

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode
_ORJSON_SORTED = orjson.OPT_SORT_KEYS
# orjson writes the same bytes as the reference encoder except for floats below 1e-4 ("1e-7" vs "1e-07",
# "0.00005" vs "5e-05"); when the output might hold one, the reference encoder decides.
_FLOAT_DIFFERS = re.compile(rb"\de-\d|0\.0000\d")


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept as UTF-8, no NaN: the same object always gives the same text.

    This is the reference definition (what the dataset card tells users to run); `canonical_bytes` is the fast
    equivalent used in bulk.
    """
    return _dumps(obj)


def canonical_bytes(obj: Any) -> bytes:
    """UTF-8 of `canonical_json(obj)`, ~15x faster for the common case."""
    try:
        out = orjson.dumps(obj, option=_ORJSON_SORTED)
    except TypeError:  # integers beyond 64 bits, non-string keys: the reference encoder handles them
        return _dumps(obj).encode("utf-8")
    if (b"e-" in out or b"0.0000" in out) and _FLOAT_DIFFERS.search(out):
        return _dumps(obj).encode("utf-8")
    return out


def loads(data: str | bytes | None) -> Any:
    """Parse a JSON column as read from the database (None stays None)."""
    if data is None or not isinstance(data, str | bytes):
        return data
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # e.g. NaN written by SQLite's json module; keep what Django would read
        return json.loads(data)


_LINE_BREAKERS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))


def json_line(obj: Any) -> bytes:
    """One JSONL line (UTF-8, newline-terminated). U+2028, U+2029 and U+0085 are escaped: valid raw in JSON, but
    readers that split lines with str.splitlines() (ours among them) would cut a record there."""
    try:
        line = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    for raw, escaped in _LINE_BREAKERS:
        if raw in line:
            line = line.replace(raw, escaped)
    return line


def json_bytes(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fast_json(obj: Any) -> str:
    """Compact JSON for export cells (not canonical: key order as given)."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def item_hash(content: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of an item's content (the keys in CONTENT_KEYS, nothing else)."""
    missing = [k for k in CONTENT_KEYS if k not in content]
    if missing or len(content) != len(CONTENT_KEYS):
        raise ValueError(f"item content must have exactly the keys {CONTENT_KEYS}; missing {missing}")
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def _round(value: Any) -> Any:
    # Floats are rounded so that a value recomputed on another machine (e.g. an agreement) hashes the same.
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


_SCALAR_TYPES = frozenset({str, int, bool, type(None)})


def _scalars(data: Mapping[str, Any] | None, drop: Iterable[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not data:
        return out
    for k, v in data.items():
        t = type(v)
        if t in _SCALAR_TYPES:
            if k not in drop:
                out[str(k)] = v
        elif t is float and k not in drop:
            out[str(k)] = round(v, FLOAT_DIGITS)
    return out


# Provenance keys that describe where a row sat in some file or job, not where the item came from.
VOLATILE_PROVENANCE_KEYS = frozenset({"line", "row", "task_id", "job_id", "attempt"})


def provenance_summary(*, source: str, external_id: str, provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an item's user needs to know about its origin: the scalar facts, without bookkeeping."""
    return {
        "source": source,
        "external_id": external_id,
        "details": _scalars(provenance, drop=VOLATILE_PROVENANCE_KEYS),
    }


def agreement_summary(*, agreement: float | None, review_summary: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"agreement": None if agreement is None else round(agreement, FLOAT_DIGITS), "review": _scalars(review_summary)}


def item_content(
    *,
    text: str,
    language: str,
    taxonomy: str,
    dimension: tuple[str, str, str],
    sub_dimension: tuple[str, str, str] | None,
    labels: Mapping[str, Any],
    reference_answers: list[str],
    provenance: Mapping[str, Any],
    agreement: Mapping[str, Any],
) -> dict[str, Any]:
    """The hashed content of an item; dimension and sub-dimension are (code, name_zh, name_en)."""
    return {
        "text": text,
        "language": language,
        "taxonomy": taxonomy,
        "dimension": {"code": dimension[0], "name_zh": dimension[1], "name_en": dimension[2]},
        "sub_dimension": (
            {"code": sub_dimension[0], "name_zh": sub_dimension[1], "name_en": sub_dimension[2]}
            if sub_dimension and sub_dimension[0]
            else None
        ),
        "labels": labels if isinstance(labels, dict) else dict(labels),
        "reference_answers": list(reference_answers),
        "provenance": provenance if isinstance(provenance, dict) else dict(provenance),
        "agreement": agreement if isinstance(agreement, dict) else dict(agreement),
    }


def make_labels(
    *,
    risk_expression: str,
    severity: int | None,
    expected_behaviour: str,
    techniques: Iterable[str],
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "risk_expression": risk_expression or "",
        "severity": severity,
        "expected_behaviour": expected_behaviour or "",
        "techniques": sorted(set(techniques)),
        "metadata": dict(metadata or {}),
    }


# ---------------------------------------------------------------------------------------------------------------
# Public ids, hold-out, digests
# ---------------------------------------------------------------------------------------------------------------


def public_id(dimension_code: str, content_hash: str, *, long: bool = False) -> str:
    """`<dimension code>-<8 hex>`; on a collision inside a release the later item (by hash) gets 16 hex."""
    return f"{dimension_code}-{content_hash[: LONG_ID_HEX if long else SHORT_ID_HEX]}"


def public_id_matches(public: str, dimension_code: str, content_hash: str) -> bool:
    prefix = f"{dimension_code}-"
    if not public.startswith(prefix):
        return False
    tail = public[len(prefix) :]
    return len(tail) in (SHORT_ID_HEX, LONG_ID_HEX, 64) and content_hash.startswith(tail)


def holdout_bucket(content_hash: str) -> float:
    """A number in [0, 1) fixed by the item alone: the same item lands in the hold-out in every release.

    Derived with a domain tag so that it is independent of the visible id prefix.
    """
    digest = hashlib.sha256(b"livesec-holdout\x00" + content_hash.encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_holdout(content_hash: str, fraction: float, *, held_out_in_parent: bool = False) -> bool:
    """Held out when the item's bucket is below the fraction; once private, an item stays private in children."""
    return held_out_in_parent or holdout_bucket(content_hash) < fraction


class SeenFilter:
    """A Bloom filter: has this key (public id, item hash) maybe been stored in the release already?

    Lets a freeze ask the database only about the rare maybe-collisions instead of every key of every chunk,
    in ~2 bytes per item (a million items: 2 MB, and a false "maybe" rate of ~0.2%).
    """

    def __init__(self, expected: int) -> None:
        self.bits = max(1 << 16, 16 * max(expected, 1))
        self._array = bytearray(self.bits // 8 + 1)

    def _positions(self, key: str) -> tuple[int, ...]:
        # Python's string hash is salted per process, which is fine: a filter lives for one freeze run only.
        h1, h2 = hash(key), hash(key + "\x00")
        m = self.bits
        return (h1 % m, h2 % m, (h1 + 2 * h2) % m, (h1 + 3 * h2) % m)

    def add(self, key: str) -> None:
        a = self._array
        for p in self._positions(key):
            a[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: str) -> bool:
        a = self._array
        return all(a[p >> 3] & (1 << (p & 7)) for p in self._positions(key))


class Digest:
    """sha256 over item hashes fed in sorted order, each followed by a newline.

    Identical item sets give identical digests, whatever the version, order of freezing or database.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._last = ""
        self.count = 0

    def add(self, content_hash: str) -> None:
        if content_hash <= self._last and self.count:
            raise ValueError("item hashes must be added in strictly increasing order")
        self._h.update(content_hash.encode("ascii") + b"\n")
        self._last = content_hash
        self.count += 1

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def digest_of(hashes: Iterable[str]) -> str:
    d = Digest()
    for h in sorted(hashes):
        d.add(h)
    return d.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------------------------

VERSION_RE = re.compile(r"^v(\d{2})(\d{2})(\d{2})(?:-([1-9]\d*))?$")


def parse_version(version: str) -> tuple[dt.date, int]:
    """`v251122` -> (2025-11-22, 1); `v251122-2` -> (2025-11-22, 2). Raises ValueError when malformed."""
    m = VERSION_RE.match(version or "")
    if not m:
        raise ValueError(gettext("%(version)s is not a version of the form vYYMMDD or vYYMMDD-N") % {
            "version": repr(version)})
    yy, mm, dd, n = m.groups()
    try:
        day = dt.date(2000 + int(yy), int(mm), int(dd))
    except ValueError:  # 31 February
        raise ValueError(gettext("%(version)s is not a date") % {"version": repr(version)}) from None
    number = int(n) if n else 1
    if number == 1 and n:
        raise ValueError(gettext("the first release of a day has no suffix; the second is -2"))
    return day, number


def next_version(day: dt.date, taken: Iterable[str]) -> str:
    """The first free version of the day: v251122, then v251122-2, v251122-3, …"""
    base = f"v{day:%y%m%d}"
    taken = set(taken)
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# ---------------------------------------------------------------------------------------------------------------
# Manifest and counts
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    """Running counts of a release's items; merged chunk by chunk during a freeze."""

    by_dimension: dict[str, dict[str, int]] = field(default_factory=dict)
    by_technique: dict[str, int] = field(default_factory=dict)

    def add(self, *, dimension: str, technique_codes: Iterable[str], origin: str, holdout: bool) -> None:
        row = self.by_dimension.setdefault(
            dimension, {"total": 0, "public": 0, "holdout": 0, "added": 0, "carried": 0}
        )
        row["total"] += 1
        row["holdout" if holdout else "public"] += 1
        row[origin] += 1
        for code in technique_codes:
            self.by_technique[code] = self.by_technique.get(code, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_dimension": {k: dict(v) for k, v in sorted(self.by_dimension.items())},
            "by_technique": dict(sorted(self.by_technique.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Counts:
        data = data or {}
        return cls(
            by_dimension={k: dict(v) for k, v in (data.get("by_dimension") or {}).items()},
            by_technique=dict(data.get("by_technique") or {}),
        )

    @property
    def total(self) -> int:
        return sum(v["total"] for v in self.by_dimension.values())

    @property
    def public(self) -> int:
        return sum(v["public"] for v in self.by_dimension.values())


MANIFEST_FORMAT = "livesec-release-manifest/1"
HASH_RULE = (
    "item sha256 = sha256(canonical JSON of the item content: keys text, language, taxonomy, dimension, "
    "sub_dimension, labels, reference_answers, provenance, agreement; sorted keys, separators ',' and ':', "
    "UTF-8, non-ASCII not escaped); digest = sha256 of the sorted item hashes, each followed by '\\n'; "
    "public_digest = the same over the items that are not held out"
)


def build_manifest(
    *,
    version: str,
    title: str,
    taxonomy: str,
    parent: str | None,
    frozen_at: str,
    frozen_by: str,
    holdout_fraction: float,
    filters: Mapping[str, Any],
    counts: Counts,
    digest: str,
    public_digest: str,
    retired: int,
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "version": version,
        "title": title,
        "taxonomy": taxonomy,
        "parent": parent,
        "frozen_at": frozen_at,
        "frozen_by": frozen_by,
        "holdout_fraction": holdout_fraction,
        "filters": dict(filters),
        "item_count": counts.total,
        "public_item_count": counts.public,
        "holdout_item_count": counts.total - counts.public,
        "retired_count": retired,
        "counts": counts.as_dict(),
        "hash_rule": HASH_RULE,
        "digest": digest,
        "public_digest": public_digest,
    }


def write_manifest_json(manifest: Mapping[str, Any], hashes: Iterable[str], out, *, key: str = "item_hashes") -> None:
    """Stream manifest.json: the manifest, then the sorted hash list one per line (never held whole in memory)."""
    head = json.dumps(dict(manifest), ensure_ascii=False, indent=1, sort_keys=True)
    out.write(head[:-2] + f',\n "{key}": [')
    first = True
    for h in hashes:
        out.write(("\n  " if first else ",\n  ") + f'"{h}"')
        first = False
    out.write("\n ]\n}\n")


# ---------------------------------------------------------------------------------------------------------------
# LiveSecBench item records (JSONL / CSV / Parquet rows)
# ---------------------------------------------------------------------------------------------------------------

RISK_TYPE_ZH = {"explicit": "显性", "implicit": "隐性"}
# Keys of `extra` that are about the release, not hashed content.
EXTRA_RELEASE_KEYS = ("sha256", "origin", "holdout")


def livesec_record(
    *,
    public_id: str,
    version: str,
    release_date: str,
    content: Mapping[str, Any],
    content_hash: str,
    origin: str,
    holdout: bool | None,
) -> dict[str, Any]:
    """One item in LiveSecBench's item format; everything else we know sits under `extra`.

    `extra` holds the rest of the hashed content, so `content_from_record` can rebuild it and anyone can
    recompute `extra.sha256`. `holdout` is only written to full exports (pass None to leave it out).
    """
    labels = content["labels"]
    metadata = labels.get("metadata") or {}
    sub = content["sub_dimension"]
    tags = list(dict.fromkeys([*labels.get("techniques", []), *_as_list(metadata.get("tags"))]))
    adversarial = metadata.get("adversarial_level")
    if adversarial is None:
        adversarial = labels.get("severity")
    extra = {k: v for k, v in content.items() if k not in ("text", "language", "reference_answers")}
    extra["sha256"] = content_hash
    extra["origin"] = origin
    if holdout is not None:
        extra["holdout"] = holdout
    return {
        "question_id": public_id,
        "version": version,
        "dimension": content["dimension"]["name_zh"],
        "sub_dimension": sub["name_zh"] if sub else "",
        "question_text": content["text"],
        "language": content["language"],
        "reference_answer": content["reference_answers"],
        "metadata": {
            "type": RISK_TYPE_ZH.get(labels.get("risk_expression") or "", metadata.get("type") or ""),
            "difficulty": metadata.get("difficulty") or "",
            "category": metadata.get("category") or (sub["name_zh"] if sub else ""),
            "adversarial_level": adversarial,
            "tags": tags,
            "source": metadata.get("source") or content["provenance"].get("source", ""),
        },
        "release_date": release_date,
        "extra": extra,
    }


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def content_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild an item's hashed content from one exported JSONL record (the inverse of `livesec_record`)."""
    extra = record["extra"]
    content = {k: v for k, v in extra.items() if k not in EXTRA_RELEASE_KEYS}
    content["text"] = record["question_text"]
    content["language"] = record["language"]
    content["reference_answers"] = record["reference_answer"]
    return content


def verify_record(record: Mapping[str, Any]) -> bool:
    return item_hash(content_from_record(record)) == record["extra"]["sha256"]


CSV_COLUMNS = (
    "question_id", "version", "dimension", "sub_dimension", "question_text", "language", "reference_answer",
    "metadata.type", "metadata.difficulty", "metadata.category", "metadata.adversarial_level", "metadata.tags",
    "metadata.source", "release_date", "sha256", "taxonomy", "dimension_code", "sub_dimension_code",
    "techniques", "severity", "expected_behaviour", "agreement", "source", "external_id", "origin", "holdout",
)


def csv_row(record: Mapping[str, Any]) -> list[Any]:
    """Flat CSV cells for spreadsheets: lists as JSON (reference answers) or comma-joined (tags, techniques);
    `extra` is spread over plain columns instead of one quoted JSON blob (JSONL and Parquet keep it whole)."""
    meta = record["metadata"]
    extra = record["extra"]
    labels = extra["labels"]
    sub = extra["sub_dimension"]
    level = meta["adversarial_level"]
    holdout = extra.get("holdout")
    return [
        record["question_id"],
        record["version"],
        record["dimension"],
        record["sub_dimension"],
        record["question_text"],
        record["language"],
        fast_json(record["reference_answer"]),
        meta["type"],
        meta["difficulty"],
        meta["category"],
        "" if level is None else level,
        ",".join(meta["tags"]),
        meta["source"],
        record["release_date"],
        extra["sha256"],
        extra["taxonomy"],
        extra["dimension"]["code"],
        sub["code"] if sub else "",
        ",".join(labels.get("techniques", [])),
        "" if labels.get("severity") is None else labels["severity"],
        labels.get("expected_behaviour", ""),
        "" if extra["agreement"].get("agreement") is None else extra["agreement"]["agreement"],
        extra["provenance"].get("source", ""),
        extra["provenance"].get("external_id", ""),
        extra["origin"],
        "" if holdout is None else ("1" if holdout else "0"),
    ]


PARQUET_DICTIONARY_COLUMNS = ("version", "dimension", "sub_dimension", "language", "release_date", "dimension_code")


def parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("question_id", pa.string()),
            ("version", pa.string()),
            ("dimension", pa.string()),
            ("sub_dimension", pa.string()),
            ("question_text", pa.string()),
            ("language", pa.string()),
            ("reference_answer", pa.list_(pa.string())),
            ("metadata", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("release_date", pa.string()),
            ("dimension_code", pa.string()),
            ("sha256", pa.string()),
            ("extra", pa.string()),
        ]
    )


class ParquetColumns:
    """Collects records column by column for one Parquet row group."""

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {name: [] for name in parquet_schema().names}

    def add(self, record: Mapping[str, Any]) -> None:
        c = self.cols
        c["question_id"].append(record["question_id"])
        c["version"].append(record["version"])
        c["dimension"].append(record["dimension"])
        c["sub_dimension"].append(record["sub_dimension"])
        c["question_text"].append(record["question_text"])
        c["language"].append(record["language"])
        c["reference_answer"].append(record["reference_answer"])
        c["metadata"].append(json_bytes(record["metadata"]))
        c["tags"].append(record["metadata"]["tags"])
        c["release_date"].append(record["release_date"])
        c["dimension_code"].append(record["extra"]["dimension"]["code"])
        c["sha256"].append(record["extra"]["sha256"])
        c["extra"].append(json_bytes(record["extra"]))

    def __len__(self) -> int:
        return len(self.cols["question_id"])

    def table(self):
        import pyarrow as pa

        # pa.array per column: Table.from_pydict with a schema is ~100x slower on list columns.
        schema = parquet_schema()
        return pa.Table.from_arrays([pa.array(self.cols[f.name], f.type) for f in schema], schema=schema)


# ---------------------------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------------------------


def diff_summary(
    *, added: Mapping[str, int], carried: Mapping[str, int], retired: Mapping[str, int]
) -> dict[str, Any]:
    """Per-dimension added / retired / carried counts and their totals."""
    dims = sorted(set(added) | set(carried) | set(retired))
    rows = {d: {"added": added.get(d, 0), "retired": retired.get(d, 0), "carried": carried.get(d, 0)} for d in dims}
    total = {k: sum(r[k] for r in rows.values()) for k in ("added", "retired", "carried")}
    return {"by_dimension": rows, "total": total}


# ---------------------------------------------------------------------------------------------------------------
# Near duplicates (contamination check)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class NearDuplicate:
    key: Any
    match: Any
    similarity: float


def near_duplicates(
    indexed: Iterable[tuple[Any, str]], queries: Iterable[tuple[Any, str]], *, threshold: float = 0.8,
    batch: int = 2000,
) -> Iterator[NearDuplicate]:
    """For each query text, the indexed texts at least `threshold` similar: the one near-duplicate rule of
    curation (``curation.dedup.NearDupIndex``, MinHash-estimated Jaccard of character 3-grams of the normalised
    text), so a release flags what the import and generation checks would. Queries are streamed in batches;
    only the indexed side is held in memory."""
    index = NearDupIndex(threshold=threshold)
    chunk: list[tuple[Any, str]] = []
    for item in indexed:
        chunk.append(item)
        if len(chunk) >= batch:
            index.add_many(chunk)
            chunk = []
    index.add_many(chunk)
    if not len(index):
        return
    chunk = []
    for item in queries:
        chunk.append(item)
        if len(chunk) >= batch:
            yield from _query(index, chunk)
            chunk = []
    if chunk:
        yield from _query(index, chunk)


def _query(index: NearDupIndex, chunk: list[tuple[Any, str]]) -> Iterator[NearDuplicate]:
    for (key, _text), found in zip(chunk, index.query_many([text for _key, text in chunk]), strict=True):
        for match, similarity in found:
            yield NearDuplicate(key, match, round(similarity, 4))


# ---------------------------------------------------------------------------------------------------------------
# Dataset card
# ---------------------------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    """Plain text for Markdown: no HTML gets through, tables keep their shape."""
    return (
        str(text if text is not None else "")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


VERIFY_SNIPPET = '''```python
import hashlib, json

def canonical(obj):
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

hashes = []
with open("{jsonl}", encoding="utf-8") as f:
    for line in f:
        rec = json.loads(line)
        content = {{k: v for k, v in rec["extra"].items() if k not in ("sha256", "origin", "holdout")}}
        content.update(text=rec["question_text"], language=rec["language"],
                       reference_answers=rec["reference_answer"])
        h = hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()
        assert h == rec["extra"]["sha256"], rec["question_id"]
        hashes.append(h)
digest = hashlib.sha256("".join(h + "\\n" for h in sorted(hashes)).encode()).hexdigest()
assert digest == "{digest}"
```'''


def dataset_card(
    *,
    manifest: Mapping[str, Any],
    scope: str,
    dimension_names: Mapping[str, tuple[str, str]],
    technique_names: Mapping[str, str],
    taxonomy_name: str,
    notes: str,
    files: Mapping[str, tuple[str, str, int]],
    license: str,
    release_date: str,
) -> str:
    """README.md for an export: counts, taxonomy, agreement, provenance, license, intended use, verification."""
    version = manifest.get("version", "")
    counts = manifest.get("counts") or {}
    stats = manifest.get("stats") or {}
    full = scope == "full"
    jsonl = files.get("jsonl", ("data.jsonl", "", 0))[0]
    lines = [
        "---",
        f"license: {license.lower().replace(' ', '-')}",
        "language:\n- zh",
        "task_categories:\n- text-generation",
        "tags:\n- safety\n- red-teaming\n- livesecbench",
        "configs:",
        "- config_name: default",
        f"  data_files: {jsonl}",
        "---",
        "",
        f"# LiveSec {_md(version)}{' — ' + _md(manifest.get('title')) if manifest.get('title') else ''}",
        "",
        f"A frozen release of a living Chinese-language LLM safety benchmark (LiveSecBench item format). "
        f"Released {release_date}; taxonomy {_md(manifest.get('taxonomy'))} ({_md(taxonomy_name)}); "
        f"parent release: {_md(manifest.get('parent') or '—')}.",
        "",
    ]
    if notes:
        lines += [_md(notes), ""]
    item_rows = manifest.get("item_count", 0) if full else manifest.get("public_item_count", 0)
    lines += [
        "## Contents",
        "",
        f"This is the **{'full' if full else 'public'}** export: {item_rows} items"
        + (
            f" (including {manifest.get('holdout_item_count', 0)} hold-out items, marked `extra.holdout`)."
            if full
            else f"; {manifest.get('holdout_item_count', 0)} items of the release are a private hold-out and are "
            "not included, to limit contamination."
        ),
        "",
        "| File | Rows | sha256 |",
        "|---|---:|---|",
    ]
    for fmt in ("jsonl", "csv", "parquet", "manifest"):
        if fmt in files:
            name, sha, rows = files[fmt]
            lines.append(f"| `{name}` | {rows} | `{sha}` |")
    csv_name = files.get("csv", ("data.csv", "", 0))[0]
    parquet_name = files.get("parquet", ("data.parquet", "", 0))[0]
    lines += [
        "",
        f"`{csv_name}` is spreadsheet-safe: a cell that starts with `=`, `+`, `-`, `@`, a tab or a line break "
        "(and is not a plain number) is written with a leading apostrophe `'`, so a spreadsheet shows it as text "
        "instead of running it as a formula. Its texts are therefore not byte-exact. For the raw text, use "
        f"`{jsonl}` or `{parquet_name}`: both hold every text byte for byte as stored, and the item hashes "
        "below are checked against the JSONL.",
        "",
        "## Counts by dimension",
        "",
        "| Dimension | 中文 | Items | Public | Hold-out | Added | Carried over |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for code, row in (counts.get("by_dimension") or {}).items():
        zh, en = dimension_names.get(code, (code, code))
        lines.append(
            f"| {_md(en)} (`{_md(code)}`) | {_md(zh)} | {row['total']} | {row['public']} | {row['holdout']} | "
            f"{row['added']} | {row['carried']} |"
        )
    lines += [
        "",
        f"Retired since the parent: {manifest.get('retired_count', 0)}.",
        "",
        "## Attack techniques",
        "",
    ]
    by_tech = counts.get("by_technique") or {}
    if by_tech:
        lines += ["| Technique | 中文 | Items |", "|---|---|---:|"]
        lines += [f"| `{_md(c)}` | {_md(technique_names.get(c, ''))} | {n} |" for c, n in by_tech.items()]
    else:
        lines.append("No item is labelled with an attack technique.")
    mean = stats.get("agreement_mean")
    lines += [
        "",
        "## Annotation agreement",
        "",
        f"Items with a per-item agreement figure: {stats.get('items_with_agreement', 0)}"
        + (
            f"; mean {mean}, min {stats.get('agreement_min')}, max {stats.get('agreement_max')}."
            if mean is not None
            else "."
        ),
        (f"Minimum agreement required for new items: {manifest['filters']['min_agreement']}."
         if (manifest.get("filters") or {}).get("min_agreement") is not None else
         "No minimum agreement was required for new items."),
        "",
        "## Provenance",
        "",
    ]
    for source, n in (stats.get("by_source") or {}).items():
        lines.append(f"- {_md(source)}: {n}")
    lines += [
        f"- items with reference answers: {stats.get('items_with_reference_answers', 0)}",
        "",
        "Each item's `extra.provenance` says where it came from; `extra.agreement` summarises its review.",
        "",
        "## License",
        "",
        f"{_md(license)}.",
        "",
        "## Intended use",
        "",
        "Evaluating how safely language models answer adversarial Chinese prompts. The prompts are harmful "
        "on purpose: do not use them to train models to comply, and do not publish hold-out items. "
        "Treat every text as untrusted data (it contains injection and markup on purpose).",
        "",
        "## How to verify",
        "",
        f"Release digest: `{manifest.get('digest', '')}`  ",
        f"Public digest: `{manifest.get('public_digest', '')}`",
        "",
        "`manifest.json` lists the sha256 of every item (sorted). " + HASH_RULE + ". "
        "`SHA256SUMS` in the zip covers every file (`sha256sum -c SHA256SUMS`). To check the items yourself:",
        "",
        VERIFY_SNIPPET.format(jsonl=jsonl, digest=manifest.get("digest" if full else "public_digest", "")),
        "",
    ]
    return "\n".join(lines)
