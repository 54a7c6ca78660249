from django.contrib import admin

from .models import LLMCall, ModelEndpoint


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "max_concurrency", "requests_per_minute", "is_reasoning"]
    search_fields = ["name", "model", "base_url"]


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "endpoint_name", "model", "purpose", "outcome", "attempts", "latency_ms", "cached"]
    list_filter = ["outcome", "cached", "endpoint_name"]
    readonly_fields = [f.name for f in LLMCall._meta.fields]

    def has_add_permission(self, request):
        return False
