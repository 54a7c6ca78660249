"""The pages' one shape of a state change on one object: a POSTed button, optionally behind a confirmation tick,
calls one service; the page it returns to says what happened (or the service's reason for refusing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect


def page_action(request, target: Any, service: Callable[..., Any], *, keyword: str, refusal: type[Exception],
                done: str, back: str, unconfirmed: str | None = None, **back_kwargs):
    """`service(<keyword>=target, actor=request.user)`; then back to the `back` page. With `unconfirmed`, a POST
    without `confirm=1` changes nothing and shows that message."""
    if unconfirmed is not None and request.POST.get("confirm") != "1":
        messages.error(request, unconfirmed)
        return redirect(back, **back_kwargs)
    try:
        with transaction.atomic():
            service(**{keyword: target}, actor=request.user)
    except refusal as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(back, **back_kwargs)
