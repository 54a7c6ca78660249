from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def route_queue_candidates(queue_id: int) -> int:
    """Route a queue's unrouted candidates; each chunk commits alone, so a retry resumes where it stopped."""
    return services.queue_route_candidates(queue_id=queue_id)
