"""URLconf for tests of the error pages: the site's own URLs plus views that refuse or fail on purpose."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as site_patterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class Boom(RuntimeError):
    pass


def forbidden(request):
    raise PermissionDenied


def boom(request):
    raise Boom("the view failed on purpose")


def api_boom(request):
    raise Boom("the API view failed on purpose")


urlpatterns = [
    path("test-errors/forbidden/", forbidden),
    path("test-errors/boom/", boom),
    path("api/test-errors/boom/", api_boom),
    *site_patterns,
]
