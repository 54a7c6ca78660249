from django.urls import path

from . import agreement_views as views

app_name = "agreement"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("matrix.csv", views.export_matrix, name="export_matrix"),
    path("metrics.csv", views.export_metrics, name="export_metrics"),
]
