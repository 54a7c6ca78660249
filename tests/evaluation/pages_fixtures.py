"""Fixtures for the evaluation pages, API and roles tests: a small finished evaluation made through the services.

Imported by the test modules (`from tests.evaluation.pages_fixtures import *`), beside tests/evaluation/conftest.py.
"""

from __future__ import annotations

import pytest

from evaluation import selectors
from evaluation.models import EvalRun
from evaluation.services import run_create, run_execute_inline

__all__ = ["evaluated", "evaluate", "reasoner", "holdout_item", "public_item"]


@pytest.fixture
def reasoner(make_endpoint):
    return make_endpoint("sim-reasoner-70-60", is_reasoning=True)


@pytest.fixture
def evaluate(targets, judge, reasoner):
    """`evaluate(release, models=3, seed=1)`: a finished livesecbench run of the release, run in this process."""

    def run(release, *, models=None, seed=1, **options):
        chosen = models if models is not None else [targets[0], targets[2], reasoner]
        options.setdefault("mode", EvalRun.Mode.LIVESECBENCH)
        created = run_create(release=release, targets=chosen, judge=judge, seed=seed, enqueue=False, **options)
        done = run_execute_inline(run_id=created.pk)
        assert done.status == EvalRun.Status.SUCCEEDED, done.error
        return done

    return run


@pytest.fixture
def evaluated(frozen_release, evaluate):
    """A frozen release of 3 dimensions × 6 items (a third hold-out) and its finished, unpublished run."""
    release = frozen_release(per_dimension=6, holdout_fraction=0.34)
    run = evaluate(release)
    assert release.items.filter(is_holdout=True).exists() and release.items.filter(is_holdout=False).exists()
    return {"release": release, "run": run, "targets": selectors.run_targets(run=run)}


def holdout_item(release):
    return release.items.filter(is_holdout=True).order_by("pk").first()


def public_item(release):
    return release.items.filter(is_holdout=False).order_by("pk").first()
