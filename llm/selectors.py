from django.db.models import Avg, Count, Q, QuerySet

from .models import LLMCall, ModelEndpoint


def endpoint_list() -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.annotate(
        call_count=Count("calls"),
        failures=Count("calls", filter=~Q(calls__outcome=LLMCall.Outcome.OK)),
        cached_calls=Count("calls", filter=Q(calls__cached=True)),
        avg_latency=Avg("calls__latency_ms", filter=Q(calls__cached=False)),
    ).order_by("name")


def call_list(*, endpoint: ModelEndpoint, limit: int = 50) -> list[LLMCall]:
    return list(endpoint.calls.order_by("-created_at", "-id")[:limit])
