from django.urls import path

from . import apis

urlpatterns = [
    path("evaluations/", apis.EvalRunListApi.as_view(), name="api-evaluations"),
    path("evaluations/<int:pk>/", apis.EvalRunDetailApi.as_view(), name="api-evaluation-detail"),
    path("evaluations/<int:pk>/cancel/", apis.EvalRunCancelApi.as_view(), name="api-evaluation-cancel"),
    path("evaluations/<int:pk>/resume/", apis.EvalRunResumeApi.as_view(), name="api-evaluation-resume"),
    path("evaluations/<int:pk>/publish/", apis.EvalRunPublishApi.as_view(), name="api-evaluation-publish"),
    path("evaluations/<int:pk>/unpublish/", apis.EvalRunUnpublishApi.as_view(), name="api-evaluation-unpublish"),
    path("evaluations/<int:pk>/models/<int:target_id>/items/", apis.DrilldownApi.as_view(),
         name="api-evaluation-drilldown"),
    path("leaderboards/<str:version>/", apis.LeaderboardApi.as_view(), name="api-leaderboard"),
]
