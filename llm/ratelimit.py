"""Per-endpoint concurrency + request-rate limits (pure Python, no Django import).

Usage::

    lim = Limiter("deepseek-chat", max_concurrency=8, requests_per_minute=600,
                  redis_url="redis://127.0.0.1:6379/0")
    with lim.slot(timeout=300):        # raises LimiterTimeout if not granted in time
        ... one HTTP call ...

A slot is (1) one of ``max_concurrency`` concurrent leases, then (2) one request token of the
rate limit; the lease is held until the ``with`` block ends.  ``None``/``0`` disables either limit.

Backends and what holds
-----------------------
``redis`` (``redis_url`` given)
    Concurrency: a sorted set ``{prefix}:{key}:sem`` of lease tokens scored by their expiry
    (Redis server time, so clocks of client machines do not matter).  Acquire is an atomic Lua
    script that first drops expired leases, so a crashed holder frees its lease after
    ``lease_ttl`` seconds.  Live holders renew their leases from a background thread every
    ``lease_ttl/3`` s, so long calls never lose their lease.  Rate: GCRA (a token bucket
    expressed as a "theoretical arrival time") in one Lua script at ``{prefix}:{key}:rate``;
    each caller atomically *reserves* its start time and sleeps until then (no polling).
    Holds across threads, processes and machines sharing the Redis.
    If Redis is unreachable and ``fallback_on_error`` (default True) the call falls back to
    the local backend with a warning, and the limiter stays local for ``retry_backend_after``
    (30 s) before trying Redis again (limits then only hold inside this process).
``file`` (``lock_dir`` given, no Redis)
    Concurrency: ``max_concurrency`` lock files taken with ``flock`` (the OS drops the lock
    when a holder dies, so crashed holders never leak); rate: GCRA state in a file updated
    under ``flock``.  Holds across threads and processes on one machine (POSIX only).
``local`` (neither)
    Concurrency: a counting semaphore; rate: in-memory GCRA.  State is shared by every
    ``Limiter`` with the same ``key`` in the process, so it holds across threads (and across
    client objects) but NOT across processes.

Rate semantics: GCRA with emission interval ``T = 60/requests_per_minute`` s and ``burst``
(default 1).  In any window of length W at most ``burst + W/T`` requests start, so with
``burst=1`` no sliding 60 s window ever holds more than ``requests_per_minute`` starts, and
requests are spread evenly instead of bursting at the top of each minute.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Limiter", "LimiterTimeout", "SlotInfo"]


class LimiterTimeout(TimeoutError):
    """No slot was granted before the timeout."""


@dataclass
class SlotInfo:
    backend: str
    waited_s: float = 0.0          # total time spent waiting for the slot
    concurrency_wait_s: float = 0.0
    rate_wait_s: float = 0.0


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


# ---------------------------------------------------------------------------
# local backend (process-wide state per key)
# ---------------------------------------------------------------------------

class _LocalState:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.inflight = 0
        self.rate_lock = threading.Lock()
        self.tat = 0.0  # monotonic seconds


_LOCAL: dict[str, _LocalState] = {}
_LOCAL_LOCK = threading.Lock()


def _local_state(key: str) -> _LocalState:
    with _LOCAL_LOCK:
        st = _LOCAL.get(key)
        if st is None:
            st = _LOCAL[key] = _LocalState()
        return st


class _LocalBackend:
    name = "local"

    def __init__(self, lim: Limiter):
        self.lim = lim
        self.st = _local_state(lim.key)

    def acquire(self, deadline: float | None) -> Any:
        limit = self.lim.max_concurrency
        with self.st.cond:
            while limit and self.st.inflight >= limit:
                rem = _remaining(deadline)
                if rem is not None and rem <= 0:
                    return None
                self.st.cond.wait(timeout=rem)
            self.st.inflight += 1
        return True

    def release(self, token: Any) -> None:
        with self.st.cond:
            self.st.inflight -= 1
            self.st.cond.notify()

    def reserve(self, interval: float, tau: float, max_wait: float | None) -> float | None:
        """GCRA reservation; returns seconds to wait, or None if that exceeds max_wait."""
        with self.st.rate_lock:
            now = time.monotonic()
            tat = max(self.st.tat, now)
            wait = max(0.0, tat - tau - now)
            if max_wait is not None and wait > max_wait:
                return None
            self.st.tat = tat + interval
            return wait

    def inflight(self) -> int:
        return self.st.inflight


# ---------------------------------------------------------------------------
# redis backend
# ---------------------------------------------------------------------------

_SEM_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0
"""

_SEM_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0
"""

# GCRA: ARGV = interval_ms, tau_ms, max_wait_ms (-1 = unbounded).
# Returns wait in ms (>= 0) after reserving, or -1 if the wait would exceed max_wait (nothing reserved).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tau - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then return -1 end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return math.ceil(wait)
"""

_REDIS_CLIENTS: dict[str, Any] = {}
_REDIS_LOCK = threading.Lock()


def _redis_client(url: str) -> Any:
    import redis  # lazy: only needed for the redis backend

    with _REDIS_LOCK:
        cli = _REDIS_CLIENTS.get(url)
        if cli is None:
            cli = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                       health_check_interval=30)
            _REDIS_CLIENTS[url] = cli
        return cli


class _Renewer:
    """One daemon thread renewing every live Redis lease of the process at ttl/3 intervals."""

    def __init__(self) -> None:
        # (sem_key, token) -> [script, client, ttl_s, next_due_monotonic]
        self.leases: dict[tuple[str, str], list[Any]] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, sem_key: str, token: str, script: Any, client: Any, ttl_s: float) -> None:
        with self.lock:
            self.leases[(sem_key, token)] = [script, client, ttl_s, time.monotonic() + ttl_s / 3.0]
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="llm-limiter-renew", daemon=True)
                self.thread.start()
        self.wake.set()

    def remove(self, sem_key: str, token: str) -> None:
        with self.lock:
            self.leases.pop((sem_key, token), None)

    def _run(self) -> None:
        while True:
            with self.lock:
                next_due = min((v[3] for v in self.leases.values()), default=time.monotonic() + 30.0)
            self.wake.wait(max(0.0, next_due - time.monotonic()))
            self.wake.clear()
            now = time.monotonic()
            with self.lock:
                due = [(k, v) for k, v in self.leases.items() if v[3] <= now]
            for (sem_key, token), (script, client, ttl_s, _) in due:
                try:
                    ok = script(keys=[sem_key], args=[token, int(ttl_s * 1000)], client=client)
                except Exception as exc:  # redis down: retry soon; the lease expires by itself
                    log.warning("limiter lease renewal failed for %s: %s", sem_key, exc)
                    ok = True
                with self.lock:
                    entry = self.leases.get((sem_key, token))
                    if entry is None:
                        continue
                    if not ok:
                        log.warning("limiter lease %s on %s expired before renewal", token, sem_key)
                        self.leases.pop((sem_key, token), None)
                    else:
                        entry[3] = time.monotonic() + ttl_s / 3.0


_RENEWER = _Renewer()

# in-process wake-ups for redis/file waiters of the same key (cross-process waiters poll)
_WAKE: dict[str, threading.Condition] = {}


def _wake_cond(key: str) -> threading.Condition:
    with _LOCAL_LOCK:
        c = _WAKE.get(key)
        if c is None:
            c = _WAKE[key] = threading.Condition()
        return c


class _RedisBackend:
    name = "redis"

    def __init__(self, lim: Limiter):
        self.lim = lim
        self.client = _redis_client(lim.redis_url)
        self.sem_key = f"{lim.prefix}:{lim.key}:sem"
        self.rate_key = f"{lim.prefix}:{lim.key}:rate"
        self._acq = self.client.register_script(_SEM_ACQUIRE)
        self._renew = self.client.register_script(_SEM_RENEW)
        self._gcra = self.client.register_script(_GCRA)
        self.cond = _wake_cond("redis:" + self.sem_key)

    def acquire(self, deadline: float | None) -> Any:
        limit = self.lim.max_concurrency
        if not limit:
            return True
        token = uuid.uuid4().hex
        ttl_ms = int(self.lim.lease_ttl * 1000)
        while True:
            if self._acq(keys=[self.sem_key], args=[limit, token, ttl_ms]):
                _RENEWER.add(self.sem_key, token, self._renew, self.client, self.lim.lease_ttl)
                return token
            rem = _remaining(deadline)
            if rem is not None and rem <= 0:
                return None
            wait = self.lim.poll_interval if rem is None else min(self.lim.poll_interval, rem)
            with self.cond:
                self.cond.wait(timeout=wait)

    def release(self, token: Any) -> None:
        if token is True:
            return
        _RENEWER.remove(self.sem_key, token)
        try:
            self.client.zrem(self.sem_key, token)
        finally:
            with self.cond:
                self.cond.notify()

    def reserve(self, interval: float, tau: float, max_wait: float | None) -> float | None:
        mw = -1 if max_wait is None else int(max_wait * 1000)
        res = int(self._gcra(keys=[self.rate_key], args=[interval * 1000, tau * 1000, mw]))
        return None if res < 0 else res / 1000.0

    def inflight(self) -> int:
        now_ms = int(time.time() * 1000)
        return int(self.client.zcount(self.sem_key, now_ms, "+inf"))


# ---------------------------------------------------------------------------
# file backend (flock; one machine, many processes)
# ---------------------------------------------------------------------------

def _safe(key: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:80]
    return f"{s}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


class _FileBackend:
    name = "file"

    def __init__(self, lim: Limiter):
        import fcntl  # POSIX only

        self.fcntl = fcntl
        self.lim = lim
        os.makedirs(lim.lock_dir, exist_ok=True)
        self.base = os.path.join(lim.lock_dir, _safe(f"{lim.prefix}:{lim.key}"))
        self.cond = _wake_cond("file:" + self.base)

    def acquire(self, deadline: float | None) -> Any:
        limit = self.lim.max_concurrency
        if not limit:
            return True
        while True:
            for i in range(limit):
                fd = os.open(f"{self.base}.slot{i}", os.O_RDWR | os.O_CREAT, 0o666)
                try:
                    self.fcntl.flock(fd, self.fcntl.LOCK_EX | self.fcntl.LOCK_NB)
                    return fd
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
            rem = _remaining(deadline)
            if rem is not None and rem <= 0:
                return None
            wait = self.lim.poll_interval if rem is None else min(self.lim.poll_interval, rem)
            with self.cond:
                self.cond.wait(timeout=wait)

    def release(self, token: Any) -> None:
        if token is True:
            return
        try:
            self.fcntl.flock(token, self.fcntl.LOCK_UN)
        finally:
            os.close(token)
            with self.cond:
                self.cond.notify()

    def reserve(self, interval: float, tau: float, max_wait: float | None) -> float | None:
        fd = os.open(f"{self.base}.rate", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            self.fcntl.flock(fd, self.fcntl.LOCK_EX)
            raw = os.pread(fd, 64, 0).decode().strip()
            now = time.time()
            try:
                tat = float(raw) if raw else 0.0
            except ValueError:
                tat = 0.0
            tat = max(tat, now)
            wait = max(0.0, tat - tau - now)
            if max_wait is not None and wait > max_wait:
                return None
            data = f"{tat + interval:.6f}".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            return wait
        finally:
            with contextlib.suppress(OSError):
                self.fcntl.flock(fd, self.fcntl.LOCK_UN)
            os.close(fd)

    def inflight(self) -> int:
        n = 0
        for i in range(self.lim.max_concurrency or 0):
            fd = os.open(f"{self.base}.slot{i}", os.O_RDWR | os.O_CREAT, 0o666)
            try:
                self.fcntl.flock(fd, self.fcntl.LOCK_EX | self.fcntl.LOCK_NB)
                self.fcntl.flock(fd, self.fcntl.LOCK_UN)
            except OSError:
                n += 1
            finally:
                os.close(fd)
        return n


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------

class Limiter:
    """Concurrency + RPM limit for one endpoint key (see module docstring for guarantees)."""

    def __init__(self, key: str, max_concurrency: int | None = None, requests_per_minute: float | None = None,
                 redis_url: str | None = None, *, burst: int = 1, lease_ttl: float = 60.0,
                 lock_dir: str | None = None, prefix: str = "livesec:llm:limit",
                 fallback_on_error: bool = True, poll_interval: float = 0.02):
        self.key = key
        self.max_concurrency = int(max_concurrency or 0)
        self.requests_per_minute = float(requests_per_minute or 0)
        self.redis_url = redis_url
        self.burst = max(1, int(burst))
        self.lease_ttl = float(lease_ttl)
        self.lock_dir = lock_dir
        self.prefix = prefix
        self.fallback_on_error = fallback_on_error
        self.poll_interval = poll_interval
        self._local = _LocalBackend(self)
        if redis_url:
            self._backend: Any = _RedisBackend(self)
        elif lock_dir:
            self._backend = _FileBackend(self)
        else:
            self._backend = self._local
        self._warned = False
        self._down_until = 0.0
        self.retry_backend_after = 30.0

    @property
    def backend(self) -> str:
        return self._backend.name

    def __repr__(self) -> str:
        return (f"Limiter({self.key!r}, max_concurrency={self.max_concurrency}, "
                f"requests_per_minute={self.requests_per_minute:g}, backend={self.backend!r})")

    def _fallback(self, exc: Exception) -> Any:
        if not self.fallback_on_error or self._backend is self._local:
            raise exc
        # circuit breaker: don't pay a connect timeout on every call while Redis is down
        self._down_until = time.monotonic() + self.retry_backend_after
        if not self._warned:
            log.warning("limiter %s: %s backend failed (%s); using the in-process limiter for %ss",
                        self.key, self._backend.name, exc, self.retry_backend_after)
            self._warned = True
        return self._local

    def _redis_errors(self) -> tuple[type[BaseException], ...]:
        if self._backend.name != "redis":
            return ()
        import redis

        return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    @contextlib.contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[SlotInfo]:
        """Hold one concurrency lease and one rate token; raises :class:`LimiterTimeout`."""
        t0 = time.monotonic()
        deadline = None if timeout is None else t0 + timeout
        errors = self._redis_errors()
        backend = self._backend
        if self._down_until and time.monotonic() < self._down_until:
            backend, errors = self._local, ()
        try:
            token = backend.acquire(deadline)
        except errors as exc:
            backend = self._fallback(exc)
            token = backend.acquire(deadline)
        if token is None:
            raise LimiterTimeout(f"no concurrency slot for {self.key!r} within {timeout}s "
                                 f"(max_concurrency={self.max_concurrency})")
        t1 = time.monotonic()
        info = SlotInfo(backend=backend.name, concurrency_wait_s=t1 - t0)
        try:
            if self.requests_per_minute > 0:
                interval = 60.0 / self.requests_per_minute
                tau = interval * (self.burst - 1)
                max_wait = _remaining(deadline)
                if max_wait is not None:
                    max_wait = max(0.0, max_wait)
                try:
                    wait = backend.reserve(interval, tau, max_wait)
                except errors as exc:
                    wait = self._fallback(exc).reserve(interval, tau, max_wait)
                if wait is None:
                    raise LimiterTimeout(f"rate limit for {self.key!r} "
                                         f"({self.requests_per_minute:g}/min) not granted within {timeout}s")
                if wait > 0:
                    time.sleep(wait)
                info.rate_wait_s = time.monotonic() - t1
            info.waited_s = time.monotonic() - t0
            yield info
        finally:
            try:
                backend.release(token)
            except errors as exc:  # lease will expire via TTL
                log.warning("limiter %s: release failed (%s); lease expires in %ss", self.key, exc,
                            self.lease_ttl)

    def inflight(self) -> int:
        """Current number of held leases (as seen by this backend)."""
        return self._backend.inflight()

    def reset(self) -> None:
        """Forget rate state and leases (tests/admin)."""
        if self._backend.name == "redis":
            self._backend.client.delete(self._backend.sem_key, self._backend.rate_key)
        elif self._backend.name == "file":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self._backend.base}.rate")
        st = _local_state(self.key)
        with st.rate_lock:
            st.tat = 0.0
