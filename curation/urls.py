from django.urls import path

from . import views

app_name = "curation"

urlpatterns = [
    path("prompts/", views.prompt_list, name="prompt_list"),
    path("prompts/<int:pk>/", views.prompt_detail, name="prompt_detail"),
    path("import/", views.import_items, name="import"),
    path("taxonomy/", views.taxonomy, name="taxonomy"),
]
