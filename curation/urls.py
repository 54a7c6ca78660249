from django.urls import path

from . import release_views, views

app_name = "curation"

urlpatterns = [
    path("prompts/", views.prompt_list, name="prompt_list"),
    path("prompts/<int:pk>/", views.prompt_detail, name="prompt_detail"),
    path("import/", views.import_items, name="import"),
    path("taxonomy/", views.taxonomy, name="taxonomy"),
    path("releases/", release_views.release_list, name="release_list"),
    path("releases/new/", release_views.release_create, name="release_create"),
    path("releases/<str:version>/", release_views.release_detail, name="release_detail"),
    path("releases/<str:version>/edit/", release_views.release_edit, name="release_edit"),
    path("releases/<str:version>/progress/", release_views.release_progress, name="release_progress"),
    path("releases/<str:version>/freeze/", release_views.release_freeze, name="release_freeze"),
    path("releases/<str:version>/delete/", release_views.release_delete, name="release_delete"),
    path("releases/<str:version>/retire/", release_views.release_retire, name="release_retire"),
    path("releases/<str:version>/unretire/", release_views.release_unretire, name="release_unretire"),
    path("releases/<str:version>/diff/", release_views.release_diff, name="release_diff"),
    path("releases/<str:version>/exports/", release_views.release_export_prepare, name="release_export_prepare"),
    path(
        "releases/<str:version>/download/<str:scope>/<str:fmt>/",
        release_views.release_download,
        name="release_download",
    ),
]
