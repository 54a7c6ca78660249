from django.urls import path

from . import event_views, generation_views, release_views, views

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
    path("generation/", generation_views.generation, name="generation"),
    path("generation/start/", generation_views.run_start, name="run_start"),
    path("generation/runs/<int:pk>/", generation_views.run_detail, name="run_detail"),
    path("generation/runs/<int:pk>/cancel/", generation_views.run_cancel, name="run_cancel"),
    path("generation/runs/<int:pk>/resume/", generation_views.run_resume, name="run_resume"),
    path("generation/templates/", generation_views.template_list, name="template_list"),
    path("generation/templates/<int:pk>/", generation_views.template_edit, name="template_edit"),
    path("events/", generation_views.event_list, name="event_list"),
    path("events/new/", generation_views.event_edit, name="event_create"),
    path("events/<int:pk>/", generation_views.event_edit, name="event_edit"),
    path("events/<int:pk>/dimensions/", event_views.event_dimensions, name="event_dimensions"),
    path("events/sources/", event_views.source_list, name="event_source_list"),
    path("events/sources/new/", event_views.source_edit, name="event_source_create"),
    path("events/sources/<int:pk>/", event_views.source_edit, name="event_source_edit"),
    path("events/sources/<int:pk>/fetch/", event_views.source_fetch, name="event_source_fetch"),
    path("candidates/", generation_views.candidate_list, name="candidate_list"),
]

# Attack runs (curation/attack_views.py).
from . import attack_views  # noqa: E402

urlpatterns += [
    path("attacks/", attack_views.attack_list, name="attack_list"),
    path("attacks/start/", attack_views.attack_start, name="attack_start"),
    path("attacks/<int:pk>/", attack_views.attack_detail, name="attack_detail"),
    path("attacks/<int:pk>/cancel/", attack_views.attack_cancel, name="attack_cancel"),
]
