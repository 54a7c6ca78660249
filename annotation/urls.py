from django.urls import path

from . import views

app_name = "annotation"

urlpatterns = [
    path("", views.queue_list, name="queue_list"),
    path("queues/new/", views.queue_create, name="queue_create"),
    path("queues/<int:pk>/", views.queue_detail, name="queue_detail"),
    path("queues/<int:pk>/edit/", views.queue_edit, name="queue_edit"),
    path("queues/<int:pk>/route/", views.queue_route, name="queue_route"),
    path("queues/<int:pk>/review/", views.review_start, name="review"),
    path("queues/<int:pk>/next/", views.queue_next, name="next"),
    path("claims/<int:pk>/", views.claim_detail, name="claim"),
    path("claims/<int:pk>/submit/", views.claim_submit, name="submit"),
    path("claims/<int:pk>/skip/", views.claim_skip, name="skip"),
    path("claims/<int:pk>/heartbeat/", views.claim_heartbeat, name="heartbeat"),
    path("claims/<int:pk>/twin/", views.claim_twin, name="twin"),
    path("my-work/", views.my_work, name="my_work"),
    path("my-work/unskip/<int:item_id>/", views.unskip, name="unskip"),
    path("annotations/<int:pk>/revise/", views.annotation_revise, name="revise"),
    path("adjudication/", views.adjudication_list, name="adjudication_list"),
    path("adjudication/<int:pk>/", views.adjudication_detail, name="adjudication_detail"),
    path("adjudication/prompt/<int:prompt_id>/", views.adjudication_for_prompt, name="adjudication_for_prompt"),
    path("adjudication/<int:pk>/reopen/", views.adjudication_reopen, name="reopen"),
]
