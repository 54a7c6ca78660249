from django.urls import path

from . import apis, release_apis

urlpatterns = [
    path("taxonomies/", apis.TaxonomyListApi.as_view(), name="api-taxonomies"),
    path("techniques/", apis.TechniqueListApi.as_view(), name="api-techniques"),
    path("prompts/", apis.PromptListApi.as_view(), name="api-prompts"),
    path("prompts/import/", apis.PromptImportApi.as_view(), name="api-prompts-import"),
    path("prompts/<int:pk>/", apis.PromptDetailApi.as_view(), name="api-prompt-detail"),
    path("releases/", release_apis.ReleaseListApi.as_view(), name="api-releases"),
    path("releases/<str:version>/", release_apis.ReleaseDetailApi.as_view(), name="api-release-detail"),
    path("releases/<str:version>/freeze/", release_apis.ReleaseFreezeApi.as_view(), name="api-release-freeze"),
    path("releases/<str:version>/retire/", release_apis.ReleaseRetireApi.as_view(), name="api-release-retire"),
    path("releases/<str:version>/diff/", release_apis.ReleaseDiffApi.as_view(), name="api-release-diff"),
    path("releases/<str:version>/export/", release_apis.ReleaseExportApi.as_view(), name="api-release-export"),
]
