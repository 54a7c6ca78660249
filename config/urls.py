from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.permissions import IsAnyRole

from . import errors, views

api_patterns = [
    path("", include("curation.api_urls")),
    path("", include("releases.api_urls")),
    path("", include("generation.api_urls")),
    path("", include("annotation.api_urls")),
    path("agreement/", include("annotation.agreement_api_urls")),
    path("", include("llm.api_urls")),
    path("", include("evaluation.api_urls")),
    path("", include("cycles.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", errors.favicon, name="favicon"),
    path("accounts/", include("accounts.urls")),
    path("curation/", include("curation.urls")),
    # Releases and generation are apps of their own; their pages keep their place under /curation/.
    path("curation/", include("releases.urls")),
    path("curation/", include("generation.urls")),
    path("annotation/", include("annotation.urls")),
    path("agreement/", include("annotation.agreement_urls")),
    path("llm/", include("llm.urls")),
    path("evaluation/", include("evaluation.urls")),
    path("cycles/", include("cycles.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # The schema and its Swagger UI are for signed-in users with a role, like the API they describe: anonymous
    # schema calls get 401 (the API's own authentication), anonymous visitors of the docs page the login page.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAnyRole]), name="schema"),
    # The split view serves Swagger's init script as a response of its own (?script), not inline: see the CSP.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="api/swagger_ui.html", permission_classes=[IsAnyRole],
        )),
        name="swagger-ui",
    ),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.forbidden"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"

# Media (release exports, including hold-out items) is never served directly: downloads go through views
# that check the caller's role.
