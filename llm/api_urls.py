from django.urls import path

from . import apis

urlpatterns = [
    path("llm/endpoints/", apis.EndpointListApi.as_view(), name="api-endpoints"),
    path("llm/endpoints/<int:pk>/", apis.EndpointDetailApi.as_view(), name="api-endpoint-detail"),
    path("llm/endpoints/<int:pk>/test/", apis.EndpointTestApi.as_view(), name="api-endpoint-test"),
]
