"""Read-only admin views: every change to queues, leases and annotations goes through services.py (the
queue, review and adjudication pages), so the admin is for looking, not editing."""

from django.contrib import admin

from .models import Annotation, Claim, Lease, QueueItem, ReviewQueue


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewQueue)
class ReviewQueueAdmin(ReadOnlyAdmin):
    list_display = ["name", "taxonomy", "annotators_per_item", "lease_minutes", "consensus_rule", "is_active"]
    list_filter = ["taxonomy", "consensus_rule", "is_active"]
    search_fields = ["name", "guidelines"]


@admin.register(QueueItem)
class QueueItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "queue", "prompt", "state", "submitted", "leased", "free_at", "outcome", "decided_at"]
    list_filter = ["queue", "state", "adjudication_reason", "outcome"]
    raw_id_fields = ["prompt"]
    list_select_related = ["queue", "prompt"]


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "slot", "annotator", "state", "claimed_at", "expires_at"]
    list_filter = ["state"]
    raw_id_fields = ["item"]
    list_select_related = ["annotator"]


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "annotator", "lease", "created_at"]
    raw_id_fields = ["item", "lease"]
    list_select_related = ["annotator"]


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["id", "prompt", "annotator", "queue", "decision", "severity", "is_surplus", "submitted_at"]
    list_filter = ["queue", "decision", "risk_expression", "expected_behaviour", "is_surplus", "reject_reason"]
    search_fields = ["final_text", "note", "annotator__username"]
    raw_id_fields = ["prompt"]
    list_select_related = ["prompt", "annotator", "queue"]
