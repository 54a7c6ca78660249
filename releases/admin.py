from django.contrib import admin

from .models import Release, ReleaseExport, ReleaseItem, ReleaseRetirement


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Releases change only through releases.services (pages, API, commands); the admin only shows them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(_ReadOnlyAdmin):
    list_display = ["version", "title", "status", "taxonomy", "parent", "item_count", "public_count", "frozen_at"]
    list_filter = ["status", "taxonomy"]
    search_fields = ["version", "title", "digest"]
    list_select_related = ["taxonomy", "parent"]


@admin.register(ReleaseItem)
class ReleaseItemAdmin(_ReadOnlyAdmin):
    list_display = ["public_id", "release", "dimension_code", "origin", "is_holdout", "short_text"]
    list_filter = ["release", "origin", "is_holdout", "dimension_code"]
    search_fields = ["public_id", "content_hash", "text"]
    list_select_related = ["release"]
    show_full_result_count = False

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:60]


@admin.register(ReleaseRetirement)
class ReleaseRetirementAdmin(_ReadOnlyAdmin):
    list_display = ["release", "prompt", "parent_item", "reason", "created_at"]
    list_select_related = ["release", "parent_item"]


@admin.register(ReleaseExport)
class ReleaseExportAdmin(_ReadOnlyAdmin):
    list_display = ["release", "scope", "format", "status", "size", "sha256", "finished_at"]
    list_filter = ["scope", "format", "status"]
