from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .permissions import admin_required
from .roles import ADMIN, ANNOTATOR, MAINTAINER, ROLE_LABELS
from .throttle import lockout_ends

ROLE_ORDER = (ADMIN, MAINTAINER, ANNOTATOR)


def lockout(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The page a throttled login gets (settings.AXES_LOCKOUT_CALLABLE), for the site and the Django admin."""
    from django.conf import settings

    ends = lockout_ends(request, credentials)
    seconds = max(0, (ends - timezone.now()).total_seconds())
    response = render(
        request,
        "accounts/lockout.html",
        {"retry_at": ends, "retry_minutes": max(1, math.ceil(seconds / 60))},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(math.ceil(seconds))
    return response


def _role_of(user) -> str:
    if user.is_superuser:
        return ADMIN
    held = {group.name for group in user.role_groups}
    return next((role for role in ROLE_ORDER if role in held), services.NO_ROLE)


def _row(user) -> dict:
    role = _role_of(user)
    return {"user": user, "role": role, "role_label": ROLE_LABELS.get(role, "")}


def _role_choices() -> list[tuple[str, str]]:
    return [(role, ROLE_LABELS[role]) for role in ROLE_ORDER] + [(services.NO_ROLE, _("No role"))]


@admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "")
    page = Paginator(selectors.user_list(search=search), 50).get_page(request.GET.get("page"))
    query = urlencode({"q": search}) if search else ""
    return render(
        request,
        "accounts/users.html",
        {"page": page, "rows": [_row(u) for u in page], "search": search, "query": query, "choices": _role_choices()},
    )


@admin_required
@require_POST
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(get_user_model(), pk=pk)
    role = request.POST.get("role", "")
    error = notice = ""
    try:
        change = services.user_set_role(user=target, role=role, actor=request.user)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    else:
        label = ROLE_LABELS.get(role, _("No role"))
        if change is not None:
            notice = _("%(name)s now has the role: %(role)s.") % {"name": target.get_username(), "role": label}
    if request.htmx:
        user = selectors.user_list().get(pk=pk)
        return render(
            request,
            "accounts/users.html#user-row",
            {"row": _row(user), "choices": _role_choices(), "error": error, "notice": notice},
        )
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    back = reverse("accounts:users")
    search = request.POST.get("q", "")
    return redirect(f"{back}?{urlencode({'q': search})}" if search else back)
