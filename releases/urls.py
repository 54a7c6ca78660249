# Mounted under /curation/ (config/urls.py), beside curation's own pages.
from django.urls import path

from . import views

app_name = "releases"

urlpatterns = [
    path("releases/", views.release_list, name="release_list"),
    path("releases/new/", views.release_create, name="release_create"),
    path("releases/<str:version>/", views.release_detail, name="release_detail"),
    path("releases/<str:version>/edit/", views.release_edit, name="release_edit"),
    path("releases/<str:version>/progress/", views.release_progress, name="release_progress"),
    path("releases/<str:version>/freeze/", views.release_freeze, name="release_freeze"),
    path("releases/<str:version>/delete/", views.release_delete, name="release_delete"),
    path("releases/<str:version>/retire/", views.release_retire, name="release_retire"),
    path("releases/<str:version>/unretire/", views.release_unretire, name="release_unretire"),
    path("releases/<str:version>/diff/", views.release_diff, name="release_diff"),
    path("releases/<str:version>/exports/", views.release_export_prepare, name="release_export_prepare"),
    path(
        "releases/<str:version>/download/<str:scope>/<str:fmt>/",
        views.release_download,
        name="release_download",
    ),
]
