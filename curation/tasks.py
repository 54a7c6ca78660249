"""Celery entry points of curation: take ids, call one service."""

from celery import shared_task
from celery.signals import worker_ready


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def generation_run_execute(run_id: int) -> None:
    from .generation_services import run_execute

    run_execute(run_id=run_id)


@shared_task(ignore_result=True)
def generation_runs_recover() -> None:
    from .generation_services import runs_recover

    runs_recover()


@worker_ready.connect
def _recover_runs_on_start(sender=None, **kwargs) -> None:
    # A worker killed mid-run leaves its run "running" under a dead lease: pick such runs up again.
    generation_runs_recover.delay()
