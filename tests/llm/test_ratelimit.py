"""Limiter: concurrency and RPM across threads (local, redis, file) and processes (redis, file)."""

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from llm.ratelimit import Limiter, LimiterTimeout

from .conftest import sim_stats

ROOT = Path(__file__).resolve().parents[2]


def _key(tag):
    return f"test-{tag}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["local", "redis", "file"])
def backend(request, tmp_path):
    """kwargs selecting a backend for Limiter()."""
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    if request.param == "file":
        return {"lock_dir": str(tmp_path / "locks")}
    return {}


def _hammer(client, threads, calls_each):
    errors = []

    def work():
        for _ in range(calls_each):
            r = client.chat("并发测试 " + uuid.uuid4().hex)
            if not r.ok:
                errors.append(r.error)

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return errors


def test_concurrency_never_exceeds_limit(fresh_sim, make_client, backend):
    fresh_sim.set_latency(60)
    lim = Limiter(_key("conc"), max_concurrency=2, requests_per_minute=None, **backend)
    assert lim.backend == (backend and ("redis" if "redis_url" in backend else "file") or "local")
    c = make_client(fresh_sim, limiter=lim)
    errors = _hammer(c, threads=8, calls_each=2)
    st = sim_stats(fresh_sim)
    assert errors == []
    assert st["requests"] == 16
    assert st["max_inflight"] == 2
    assert lim.inflight() == 0


def test_no_limit_means_full_parallelism(fresh_sim, make_client):
    """The simulator sleeps per request thread: 16 clients x 100 ms must not serialise."""
    fresh_sim.set_latency(100)
    c = make_client(fresh_sim, limiter=Limiter(_key("free"), max_concurrency=16))
    assert _hammer(c, threads=16, calls_each=2) == []
    assert sim_stats(fresh_sim)["max_inflight"] >= 12  # 16 unless the machine is very busy


def test_rpm_spacing(fresh_sim, make_client, backend):
    """With burst=1 the k-th request cannot start before t0 + k*60/rpm (arrival >= reservation),
    which is the guarantee; scheduling delays may only make requests later, never earlier."""
    rpm = 1200  # one start per 50 ms
    interval = 60 / rpm
    lim = Limiter(_key("rpm"), max_concurrency=4, requests_per_minute=rpm, **backend)
    c = make_client(fresh_sim, limiter=lim)
    t0_wall, t0 = time.time(), time.monotonic()
    assert _hammer(c, threads=3, calls_each=3) == []
    elapsed = time.monotonic() - t0
    starts = sorted(e["start"] for e in sim_stats(fresh_sim, log=True)["log"])
    assert len(starts) == 9
    for k, s in enumerate(starts):
        assert s >= t0_wall + k * interval - 0.005, (k, s - t0_wall)
    assert elapsed >= 8 * interval


def test_rpm_window_count_direct(backend):
    """The k-th slot entry never comes before t0 + k*interval (so no window holds more than its share)."""
    rpm = 2400  # 40/s -> 25 ms
    lim = Limiter(_key("win"), max_concurrency=None, requests_per_minute=rpm, **backend)
    entered = []

    def work():
        for _ in range(4):
            with lim.slot(timeout=5):
                entered.append(time.monotonic())

    t0 = time.monotonic()
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    entered.sort()
    assert len(entered) == 16
    for k, e in enumerate(entered):
        assert e >= t0 + k * 0.025 - 0.004
    assert entered[-1] - t0 < 15 * 0.025 + 0.5


def test_rpm_burst_allows_initial_burst():
    lim = Limiter(_key("burst"), requests_per_minute=60, burst=3)
    t0 = time.monotonic()
    for _ in range(3):
        with lim.slot(timeout=1):
            pass
    assert time.monotonic() - t0 < 0.1
    with pytest.raises(LimiterTimeout):
        with lim.slot(timeout=0.2):  # 4th needs to wait ~1 s
            pass


def test_slot_timeout_concurrency(backend):
    lim = Limiter(_key("to"), max_concurrency=1, **backend)
    held = threading.Event()
    release = threading.Event()

    def holder():
        with lim.slot():
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    t0 = time.monotonic()
    with pytest.raises(LimiterTimeout):
        with lim.slot(timeout=0.15):
            pass
    assert 0.1 <= time.monotonic() - t0 < 1.0
    release.set()
    t.join(5)
    with lim.slot(timeout=1) as info:
        assert info.backend == lim.backend


def test_local_state_shared_by_key():
    key = _key("shared")
    a, b = Limiter(key, max_concurrency=1), Limiter(key, max_concurrency=1)
    with a.slot(timeout=1):
        with pytest.raises(LimiterTimeout):
            with b.slot(timeout=0.05):
                pass


_CHILD = textwrap.dedent("""
    # Limiter + plain urllib (importing openai costs ~1.5 s of CPU per process; the client is covered elsewhere)
    import json, sys, threading, urllib.request, uuid
    from llm.ratelimit import Limiter
    base_url, key, backend, arg = sys.argv[1:5]
    kw = {"redis_url": arg} if backend == "redis" else {"lock_dir": arg}
    lim = Limiter(key, max_concurrency=2, requests_per_minute=None, **kw)
    bad = []
    def call():
        body = json.dumps({"model": "sim-target-50",
                           "messages": [{"role": "user", "content": uuid.uuid4().hex}]}).encode()
        req = urllib.request.Request(base_url + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            json.loads(r.read())
    def work():
        for _ in range(3):
            try:
                with lim.slot(timeout=20):
                    call()
            except Exception as exc:
                bad.append(repr(exc))
    ts = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print("BAD", bad)
    sys.exit(1 if bad else 0)
""")


@pytest.mark.parametrize("kind", ["redis", "file"])
def test_concurrency_across_processes(fresh_sim, kind, tmp_path, request):
    arg = request.getfixturevalue("redis_url") if kind == "redis" else str(tmp_path / "locks")
    fresh_sim.set_latency(50)
    key = _key("xproc")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, fresh_sim.base_url, key, kind, arg],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=30)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    st = sim_stats(fresh_sim)
    assert st["requests"] == 24
    assert st["max_inflight"] == 2


_CRASHER = textwrap.dedent("""
    import os, sys
    from llm.ratelimit import Limiter
    key, backend, arg = sys.argv[1:4]
    kw = {"redis_url": arg, "lease_ttl": 0.6} if backend == "redis" else {"lock_dir": arg}
    lim = Limiter(key, max_concurrency=1, **kw)
    with lim.slot(timeout=5):
        print("HELD", flush=True)
        os._exit(0)   # crash while holding the slot: no release
""")


@pytest.mark.parametrize("kind", ["redis", "file"])
def test_crashed_holder_does_not_leak_slot(kind, tmp_path, request):
    arg = request.getfixturevalue("redis_url") if kind == "redis" else str(tmp_path / "locks")
    key = _key("crash")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _CRASHER, key, kind, arg], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=30)
    assert "HELD" in out.stdout, out.stderr
    kw = {"redis_url": arg, "lease_ttl": 0.6} if kind == "redis" else {"lock_dir": arg}
    lim = Limiter(key, max_concurrency=1, **kw)
    t0 = time.monotonic()
    with lim.slot(timeout=3):
        waited = time.monotonic() - t0
    if kind == "file":
        assert waited < 0.5          # the OS dropped the dead holder's flock
    else:
        assert waited < 1.5          # lease expired via TTL


def test_redis_lease_renewed_for_long_holders(redis_url):
    key = _key("renew")
    a = Limiter(key, max_concurrency=1, redis_url=redis_url, lease_ttl=0.5)
    b = Limiter(key, max_concurrency=1, redis_url=redis_url, lease_ttl=0.5)
    with a.slot(timeout=1):
        time.sleep(1.1)  # well past the TTL: the renewer (every ttl/3) keeps the lease alive
        with pytest.raises(LimiterTimeout):
            with b.slot(timeout=0.2):
                pass
    with b.slot(timeout=1):
        pass


def test_redis_down_falls_back_to_local():
    lim = Limiter(_key("down"), max_concurrency=1, requests_per_minute=6000,
                  redis_url="redis://127.0.0.1:1/0")
    with lim.slot(timeout=1) as info:
        assert info.backend == "local"
    with lim.slot(timeout=1) as info:  # circuit open: straight to local
        assert info.backend == "local"
    assert lim._down_until > time.monotonic()
    strict = Limiter(_key("down2"), max_concurrency=1, redis_url="redis://127.0.0.1:1/0", fallback_on_error=False)
    import redis

    with pytest.raises(redis.exceptions.ConnectionError):
        with strict.slot(timeout=1):
            pass
