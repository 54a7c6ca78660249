"""Fixtures shared by the curation, generation and releases tests: releases, and a real simulator on a free port
with endpoints for generation (each of those folders' conftest.py imports them)."""

import pytest


@pytest.fixture
def media(settings, tmp_path):
    """Exports go to a throw-away MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def freeze():
    """Create a draft and freeze it in-process: `freeze(holdout_fraction=0.2, parent=None, ...)`."""
    from releases import services as releases

    def run(*, actor=None, **draft):
        draft.setdefault("taxonomy", "v251030")
        release = releases.release_create_draft(actor=actor, **draft)
        return releases.release_freeze_now(release_id=release.pk, actor=actor)

    return run

FAST_RETRIES = {"max_attempts": 3, "backoff_base": 0.01, "backoff_cap": 0.05, "retry_after_cap": 2.0}


@pytest.fixture(autouse=True)
def _isolated_generation(settings, tmp_path):
    """Short waits between retries, and a dedup index of the test's own (files and memory)."""
    from curation import dedup_service

    settings.LLM_CLIENT_OPTIONS = dict(FAST_RETRIES)
    settings.DEDUP_INDEX_DIR = tmp_path / "dedup"
    settings.VAR_DIR = tmp_path
    dedup_service.reset()
    yield
    dedup_service.set_released_source(None)


@pytest.fixture
def make_endpoint(db, sim):
    from llm.services import endpoint_create

    def make(name="sim-generator", model="sim-generator", **fields):
        fields.setdefault("max_concurrency", 4)
        fields.setdefault("requests_per_minute", 0)
        fields.setdefault("timeout", 10)
        return endpoint_create(name=name, base_url=sim.base_url, model=model, **fields)

    return make


@pytest.fixture
def legality(taxonomy):
    from curation.models import Dimension

    return Dimension.objects.get(taxonomy__code="v251030", code="legality")
