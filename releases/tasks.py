"""Thin Celery entry points: take ids, call one service, record failures where the page shows them."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def release_freeze_task(release_id: int) -> None:
    from . import services as releases

    try:
        releases.release_freeze_run(release_id=release_id, chunk_size=settings.RELEASE_FREEZE_CHUNK)
    except Exception as exc:  # the draft shows the error and can be frozen again (it resumes)
        log.exception("freezing release %s failed", release_id)
        releases.release_freeze_fail(release_id=release_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def release_export_task(release_id: int, scope: str) -> None:
    from . import services as releases

    try:
        releases.release_export_run(release_id=release_id, scope=scope, queued=True)
    except Exception as exc:
        log.exception("exporting release %s (%s) failed", release_id, scope)
        releases.release_export_fail(release_id=release_id, scope=scope, error=f"{type(exc).__name__}: {exc}")


@shared_task(ignore_result=True)
def releases_recover() -> None:
    from .services import releases_recover as recover

    recover()


@worker_ready.connect
def _recover_on_start(sender=None, **kwargs) -> None:
    # Its freeze or export is not redelivered before the broker's visibility timeout (Redis) or at all (the
    # on-disk broker): a worker start picks up releases left freezing or exporting under a dead lease.
    releases_recover.delay()
