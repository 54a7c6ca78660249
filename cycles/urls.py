from django.urls import path

from . import views

app_name = "cycles"

urlpatterns = [
    path("", views.cycle_list, name="cycle_list"),
    path("plans/new/", views.plan_new, name="plan_new"),
    path("plans/<int:pk>/", views.plan_edit, name="plan_edit"),
    path("plans/<int:pk>/open/", views.plan_open_now, name="plan_open"),
    path("<int:pk>/", views.cycle_detail, name="cycle_detail"),
    path("<int:pk>/approve/", views.cycle_approve, name="cycle_approve"),
    path("<int:pk>/cut/", views.cycle_cut, name="cycle_cut"),
    path("<int:pk>/retry/", views.cycle_retry, name="cycle_retry"),
    path("<int:pk>/cancel/", views.cycle_cancel, name="cycle_cancel"),
    path("<int:pk>/report.md", views.cycle_report, name="cycle_report"),
]
