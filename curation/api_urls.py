from django.urls import path

from . import apis, event_apis, generation_apis, release_apis

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
    path("generation/runs/", generation_apis.RunListApi.as_view(), name="api-runs"),
    path("generation/runs/<int:pk>/", generation_apis.RunDetailApi.as_view(), name="api-run-detail"),
    path("generation/runs/<int:pk>/cancel/", generation_apis.RunCancelApi.as_view(), name="api-run-cancel"),
    path("generation/runs/<int:pk>/resume/", generation_apis.RunResumeApi.as_view(), name="api-run-resume"),
    path("generation/templates/", generation_apis.TemplateListApi.as_view(), name="api-templates"),
    path("events/", generation_apis.EventListApi.as_view(), name="api-events"),
    path("events/<int:pk>/", generation_apis.EventDetailApi.as_view(), name="api-event-detail"),
    path("events/<int:pk>/dimensions/", event_apis.EventDimensionsApi.as_view(), name="api-event-dimensions"),
    path("event-sources/", event_apis.EventSourceListApi.as_view(), name="api-event-sources"),
    path("event-sources/<int:pk>/", event_apis.EventSourceDetailApi.as_view(), name="api-event-source-detail"),
    path("event-sources/<int:pk>/fetch/", event_apis.EventSourceFetchApi.as_view(), name="api-event-source-fetch"),
    path("event-sources/<int:pk>/events/", event_apis.EventSourcePushApi.as_view(), name="api-event-source-push"),
]
