"""Fixtures for the live cycle: endpoints on the simulator, a review queue with two annotators, a plan."""

import pytest

FAST_RETRIES = {"max_attempts": 3, "backoff_base": 0.01, "backoff_cap": 0.05, "retry_after_cap": 2.0}
TARGETS = ("sim-target-90", "sim-target-50", "sim-target-10")
COUNTS = {"legality": 3, "privacy": 2}


@pytest.fixture(autouse=True)
def _fast_llm(settings, tmp_path):
    settings.LLM_CLIENT_OPTIONS = dict(FAST_RETRIES)
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CYCLE_RETRY_SECONDS = 0


@pytest.fixture
def endpoints(db, sim):
    from llm.services import endpoint_create

    def make(name):
        return endpoint_create(name=name, base_url=sim.base_url, model=name, max_concurrency=8,
                               requests_per_minute=0, timeout=10)

    return {"targets": [make(n) for n in TARGETS], "judge": make("sim-judge"), "generator": make("sim-generator")}


@pytest.fixture
def reviewers(taxonomy):
    from tests.factories import UserFactory, make_queue

    people = [UserFactory(username=f"cycle-reviewer-{i}", role="Annotator") for i in range(2)]
    make_queue(name="本期审核", members=people, n=2)
    return people


@pytest.fixture
def plan(taxonomy, endpoints, maintainer):
    from cycles import services

    return services.plan_create(name="月度", taxonomy="v251030", counts=dict(COUNTS), targets=endpoints["targets"],
                                judge=endpoints["judge"], generator=endpoints["generator"], holdout_fraction=0.25,
                                actor=maintainer)


def review_all(users, *, accept=lambda prompt: True) -> int:
    """Every open item of every queue, decided the same way by each reviewer (through the services)."""
    from annotation import services as ann
    from annotation.models import ReviewQueue

    done = 0
    for queue in ReviewQueue.objects.all():
        for user in users:
            while (claim := ann.lease_claim(queue=queue, user=user)) is not None and not isinstance(claim, str):
                ok = accept(claim.item.prompt)
                data = (ann.AnnotationInput(decision="accept", severity=3) if ok
                        else ann.AnnotationInput(decision="reject", reject_reason="unclear"))
                ann.annotation_submit(claim_id=claim.pk, user=user, data=data)
                done += 1
    return done
