from django.urls import path

from . import apis

urlpatterns = [
    path("taxonomies/", apis.TaxonomyListApi.as_view(), name="api-taxonomies"),
    path("techniques/", apis.TechniqueListApi.as_view(), name="api-techniques"),
    path("prompts/", apis.PromptListApi.as_view(), name="api-prompts"),
    path("prompts/import/", apis.PromptImportApi.as_view(), name="api-prompts-import"),
    path("prompts/<int:pk>/", apis.PromptDetailApi.as_view(), name="api-prompt-detail"),
]
