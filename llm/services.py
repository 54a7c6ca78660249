"""Every write of the llm app, and the one way the project builds a client for an endpoint."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import bulk

from .client import EndpointConfig, GuardedHttpClient, LLMClient, LLMResult, http_client
from .models import ENV_NAME_RE, LLMCall, ModelEndpoint, ResponseCacheEntry
from .ratelimit import Limiter

log = logging.getLogger(__name__)

ENDPOINT_FIELDS = (
    "name", "base_url", "model", "api_key_env", "max_concurrency", "requests_per_minute", "timeout",
    "default_params", "is_reasoning", "notes",
)


class EndpointError(ValueError):
    pass


MAX_TIMEOUT = 3600.0


def endpoint_validate(values: Mapping[str, Any]) -> None:
    """The rules every write of an endpoint checks (pages, API, admin, commands); raises EndpointError."""
    base_url = values.get("base_url")
    if base_url is not None and not re.match(r"https?://", str(base_url), re.I):
        raise EndpointError("base_url must be an http:// or https:// URL")
    key_env = values.get("api_key_env") or ""
    if key_env and not ENV_NAME_RE.match(key_env):
        # A pasted key ("sk-...") here would be stored in the database: refuse anything but a variable name.
        raise EndpointError("api_key_env must be the NAME of an environment variable (A-Z, 0-9, _), never the key")
    if "max_concurrency" in values and int(values["max_concurrency"]) < 1:
        raise EndpointError("max_concurrency must be at least 1")
    if "timeout" in values and not 0 < float(values["timeout"]) <= MAX_TIMEOUT:
        # Far larger values overflow the socket's own timeout: every call, the connection test first, failed.
        raise EndpointError(f"timeout must be positive and at most {MAX_TIMEOUT:g} seconds")
    if "default_params" in values and not isinstance(values["default_params"], dict):
        raise EndpointError("default_params must be a JSON object")


@transaction.atomic
def endpoint_create(*, name: str, base_url: str, model: str, **fields: Any) -> ModelEndpoint:
    unknown = set(fields) - set(ENDPOINT_FIELDS)
    if unknown:
        raise EndpointError(f"unknown endpoint fields: {sorted(unknown)}")
    values = {"name": name, "base_url": base_url, "model": model, **fields}
    endpoint_validate(values)
    if ModelEndpoint.objects.filter(name=name).exists():
        raise EndpointError(f"an endpoint named {name!r} already exists")
    endpoint = ModelEndpoint(**values)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: ModelEndpoint, **fields: Any) -> ModelEndpoint:
    unknown = set(fields) - set(ENDPOINT_FIELDS)
    if unknown:
        raise EndpointError(f"unknown endpoint fields: {sorted(unknown)}")
    endpoint_validate(fields)
    if "name" in fields and ModelEndpoint.objects.filter(name=fields["name"]).exclude(pk=endpoint.pk).exists():
        raise EndpointError(f"an endpoint named {fields['name']!r} already exists")
    for key, value in fields.items():
        setattr(endpoint, key, value)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_upsert(*, name: str, **fields: Any) -> tuple[ModelEndpoint, bool]:
    """Create the endpoint, or update it if the name exists (demo seeding, `add_endpoint`)."""
    existing = ModelEndpoint.objects.filter(name=name).first()
    if existing is None:
        return endpoint_create(name=name, **fields), True
    return endpoint_update(endpoint=existing, **fields), False


# -- client -----------------------------------------------------------------------------------


def endpoint_config(endpoint: ModelEndpoint) -> EndpointConfig:
    return EndpointConfig(
        name=endpoint.name,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else "",
        max_concurrency=endpoint.max_concurrency,
        requests_per_minute=float(endpoint.requests_per_minute or 0),
        timeout=float(endpoint.timeout),
        default_params=dict(endpoint.default_params or {}),
        is_reasoning=endpoint.is_reasoning,
    )


def limiter_for(endpoint: ModelEndpoint, *, concurrency: bool = True, rate: bool = True) -> Limiter:
    """Limits shared by every process: Redis when configured, else lock files under VAR_DIR.

    `concurrency=False` or `rate=False` leaves that limit out, for a caller that takes it apart: a pool of
    threads that each hold one concurrency slot for many calls, with a client taking rate tokens per call.
    """
    redis_url = getattr(settings, "REDIS_URL", "") or None
    lock_dir = None if redis_url else str(settings.VAR_DIR / "llm-locks")
    return Limiter(
        f"endpoint:{endpoint.name}",
        endpoint.max_concurrency if concurrency else None,
        (endpoint.requests_per_minute or None) if rate else None,
        redis_url=redis_url,
        lock_dir=lock_dir,
        lease_ttl=float(getattr(settings, "LLM_LIMITER_LEASE_SECONDS", 60.0)),
    )


class _OwnedBuffer:
    """Rows collected from any thread, written to the database only by the thread that made the client.

    Worker threads of a run only talk HTTP: a database connection per thread would need closing, and
    on SQLite a second writer waits for the first. The owning thread writes as soon as it can.
    """

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.lock = threading.Lock()

    def _owned(self) -> bool:
        return threading.get_ident() == self.owner


_CALL_FIELDS = ("endpoint_id", "endpoint_name", "model", "purpose", "latency_ms", "prompt_tokens",
                "completion_tokens", "outcome", "attempts", "status_code", "error", "cached", "created_at")


class CallRecorder(_OwnedBuffer):
    """An `LLMCall` row per chat(), written in bulk (COPY on PostgreSQL) by the owning thread."""

    def __init__(self, endpoint: ModelEndpoint, purpose: str = "") -> None:
        super().__init__()
        self.endpoint_id = endpoint.pk
        self.purpose = purpose[:50]
        self.rows: list[tuple] = []

    def __call__(self, row: dict[str, Any]) -> None:
        stamp = row.get("timestamp")
        call = (
            self.endpoint_id,
            row["endpoint"][:100],
            str(row.get("model") or "")[:200],
            self.purpose,
            float(row.get("latency_ms") or 0),
            row.get("prompt_tokens"),
            row.get("completion_tokens"),
            row["outcome"],
            int(row.get("attempts") or 0),
            row.get("status_code"),
            (row.get("error") or "")[:2000],
            bool(row.get("cached")),
            dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if stamp else timezone.now(),
        )
        with self.lock:
            self.rows.append(call)
        if self._owned():
            self.flush()

    def flush(self) -> int:
        with self.lock:
            rows, self.rows = self.rows, []
        if rows:
            bulk.insert_rows(LLMCall, _CALL_FIELDS, rows)
        return len(rows)


class DBResponseCache(_OwnedBuffer):
    """Response cache in the database; other threads read what the owner preloaded and buffer writes."""

    def __init__(self, endpoint_name: str) -> None:
        super().__init__()
        self.endpoint_name = endpoint_name
        self.known: dict[str, Any] = {}
        self.missing: set[str] = set()
        self.pending: dict[str, Any] = {}

    def preload(self, keys: Iterable[str]) -> int:
        keys = [k for k in keys if k not in self.known]
        found = dict(ResponseCacheEntry.objects.filter(cache_key__in=keys).values_list("cache_key", "response"))
        with self.lock:
            self.known.update(found)
            self.missing.update(k for k in keys if k not in found)
        return len(found)

    def get(self, key: str) -> Any:
        with self.lock:
            if key in self.known:
                return self.known[key]
            if key in self.missing:
                return None
        if not self._owned():
            return None  # not preloaded: treat as a miss rather than open a connection here
        value = ResponseCacheEntry.objects.filter(cache_key=key).values_list("response", flat=True).first()
        with self.lock:
            if value is None:
                self.missing.add(key)
            else:
                self.known[key] = value
        return value

    def set(self, key: str, value: Any) -> None:
        with self.lock:
            self.known[key] = value
            self.missing.discard(key)
            self.pending[key] = value
        if self._owned():
            self.flush()

    def flush(self) -> int:
        with self.lock:
            pending, self.pending = self.pending, {}
        if pending:
            ResponseCacheEntry.objects.bulk_create(
                [ResponseCacheEntry(cache_key=k, endpoint_name=self.endpoint_name[:100], response=v)
                 for k, v in pending.items()],
                ignore_conflicts=True,
            )
        return len(pending)


def http_pool() -> GuardedHttpClient:
    """An HTTP connection pool for the clients of one process (`client_for(..., http_client=...)`), with the
    outbound limits of llm.client and the size limit of the settings."""
    return http_client(max_response_bytes=settings.LLM_MAX_RESPONSE_BYTES)


def client_for(endpoint: ModelEndpoint, *, purpose: str = "", cache: bool = True,
               limiter: Limiter | None = None, **client_kwargs: Any) -> LLMClient:
    """An LLMClient for this endpoint with shared limits, the response cache and call records.

    Calls made from other threads are recorded and cached by the creating thread at `client_flush`.
    """
    options = dict(getattr(settings, "LLM_CLIENT_OPTIONS", {}) or {})
    options["max_response_bytes"] = settings.LLM_MAX_RESPONSE_BYTES  # for a client with its own HTTP pool
    options.update(client_kwargs)
    client = LLMClient(
        endpoint_config(endpoint),
        limiter=limiter or limiter_for(endpoint),
        cache=DBResponseCache(endpoint.name) if cache else None,
        recorder=CallRecorder(endpoint, purpose),
        **options,
    )
    return client


def client_flush(client: LLMClient) -> None:
    """Write the call records and cache entries collected from worker threads."""
    if isinstance(client.recorder, CallRecorder):
        client.recorder.flush()
    if isinstance(client.cache, DBResponseCache):
        client.cache.flush()


def endpoint_test(*, endpoint: ModelEndpoint) -> LLMResult:
    """One tiny chat call, uncached, so a maintainer sees at once whether the endpoint answers."""
    with client_for(endpoint, purpose="connection-test", cache=False, max_attempts=1) as client:
        result = client.chat([{"role": "user", "content": "你好，请回复“连接正常”。"}], use_cache=False, max_tokens=32)
        client_flush(client)
    return result
