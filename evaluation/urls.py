from django.urls import path

from . import views

app_name = "evaluation"

urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("runs/start/", views.run_start, name="run_start"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:pk>/publish/", views.run_publish, name="run_publish"),
    path("runs/<int:pk>/unpublish/", views.run_unpublish, name="run_unpublish"),
    path("runs/<int:pk>/calibrate/", views.calibrate, name="calibrate"),
    path("runs/<int:pk>/models/<int:target_id>/", views.drilldown, name="drilldown"),
    path("leaderboards/", views.leaderboard_index, name="leaderboard_index"),
    path("leaderboards/<str:version>/", views.leaderboard, name="leaderboard"),
    path("leaderboards/<str:version>/export/<str:fmt>/", views.leaderboard_export, name="leaderboard_export"),
    path("releases/<str:version>/report/", views.release_report, name="release_report"),
    path("releases/<str:version>/report.md", views.release_report_markdown, name="release_report_markdown"),
    path("rubrics/", views.rubric_list, name="rubric_list"),
    path("rubrics/defaults/", views.rubrics_seed, name="rubrics_seed"),
    path("rubrics/<int:pk>/", views.rubric_detail, name="rubric_detail"),
]
