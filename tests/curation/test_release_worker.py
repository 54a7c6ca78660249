"""The freeze and the exports it queues run on a real Celery worker, not only inline."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from curation import releases
from curation.models import Release, ReleaseExport
from tests.factories import approved_prompts

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_freeze_and_public_exports_run_on_a_real_worker(taxonomy, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    # The worker writes to a file: a pipe nobody reads would stall it once its buffer is full.
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "warning"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        approved_prompts(25)
        draft = releases.release_create_draft(version="v251122", taxonomy="v251030", parent=None, holdout_fraction=0.2)
        releases.release_freeze_start(release_id=draft.pk)  # queued after commit (autocommit here)
        deadline = time.monotonic() + 120
        release = Release.objects.get(pk=draft.pk)
        while time.monotonic() < deadline:
            release = Release.objects.get(pk=draft.pk)
            done = ReleaseExport.objects.filter(release=release, scope="public", status="done").count()
            if release.is_frozen and done == len(releases.EXPORT_FORMATS):
                break
            time.sleep(0.5)
        assert release.is_frozen and release.item_count == 25, (release.freeze_error, log.read_text()[-3000:])
        assert ReleaseExport.objects.filter(release=release, scope="public", status="done").count() == len(
            releases.EXPORT_FORMATS
        )
        assert releases.release_verify(version="v251122").ok
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
