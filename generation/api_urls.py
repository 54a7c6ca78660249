from django.urls import path

from . import apis, event_apis

urlpatterns = [
    path("generation/runs/", apis.RunListApi.as_view(), name="api-runs"),
    path("generation/runs/<int:pk>/", apis.RunDetailApi.as_view(), name="api-run-detail"),
    path("generation/runs/<int:pk>/cancel/", apis.RunCancelApi.as_view(), name="api-run-cancel"),
    path("generation/runs/<int:pk>/resume/", apis.RunResumeApi.as_view(), name="api-run-resume"),
    path("generation/templates/", apis.TemplateListApi.as_view(), name="api-templates"),
    path("events/", apis.EventListApi.as_view(), name="api-events"),
    path("events/<int:pk>/", apis.EventDetailApi.as_view(), name="api-event-detail"),
    path("events/<int:pk>/dimensions/", event_apis.EventDimensionsApi.as_view(), name="api-event-dimensions"),
    path("event-sources/", event_apis.EventSourceListApi.as_view(), name="api-event-sources"),
    path("event-sources/<int:pk>/", event_apis.EventSourceDetailApi.as_view(), name="api-event-source-detail"),
    path("event-sources/<int:pk>/fetch/", event_apis.EventSourceFetchApi.as_view(), name="api-event-source-fetch"),
    path("event-sources/<int:pk>/events/", event_apis.EventSourcePushApi.as_view(), name="api-event-source-push"),
]
