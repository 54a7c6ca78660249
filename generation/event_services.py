"""Writes for event sources: create and edit sources, fetch them (feeds and drop folders), store new events
without duplicates, suggest the dimensions they may touch and let a maintainer confirm them.

An event is a duplicate of a stored one when its link is the same or its title key
(:func:`generation.event_sources.title_key`: NFKC, traditional -> simplified, punctuation and spaces removed) is.
Fetching is idempotent: a redelivered task stores nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from core.queue import task
from curation.models import Dimension, Taxonomy
from curation.text import UnstorableText, check_storable

from . import event_sources as es
from . import services as gen
from .models import Event, EventSource

log = logging.getLogger(__name__)

KEYWORDS_FILE = Path(settings.BASE_DIR) / "fixtures" / "event_keywords.json"
PROCESSED_DIR, FAILED_DIR = "processed", "failed"
MAX_MESSAGES = 50


class SourceError(ValueError):
    """A source's settings were refused; the message says why."""


@dataclass
class FetchReport:
    created: int = 0
    duplicates: int = 0
    invalid: int = 0
    messages: list[str] = field(default_factory=list)
    error: str = ""


# -- sources ---------------------------------------------------------------------------------------------------


def folder_path(folder: str) -> Path:
    """The folder of a folder source, which must lie under EVENT_FOLDER_ROOT (no absolute path, no ``..``)."""
    root = Path(settings.EVENT_FOLDER_ROOT).resolve()
    rel = Path(folder.strip())
    if not folder.strip() or rel.is_absolute() or ".." in rel.parts:
        raise SourceError(gettext("The folder must be a relative path under the event drop folder."))
    path = (root / rel).resolve()
    if path != root and root not in path.parents:
        raise SourceError(gettext("The folder must be a relative path under the event drop folder."))
    return path


def _check_source(source: EventSource) -> None:
    for value in (source.name, source.url, source.folder):
        check_storable(value)
    source.name = source.name.strip()
    if not source.name:
        raise SourceError(gettext("A source needs a name."))
    if source.kind == EventSource.Kind.FEED:
        source.folder = ""
        if not source.url.strip():
            raise SourceError(gettext("A feed source needs a URL."))
        try:
            es.check_url(source.url, allow_private=True)  # the address is checked again at each fetch
        except es.FetchRefused as exc:
            raise SourceError(str(exc)) from exc
    elif source.kind == EventSource.Kind.FOLDER:
        source.url = ""
        folder_path(source.folder)
        source.folder = Path(source.folder.strip()).as_posix()
    else:
        source.url = source.folder = ""
    if source.fetch_interval_minutes < 1:
        raise SourceError(gettext("The fetch interval is at least one minute."))


@transaction.atomic
def event_source_create(*, kind: str, name: str, url: str = "", folder: str = "", enabled: bool = True,
                        fetch_interval_minutes: int = 60, actor=None) -> EventSource:
    if kind not in EventSource.Kind.values:
        raise SourceError(gettext("Unknown source kind."))
    source = EventSource(kind=kind, name=name, url=url.strip(), folder=folder, enabled=enabled,
                         fetch_interval_minutes=fetch_interval_minutes, created_by=actor)
    _check_source(source)
    if EventSource.objects.filter(name=source.name).exists():
        raise SourceError(gettext("A source with this name exists already."))
    source.save()
    return source


@transaction.atomic
def event_source_update(*, source: EventSource, **fields: Any) -> EventSource:
    allowed = {"kind", "name", "url", "folder", "enabled", "fetch_interval_minutes"}
    unknown = set(fields) - allowed
    if unknown:
        raise SourceError(gettext("unknown source fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    if "kind" in fields and fields["kind"] not in EventSource.Kind.values:
        raise SourceError(gettext("Unknown source kind."))
    for key, value in fields.items():
        setattr(source, key, value.strip() if key == "url" else value)
    _check_source(source)
    if EventSource.objects.filter(name=source.name).exclude(pk=source.pk).exists():
        raise SourceError(gettext("A source with this name exists already."))
    source.save()
    return source


# -- dimensions ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _keyword_table() -> dict[str, list[str]]:
    try:
        return json.loads(KEYWORDS_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def dimension_rules() -> tuple[dict[str, list[str]], dict[str, Dimension]]:
    """Keyword rules of the newest taxonomy's dimensions (names, description terms, sub-dimensions and the
    keyword table in fixtures/event_keywords.json) and those dimensions by code."""
    taxonomy = Taxonomy.objects.order_by("-released_on", "-id").first()
    if taxonomy is None:
        return {}, {}
    dims = list(Dimension.objects.filter(taxonomy=taxonomy).prefetch_related("sub_dimensions"))
    rules = es.build_rules(
        [{"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "description": d.description,
          "sub_dimensions": [{"name_zh": s.name_zh, "name_en": s.name_en} for s in d.sub_dimensions.all()]}
         for d in dims],
        _keyword_table(),
    )
    return rules, {d.code: d for d in dims}


@transaction.atomic
def event_dimensions_confirm(*, event: Event, dimensions, actor) -> Event:
    """The maintainer's word on which dimensions an event touches (possibly none)."""
    event.dimensions.set(dimensions)
    event.dimensions_confirmed = True
    event.dimensions_confirmed_by = actor
    event.dimensions_confirmed_at = timezone.now()
    event.save(update_fields=["dimensions_confirmed", "dimensions_confirmed_by", "dimensions_confirmed_at",
                              "updated_at"])
    return event


# -- storing ---------------------------------------------------------------------------------------------------


def _is_duplicate(item: es.ParsedEvent, key: str) -> bool:
    # A title of only punctuation has an empty key: such events are told apart by their link alone.
    match = Q(title_key=key) if key else Q(pk__in=[])
    if item.url:
        match |= Q(source_url=item.url)
    return Event.objects.filter(match).exists()


def event_ingest(*, source: EventSource, item: es.ParsedEvent, rules: dict[str, list[str]],
                 dims: dict[str, Dimension]) -> bool:
    """Store one fetched event unless it duplicates a stored one; True when it was stored."""
    key = es.title_key(item.title)
    if _is_duplicate(item, key):
        return False
    try:
        with transaction.atomic():
            event = gen.event_create(title=item.title, date=item.date, summary=item.summary, source_url=item.url,
                                     tags=item.tags, source=source)
            codes = es.suggest_dimensions(f"{item.title}\n{item.summary}\n{' '.join(item.tags)}", rules)
            if codes:
                event.dimensions.set([dims[c] for c in codes if c in dims])
    except IntegrityError:  # stored meanwhile by another worker
        return False
    return True


def _ingest_all(source: EventSource, parsed: es.ParseResult, report: FetchReport) -> None:
    rules, dims = dimension_rules()
    report.invalid += len(parsed.errors)
    report.messages += parsed.errors
    for item in parsed.events:
        try:
            stored = event_ingest(source=source, item=item, rules=rules, dims=dims)
        except (ValueError, UnstorableText, ValidationError) as exc:
            report.invalid += 1
            detail = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            report.messages.append(f"{item.title[:60]!r}: {detail}")
            continue
        if stored:
            report.created += 1
        else:
            report.duplicates += 1


@transaction.atomic
def event_source_push(*, source: EventSource, rows: list[dict[str, Any]]) -> FetchReport:
    """Events sent to an API source ({title, date, summary, url, tags} each), stored like fetched ones."""
    report = FetchReport()
    parsed = es.parse_json_events(json.dumps(rows, default=str), jsonl=False, today=timezone.localdate())
    _ingest_all(source, parsed, report)
    return report


# -- fetching --------------------------------------------------------------------------------------------------


def _fetch_feed(source: EventSource, report: FetchReport, today: dt.date) -> None:
    body = es.fetch_feed(source.url, timeout=settings.EVENT_FETCH_TIMEOUT, max_bytes=settings.EVENT_FETCH_MAX_BYTES,
                         allow_private=settings.EVENT_FETCH_ALLOW_PRIVATE, allow_hosts=settings.EVENT_FETCH_ALLOW_HOSTS)
    try:
        parsed = es.parse_feed(body, today=today)
    except ValueError as exc:
        raise es.FetchRefused(str(exc)) from exc
    _ingest_all(source, parsed, report)


def _move(path: Path, folder: str) -> None:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}.{timezone.now():%Y%m%d%H%M%S%f}{path.suffix}"
    try:
        path.rename(target)
    except FileNotFoundError:  # taken by a concurrent fetch of the same source
        pass


def _fetch_folder(source: EventSource, report: FetchReport, today: dt.date) -> None:
    """Read every *.json / *.jsonl file of the folder (not below it), then move it to processed/ (or failed/
    when the whole file is unreadable). Files that resolve outside the folder (symlinks) are left alone."""
    folder = folder_path(source.folder)
    if not folder.is_dir():
        raise es.FetchRefused(gettext("The folder %(folder)s does not exist.") % {"folder": source.folder})
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".json", ".jsonl") or not path.is_file():
            continue
        if path.resolve().parent != folder:
            report.messages.append(f"{path.name}: outside the folder, skipped")
            continue
        if path.stat().st_size > settings.EVENT_FETCH_MAX_BYTES:
            report.messages.append(f"{path.name}: larger than {settings.EVENT_FETCH_MAX_BYTES} bytes, not read")
            report.invalid += 1
            _move(path, FAILED_DIR)
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")
            parsed = es.parse_json_events(text, jsonl=path.suffix.lower() == ".jsonl", today=today)
        except (ValueError, UnicodeDecodeError) as exc:
            report.messages.append(f"{path.name}: {exc}")
            report.invalid += 1
            _move(path, FAILED_DIR)
            continue
        before = len(report.messages)
        _ingest_all(source, parsed, report)
        report.messages[before:] = [f"{path.name}: {m}" for m in report.messages[before:]]
        _move(path, PROCESSED_DIR)


def event_source_fetch(*, source: EventSource) -> FetchReport:
    """Fetch one source now: store its new events, skip duplicates, and record the counts and the error (if
    any) on the source. An API source has nothing to fetch."""
    report = FetchReport()
    today = timezone.localdate()
    started = timezone.now()
    try:
        if source.kind == EventSource.Kind.FEED:
            _fetch_feed(source, report, today)
        elif source.kind == EventSource.Kind.FOLDER:
            _fetch_folder(source, report, today)
        else:
            report.error = gettext("An API source receives its events through the API; there is nothing to fetch.")
    except (es.FetchRefused, SourceError, OSError) as exc:
        report.error = str(exc)[:2000]
    updates = {"last_fetched_at": started, "last_error": report.error, "last_created": report.created,
               "last_duplicates": report.duplicates, "last_invalid": report.invalid,
               "last_messages": [m[:300] for m in report.messages[:MAX_MESSAGES]]}
    if not report.error:
        updates["last_ok_at"] = started
    EventSource.objects.filter(pk=source.pk).update(**updates)
    for key, value in updates.items():
        setattr(source, key, value)
    log.info("event source %s: %s new, %s duplicates, %s skipped%s", source.name, report.created,
             report.duplicates, report.invalid, f"; error: {report.error}" if report.error else "")
    return report


def event_sources_due(*, now=None) -> list[EventSource]:
    now = now or timezone.now()
    return [s for s in EventSource.objects.filter(enabled=True, kind__in=EventSource.FETCHED) if s.is_due(now)]


def event_source_enqueue(*, source: EventSource) -> None:
    """Queue a fetch of the source once the current transaction commits."""
    event_source_fetch_task = task("generation.tasks.event_source_fetch_task")

    transaction.on_commit(lambda: event_source_fetch_task.delay(source.pk))


def event_sources_enqueue_due(*, now=None) -> list[EventSource]:
    """What the periodic task does: queue one fetch task per enabled source that is due."""
    due = event_sources_due(now=now)
    for source in due:
        event_source_enqueue(source=source)
    return due
