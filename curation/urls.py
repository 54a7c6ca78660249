from django.urls import path

from . import generation_views, views

app_name = "curation"

urlpatterns = [
    path("prompts/", views.prompt_list, name="prompt_list"),
    path("prompts/<int:pk>/", views.prompt_detail, name="prompt_detail"),
    path("import/", views.import_items, name="import"),
    path("taxonomy/", views.taxonomy, name="taxonomy"),
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
    path("candidates/", generation_views.candidate_list, name="candidate_list"),
]
