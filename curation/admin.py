from django.contrib import admin

from .models import (
    Dimension,
    Prompt,
    PromptLog,
    SubDimension,
    Taxonomy,
    Technique,
)


class DimensionInline(admin.TabularInline):
    model = Dimension
    extra = 0


@admin.register(Taxonomy)
class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "released_on"]
    search_fields = ["code", "name_zh", "name_en"]
    inlines = [DimensionInline]


@admin.register(Dimension)
class DimensionAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "taxonomy", "uses_reference_answers"]
    list_filter = ["taxonomy", "uses_reference_answers"]
    search_fields = ["code", "name_zh", "name_en"]


@admin.register(SubDimension)
class SubDimensionAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "dimension"]
    list_filter = ["dimension__taxonomy", "dimension"]
    search_fields = ["code", "name_zh", "name_en"]


@admin.register(Technique)
class TechniqueAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en"]
    search_fields = ["code", "name_zh", "name_en", "description_zh", "description_en"]


class PromptLogInline(admin.TabularInline):
    model = PromptLog
    extra = 0
    can_delete = False
    readonly_fields = ["actor", "from_status", "to_status", "reason", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "dimension", "source", "status", "created_at"]
    list_filter = ["status", "source", "dimension__taxonomy", "dimension", "risk_expression", "techniques"]
    search_fields = ["text", "external_id", "normalized_hash"]
    raw_id_fields = ["near_duplicate_of"]
    # Status, text, labels and techniques change only through curation services (review decisions), never by
    # hand here: an edited text would leave normalized_hash (the unique duplicate key) stale.
    readonly_fields = [
        "status", "text", "dimension", "sub_dimension", "risk_expression", "severity", "expected_behaviour",
        "reference_answers", "techniques", "normalized_hash", "created_at", "updated_at",
    ]
    inlines = [PromptLogInline]
    list_select_related = ["dimension", "dimension__taxonomy"]

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:60]

    def has_add_permission(self, request):
        # Prompts come in only through prompts_create (import, generation), which sets the hash.
        return False


@admin.register(PromptLog)
class PromptLogAdmin(admin.ModelAdmin):
    list_display = ["prompt", "actor", "from_status", "to_status", "created_at"]
    list_filter = ["to_status", "from_status"]
    search_fields = ["reason", "prompt__text"]
    readonly_fields = ["prompt", "actor", "from_status", "to_status", "reason", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
