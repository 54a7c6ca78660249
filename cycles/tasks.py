from celery import shared_task


@shared_task(ignore_result=True)
def cycles_tick_task() -> None:
    """The beat entry (CELERY_BEAT_SCHEDULE): open the period's cycles and move every open cycle on."""
    from .services import cycles_tick

    cycles_tick()


@shared_task(ignore_result=True)
def cycle_advance_task(cycle_id: int) -> None:
    # Idempotent: a cycle another worker is moving is skipped, and a step done is never done again.
    from .services import cycle_advance

    cycle_advance(cycle_id=cycle_id)
