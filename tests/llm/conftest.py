"""Fixtures for the pure-Python LLM layer: a real simulator on a free port, real openai client."""

import json
import urllib.request
import uuid

import pytest

from llm.client import EndpointConfig, LLMClient
from llm.simulator import start_in_thread

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def _eager_celery():
    """Override the project-wide autouse fixture: nothing here touches Celery or Django."""
    yield


@pytest.fixture
def fresh_sim():
    """A dedicated simulator (for in-flight counting undisturbed by other tests' sleeping threads)."""
    server, _ = start_in_thread(0)
    yield server
    server.stop()


def http_json(url, data=None):
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read().decode())


def sim_stats(server, log=False):
    root = server.base_url.rsplit("/v1", 1)[0]
    return http_json(f"{root}/_sim/stats" + ("?log=1" if log else ""))


class SleepRecorder:
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def make_client(sleeps):
    made = []

    def make(server, model="sim-target-50", *, limiter=False, timeout=5.0, is_reasoning=False,
             default_params=None, **kw):
        cfg = EndpointConfig(
            name=f"test-{uuid.uuid4().hex[:8]}", base_url=server.base_url if hasattr(server, "base_url") else server,
            model=model, api_key="sk-test", max_concurrency=0, requests_per_minute=0, timeout=timeout,
            default_params=default_params or {}, is_reasoning=is_reasoning,
        )
        kw.setdefault("sleep", sleeps)
        c = LLMClient(cfg, limiter=limiter, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def redis_url():
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # pragma: no cover - environment dependent
        # The shared limits are Redis's job: without Redis these tests fail rather than pass unseen.
        pytest.fail(f"Redis not reachable at {REDIS_URL} (start it, see DEVELOPERS.md): {exc}")
    return REDIS_URL
