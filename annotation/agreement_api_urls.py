from django.urls import path

from . import agreement_apis as apis

urlpatterns = [
    path("", apis.AgreementApi.as_view(), name="api-agreement"),
]
