from django.urls import path

from . import apis

urlpatterns = [
    path("queues/", apis.QueueListApi.as_view(), name="api-queues"),
    path("queues/<int:pk>/next/", apis.QueueNextApi.as_view(), name="api-queue-next"),
    path("claims/<int:pk>/heartbeat/", apis.ClaimHeartbeatApi.as_view(), name="api-claim-heartbeat"),
    path("claims/<int:pk>/submit/", apis.ClaimSubmitApi.as_view(), name="api-claim-submit"),
    path("claims/<int:pk>/skip/", apis.ClaimSkipApi.as_view(), name="api-claim-skip"),
    path("annotations/mine/", apis.MyAnnotationListApi.as_view(), name="api-my-annotations"),
    path("annotations/<int:pk>/revise/", apis.AnnotationReviseApi.as_view(), name="api-annotation-revise"),
    path("adjudications/", apis.AdjudicationListApi.as_view(), name="api-adjudications"),
    path("adjudications/<int:pk>/", apis.AdjudicationDetailApi.as_view(), name="api-adjudication-detail"),
    path("adjudications/<int:pk>/decide/", apis.AdjudicationDecideApi.as_view(), name="api-adjudication-decide"),
    path("adjudications/<int:pk>/reopen/", apis.AdjudicationReopenApi.as_view(), name="api-adjudication-reopen"),
]
