from django.urls import path

from . import apis

urlpatterns = [
    path("releases/", apis.ReleaseListApi.as_view(), name="api-releases"),
    path("releases/<str:version>/", apis.ReleaseDetailApi.as_view(), name="api-release-detail"),
    path("releases/<str:version>/freeze/", apis.ReleaseFreezeApi.as_view(), name="api-release-freeze"),
    path("releases/<str:version>/retire/", apis.ReleaseRetireApi.as_view(), name="api-release-retire"),
    path("releases/<str:version>/diff/", apis.ReleaseDiffApi.as_view(), name="api-release-diff"),
    path("releases/<str:version>/export/", apis.ReleaseExportApi.as_view(), name="api-release-export"),
]
