import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent


def _hostile_path() -> Path:
    shared = ROOT.parent / "shared" / "testdata" / "hostile-strings.json"
    return shared if shared.exists() else ROOT / "tests" / "data" / "hostile-strings.json"


@pytest.fixture(scope="session")
def hostile_strings() -> list[str]:
    """Adversarial strings every text-showing feature must store intact and render escaped."""
    return json.loads(_hostile_path().read_text(encoding="utf-8"))["strings"]


@pytest.fixture
def taxonomy(db):
    from curation.services import taxonomy_load

    taxonomy_load(data=json.loads((ROOT / "fixtures" / "taxonomy.json").read_text(encoding="utf-8")))


@pytest.fixture
def annotator(db):
    return UserFactory(username="ann1", role="Annotator")


@pytest.fixture
def maintainer(db):
    return UserFactory(username="maint", role="Maintainer")


@pytest.fixture
def admin(db):
    return UserFactory(username="boss", role="Admin")


@pytest.fixture
def client_for(client):
    """Log the test client in as a user: `client_for(maintainer)`."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture(scope="session")
def sim_server():
    """One OpenAI-compatible simulator on 127.0.0.1 for the session: the real openai client talks to it."""
    from llm.simulator import start_in_thread

    server, _ = start_in_thread(0)
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):
    """The shared simulator, its counters, per-model faults and latency reset for this test."""
    sim_server.reset()
    sim_server.sim.model_faults.clear()
    sim_server.set_latency(0)
    return sim_server


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real password hashing costs about a second per user; tests only need logins to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run inline unless a test asks for a real worker (marker `real_worker`)."""
    from config.celery import app

    eager = "real_worker" not in request.keywords
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def worker_thread(monkeypatch):
    """Stands in for the Celery worker: runs a queued generation run on a thread, after the request committed."""
    from generation import services as gen
    from tests.browser import thread_after_commit

    threads = []
    monkeypatch.setattr(gen, "_enqueue", lambda run_id: thread_after_commit(threads, lambda: gen.run_execute(run_id=run_id)))
    yield threads
    for t in threads:
        t.join(60)


def on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


requires_postgres = pytest.mark.skipif(
    not on_postgres() and os.environ.get("CI") != "true", reason="needs PostgreSQL (set DATABASE_URL)"
)
