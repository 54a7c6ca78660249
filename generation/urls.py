# Mounted under /curation/ (config/urls.py), beside curation's own pages.
from django.urls import path

from . import attack_views, event_views, views

app_name = "generation"

urlpatterns = [
    path("generation/", views.generation, name="generation"),
    path("generation/start/", views.run_start, name="run_start"),
    path("generation/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("generation/runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("generation/runs/<int:pk>/resume/", views.run_resume, name="run_resume"),
    path("generation/templates/", views.template_list, name="template_list"),
    path("generation/templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("events/", views.event_list, name="event_list"),
    path("events/new/", views.event_edit, name="event_create"),
    path("events/<int:pk>/", views.event_edit, name="event_edit"),
    path("events/<int:pk>/dimensions/", event_views.event_dimensions, name="event_dimensions"),
    path("events/sources/", event_views.source_list, name="event_source_list"),
    path("events/sources/new/", event_views.source_edit, name="event_source_create"),
    path("events/sources/<int:pk>/", event_views.source_edit, name="event_source_edit"),
    path("events/sources/<int:pk>/fetch/", event_views.source_fetch, name="event_source_fetch"),
    path("candidates/", views.candidate_list, name="candidate_list"),
# Attack runs (attack_views.py).
    path("attacks/", attack_views.attack_list, name="attack_list"),
    path("attacks/start/", attack_views.attack_start, name="attack_start"),
    path("attacks/<int:pk>/", attack_views.attack_detail, name="attack_detail"),
    path("attacks/<int:pk>/cancel/", attack_views.attack_cancel, name="attack_cancel"),
]
