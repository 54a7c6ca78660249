"""Thin Celery entry points: take ids, call one service."""

import logging

from celery import shared_task
from celery.signals import worker_init, worker_ready

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def eval_shard_execute(shard_id: int) -> None:
    from .services import shard_execute

    shard_execute(shard_id=shard_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def eval_run_advance(run_id: int) -> None:
    from .services import run_advance

    run_advance(run_id=run_id)


@shared_task(ignore_result=True)
def eval_runs_recover() -> None:
    from .services import runs_recover

    runs_recover()


@worker_ready.connect
def _recover_runs_on_start(sender=None, **kwargs) -> None:
    # A worker killed mid-shard leaves the shard "running" under a dead lease and its queued tasks unacked:
    # queue the open work of every active run again (a shard done or held by a live worker ignores it).
    eval_runs_recover.delay()


@worker_init.connect
def _load_before_the_pool_forks(sender=None, **kwargs) -> None:
    # Each prefork child would otherwise import the executor and the HTTP stack on its first shard (about 0.3 s of
    # CPU a child, 4 % of an 8-target evaluation's worker CPU); imported here, in the parent, the children share
    # them. No connection is opened: a child builds its own pool (`_http_pool` is keyed by process).
    import gc

    from .services import http_stack_preload

    http_stack_preload()
    # What is loaded now lives as long as the worker: kept out of the collector's scans, in every child too.
    gc.collect()
    gc.freeze()
