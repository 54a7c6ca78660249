"""Requests refused before any view sees them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy

from curation.text import find_unstorable

from . import errors

ADDRESS = gettext_lazy("Address")


class RefuseNulInPath:
    """A path holding a NUL character (``%00``) is refused with 400.

    Views look the path's parts up in the database (release versions, for one), and PostgreSQL cannot take NUL
    in a text parameter: without this such a request would end as a server error instead of a clear answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (bad := find_unstorable(request.path_info, field=ADDRESS)) is not None:
            return errors.refused(request, bad.message(), status=400)
        return self.get_response(request)
