from django.contrib import admin

from .models import Annotation, ReviewQueue


@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    list_display = ["name", "taxonomy", "annotators_per_item", "lease_minutes", "consensus_rule", "is_active"]
    list_filter = ["taxonomy", "consensus_rule", "is_active"]
    search_fields = ["name", "guidelines"]
    filter_horizontal = ["dimensions", "members"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "annotator", "queue", "decision", "severity", "is_surplus", "submitted_at"]
    list_filter = ["queue", "decision", "risk_expression", "expected_behaviour", "is_surplus", "reject_reason"]
    search_fields = ["final_text", "note", "annotator__username"]
    raw_id_fields = ["prompt"]
    list_select_related = ["prompt", "annotator", "queue"]
