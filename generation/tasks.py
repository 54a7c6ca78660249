"""Thin Celery entry points: take ids, call one service, record failures where the page shows them."""

import logging

from celery import shared_task
from celery.signals import worker_ready

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def generation_run_execute(run_id: int) -> None:
    from .services import run_execute

    run_execute(run_id=run_id)


@shared_task(ignore_result=True)
def generation_runs_recover() -> None:
    from .services import runs_recover

    runs_recover()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def event_source_fetch_task(source_id: int) -> None:
    # Idempotent: a redelivered fetch stores no event twice (dedup by link and title key).
    from .event_services import event_source_fetch
    from .models import EventSource

    source = EventSource.objects.filter(pk=source_id).first()
    if source is not None:
        event_source_fetch(source=source)


@shared_task(ignore_result=True)
def event_sources_fetch_due_task() -> None:
    """The beat entry (CELERY_BEAT_SCHEDULE): one fetch task per source that is due."""
    from .event_services import event_sources_enqueue_due

    event_sources_enqueue_due()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def attack_run_execute(run_id: int) -> None:
    # A redelivered run resumes from its last saved turn (the lease keeps a second worker out).
    from .attack_services import attack_run_execute as execute

    execute(run_id=run_id)


@shared_task(ignore_result=True)
def attack_runs_recover() -> None:
    from .attack_services import attack_runs_recover as recover

    recover()


@worker_ready.connect
def _recover_runs_on_start(sender=None, **kwargs) -> None:
    # A worker killed mid-run leaves its run "running" under a dead lease: pick such runs up again.
    generation_runs_recover.delay()
    attack_runs_recover.delay()
