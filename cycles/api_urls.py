from django.urls import path

from . import apis

urlpatterns = [
    path("cycle-plans/", apis.PlanListApi.as_view(), name="api-cycle-plans"),
    path("cycle-plans/<int:pk>/open/", apis.PlanOpenNowApi.as_view(), name="api-cycle-plan-open"),
    path("cycles/", apis.CycleListApi.as_view(), name="api-cycles"),
    path("cycles/<int:pk>/", apis.CycleDetailApi.as_view(), name="api-cycle-detail"),
    path("cycles/<int:pk>/approve/", apis.CycleApproveApi.as_view(), name="api-cycle-approve"),
    path("cycles/<int:pk>/cut/", apis.CycleCutApi.as_view(), name="api-cycle-cut"),
    path("cycles/<int:pk>/retry/", apis.CycleRetryApi.as_view(), name="api-cycle-retry"),
    path("cycles/<int:pk>/cancel/", apis.CycleCancelApi.as_view(), name="api-cycle-cancel"),
    path("cycles/<int:pk>/report.md", apis.CycleReportApi.as_view(), name="api-cycle-report"),
]
