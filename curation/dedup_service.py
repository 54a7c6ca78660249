"""Exact and near-duplicate checks of new candidates against the whole pool and all released items.

One MinHash-LSH index (curation.dedup.NearDupIndex) per process, caught up from the database before
every check: prompts with an id above the index's high-water mark are added, prompts whose text
changed are re-added, released items above their own mark likewise. Prompt creation is serialised
(`services.lock_pool`), so ids commit in order and the high-water mark never skips a row.

The index is persisted under DEDUP_INDEX_DIR, named by NORMALIZATION_VERSION, the database and the
high-water marks, so a new worker process loads it and only catches up. A file that does not match the
database (built by another normalisation, another threshold, or a database that has since been reset)
is never used: it is logged and rebuilt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, Max
from django.utils import timezone

from .dedup import NearDupIndex
from .models import Prompt
from .text import NORMALIZATION_VERSION, normalize_many

log = logging.getLogger(__name__)

ReleasedRow = tuple[int, str, int | None]  # (release item id, text, prompt id or None)

# How far back (seconds) to look for prompts edited since the last sync: covers clock skew between
# the processes that write `updated_at`.
_EDIT_SLACK = dt.timedelta(seconds=30)
_SAVE_EVERY = 5000
_CHUNK = 20000


def _no_releases(after_id: int = 0) -> list[ReleasedRow]:
    return []


# The releases app registers where frozen items are read (curation does not import it): see
# releases.apps.ReleasesConfig.ready.
_registered_source: Callable[[int], list[ReleasedRow]] = _no_releases


def register_released_source(source: Callable[[int], list[ReleasedRow]]) -> None:
    """Name the function that lists released items (id above `after_id`): the releases app calls this."""
    global _registered_source
    _registered_source = source
    reset()


def released_texts(after_id: int = 0) -> list[ReleasedRow]:
    """Texts of released (frozen) items with an id above `after_id`."""
    return _registered_source(after_id)


_released_source: Callable[[int], list[ReleasedRow]] = released_texts


def set_released_source(source: Callable[[int], list[ReleasedRow]] | None) -> None:
    """Swap where released texts come from (tests); None restores the registered source (the ReleaseItem table)."""
    global _released_source
    _released_source = source or released_texts
    reset()


@dataclass(frozen=True)
class Verdict:
    status: str  # new | exact | near
    normalized_hash: str
    twin_prompt_id: int | None = None
    twin_release_item_id: int | None = None
    twin_position: int | None = None  # an earlier text of the same check
    similarity: float | None = None

    @property
    def is_exact(self) -> bool:
        return self.status == "exact"


class _State:
    def __init__(self) -> None:
        self.index: NearDupIndex | None = None
        self.db_key = ""
        self.prompt_hwm = 0
        self.release_hwm = 0
        self.prompt_keys = 0
        self.release_prompt: dict[int, int | None] = {}
        self.synced_at: dt.datetime | None = None
        self.added_since_save = 0
        self.lock = threading.RLock()


_STATE = _State()


def reset() -> None:
    """Forget the in-memory index (the next check loads or rebuilds it)."""
    with _STATE.lock:
        _STATE.index = None
        _STATE.prompt_hwm = _STATE.release_hwm = _STATE.prompt_keys = 0
        _STATE.release_prompt = {}
        _STATE.synced_at = None
        _STATE.added_since_save = 0


def _threshold() -> float:
    return float(getattr(settings, "DEDUP_NEAR_THRESHOLD", 0.8))


def _db_key() -> str:
    d = connection.settings_dict
    raw = f"{connection.vendor}|{d.get('HOST') or ''}|{d.get('PORT') or ''}|{d.get('NAME')}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _index_dir() -> Path:
    return Path(getattr(settings, "DEDUP_INDEX_DIR", settings.VAR_DIR / "dedup"))


def _file_prefix(db_key: str) -> str:
    return f"pool-n{NORMALIZATION_VERSION}-{db_key}-"


def _add_prompts(index: NearDupIndex, rows: Sequence[tuple[int, str]]) -> None:
    if rows:
        index.add_many([(("p", pk), norm) for (pk, _), norm in zip(rows, normalize_many([t for _, t in rows]),
                                                                     strict=True)], normalized=True)


def _add_released(state: _State, rows: Sequence[ReleasedRow]) -> None:
    if rows:
        norms = normalize_many([text for _, text, _ in rows])
        state.index.add_many([(("r", rid), norm) for (rid, _, _), norm in zip(rows, norms, strict=True)],
                             normalized=True)
        for rid, _, pid in rows:
            state.release_prompt[rid] = pid
        state.release_hwm = max(state.release_hwm, max(r[0] for r in rows))


def _fresh_index() -> NearDupIndex:
    return NearDupIndex(threshold=_threshold())


def _build(state: _State) -> None:
    started = time.monotonic()
    state.index = _fresh_index()
    state.prompt_hwm = state.release_hwm = state.prompt_keys = 0
    state.release_prompt = {}
    state.synced_at = timezone.now()
    _catch_up_prompts(state)
    _add_released(state, _released_source(0))
    state.added_since_save = state.prompt_keys + len(state.release_prompt)
    log.info("dedup index built from the database: %d prompts, %d released items in %.1fs",
             state.prompt_keys, len(state.release_prompt), time.monotonic() - started)


def _catch_up_prompts(state: _State) -> int:
    added = 0
    while True:
        rows = list(Prompt.objects.filter(pk__gt=state.prompt_hwm).order_by("pk").values_list("pk", "text")[:_CHUNK])
        if not rows:
            return added
        _add_prompts(state.index, rows)
        state.prompt_hwm = rows[-1][0]
        state.prompt_keys += len(rows)
        added += len(rows)


def _load(state: _State, db_key: str, max_prompt_id: int) -> bool:
    directory = _index_dir()
    if not directory.is_dir():
        return False
    for meta_path in sorted(directory.glob(_file_prefix(db_key) + "*.json"), reverse=True):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        problems = []
        if meta.get("normalization_version") != NORMALIZATION_VERSION:
            problems.append("normalisation version")
        if abs(float(meta.get("threshold", -1)) - _threshold()) > 1e-9:
            problems.append("threshold")
        if int(meta.get("prompt_hwm", 0)) > max_prompt_id:
            problems.append("the database has fewer prompts than the file (reset database?)")
        if problems:
            log.warning("dedup index %s ignored (%s); rebuilding", meta_path.name, ", ".join(problems))
            continue
        try:
            index = NearDupIndex.load(meta_path.with_suffix(".pkl"))
        except (OSError, ValueError, TypeError, EOFError) as exc:
            log.warning("dedup index %s unreadable (%s); rebuilding", meta_path.name, exc)
            continue
        state.index = index
        state.prompt_hwm = int(meta["prompt_hwm"])
        state.release_hwm = int(meta["release_hwm"])
        state.prompt_keys = int(meta["prompt_keys"])
        state.release_prompt = {int(k): v for k, v in meta.get("release_prompt", {}).items()}
        state.synced_at = dt.datetime.fromisoformat(meta["synced_at"])
        state.added_since_save = 0
        log.info("dedup index loaded from %s (prompts up to id %d)", meta_path.name, state.prompt_hwm)
        return True
    return False


def _sync(state: _State) -> NearDupIndex:
    db_key = _db_key()
    max_id = Prompt.objects.aggregate(m=Max("pk"))["m"] or 0
    if state.index is not None and (state.db_key != db_key or state.prompt_hwm > max_id):
        log.warning("dedup index does not match the database any more; rebuilding")
        state.index = None
    if state.index is None:
        state.db_key = db_key
        if not _load(state, db_key, max_id):
            _build(state)
    now = timezone.now()
    added = _catch_up_prompts(state)
    # Prompts whose text was edited (a reviewer's final wording) since the last sync.
    if state.synced_at is not None:
        # New prompts are written with updated_at == created_at; only later saves can change the text.
        edited = Prompt.objects.filter(pk__lte=state.prompt_hwm, updated_at__gte=state.synced_at - _EDIT_SLACK,
                                       updated_at__gt=F("created_at"))
        changed = [
            (pk, text) for pk, text, h in edited.values_list("pk", "text", "normalized_hash").iterator(chunk_size=_CHUNK)
            if state.index.digest_of(("p", pk)) != h
        ]
        _add_prompts(state.index, changed)
        added += len(changed)
    released = _released_source(state.release_hwm)
    _add_released(state, released)
    added += len(released)
    state.synced_at = now
    # Deleted prompts (or rows of a rolled-back transaction) leave keys the pool no longer has.
    count = Prompt.objects.count()
    if count != state.prompt_keys:
        log.warning("dedup index holds %d prompts, the database %d; rebuilding", state.prompt_keys, count)
        _build(state)
    state.added_since_save += added
    if state.added_since_save >= _SAVE_EVERY:
        _save(state)
    return state.index


def _save(state: _State) -> Path | None:
    if state.index is None:
        return None
    directory = _index_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{_file_prefix(state.db_key)}p{state.prompt_hwm:012d}-r{state.release_hwm:012d}"
    pkl = directory / f"{stem}.pkl"
    state.index.save(pkl)
    meta = {
        "normalization_version": NORMALIZATION_VERSION,
        "threshold": _threshold(),
        "prompt_hwm": state.prompt_hwm,
        "release_hwm": state.release_hwm,
        "prompt_keys": state.prompt_keys,
        "release_prompt": {str(k): v for k, v in state.release_prompt.items()},
        "synced_at": (state.synced_at or timezone.now()).isoformat(),
    }
    tmp = directory / f"{stem}.json.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(directory / f"{stem}.json")
    for old in directory.glob(_file_prefix(state.db_key) + "*"):
        if not old.name.startswith(stem):
            old.unlink(missing_ok=True)
    state.added_since_save = 0
    return pkl


def persist() -> Path | None:
    """Write the index to disk now (end of a run), if it changed since the last save."""
    with _STATE.lock:
        if _STATE.index is None or not _STATE.added_since_save:
            return None
        return _save(_STATE)


def pool_index() -> NearDupIndex:
    """The in-memory index, caught up with the database."""
    with _STATE.lock:
        return _sync(_STATE)


def check_texts(texts: Sequence[str]) -> list[Verdict]:
    """Classify each text against the pool, the released items and the earlier texts of this call.

    Only "new" texts count as earlier texts, so keeping the new and near ones leaves no exact duplicate.
    """
    if not texts:
        return []
    with _STATE.lock:
        index = _sync(_STATE)
        results = index.check_batch(list(texts))
        release_prompt = dict(_STATE.release_prompt)
    verdicts = []
    for res in results:
        twin_prompt = twin_release = None
        if isinstance(res.twin_key, tuple):
            kind, key = res.twin_key
            if kind == "p":
                twin_prompt = key
            else:
                twin_release = key
                twin_prompt = release_prompt.get(key)
        verdicts.append(Verdict(res.status, res.normalized_hash, twin_prompt, twin_release, res.twin_batch_index,
                                res.similarity))
    # A twin that vanished (deleted since the sync) must not be linked.
    twin_ids = {v.twin_prompt_id for v in verdicts if v.twin_prompt_id}
    if twin_ids:
        alive = set(Prompt.objects.filter(pk__in=twin_ids).values_list("pk", flat=True))
        verdicts = [
            v if not v.twin_prompt_id or v.twin_prompt_id in alive or v.twin_release_item_id
            else Verdict("new", v.normalized_hash)
            for v in verdicts
        ]
    return verdicts


def stats() -> dict[str, Any]:
    with _STATE.lock:
        return {
            "loaded": _STATE.index is not None,
            "prompts": _STATE.prompt_keys,
            "released": len(_STATE.release_prompt),
            "prompt_hwm": _STATE.prompt_hwm,
        }
