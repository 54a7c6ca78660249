"""Error pages (400, 403, 404, 500) as pages of the site, in the visitor's language, with a way back.

Under ``/api/`` the same errors answer JSON in DRF's shape (``{"detail": ...}``): an API client that mistypes a
path gets something it can parse, not a web page. ``favicon`` answers ``/favicon.ico``, which browsers ask for
on every page whatever the page links, so it never shows up in the logs as a 404.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.contrib.staticfiles import finders
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template import loader
from django.utils.html import escape
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

from core.parsers import too_large_message

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
FAVICON = "img/favicon.ico"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _page(request: HttpRequest, template: str, status: int, detail: str) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": detail}, status=status)
    return render(request, template, {"request_path": request.path}, status=status)


def refused(request: HttpRequest, detail: str, *, status: int = 400) -> HttpResponse:
    """A 400-class answer that says what was wrong: JSON under /api/, else the 400 page with the reason."""
    if _is_api(request):
        return JsonResponse({"detail": detail}, status=status)
    return render(request, "400.html", {"request_path": request.path, "detail": detail, "status": status},
                  status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        # Said as it is (413), not as a malformed request: the sender can send less.
        return refused(request, too_large_message(), status=413)
    return _page(request, "400.html", 400, _("Malformed request."))


@requires_csrf_token
def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "403.html", 403, _("You do not have permission to perform this action."))


@requires_csrf_token
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "404.html", 404, _("Not found."))


def _fallback_500() -> str:
    # The template itself failed (a broken static manifest, a template error): still answer in the
    # visitor's language and with a way home, in markup that needs nothing but this function.
    lang = escape(get_language() or "zh-hans")
    title = escape(_("Server error"))
    text = escape(_("Something went wrong on our side. Try again in a moment."))
    home = escape(_("Home"))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><h1>{title}</h1><p>{text}</p><p><a href="/">{home}</a></p></body></html>'
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """Renders without context processors, so a broken database or session cannot break the error page too."""
    if _is_api(request):
        return JsonResponse({"detail": _("A server error occurred.")}, status=500)
    context = {"request_path": request.path}
    try:
        # The language switch posts a form; the token comes from the cookie, no database involved.
        context["csrf_token"] = get_token(request)
    except Exception:  # noqa: BLE001 - an error page must not fail on its way out
        pass
    try:
        body = loader.get_template("500.html").render(context)
    except Exception:  # noqa: BLE001
        log.exception("the 500 page could not be rendered")
        body = _fallback_500()
    return HttpResponse(body, status=500)


@lru_cache(maxsize=1)
def _favicon_bytes() -> bytes:
    path = finders.find(FAVICON)
    with open(path, "rb") as fh:
        return fh.read()


def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_favicon_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=604800"
    return response
