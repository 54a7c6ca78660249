"""Every session-authenticated write without a CSRF token is refused, on every route of the URL conf.

A browser session is what a forged cross-site form rides on: each route (pages, htmx fragments, the API, the
Django admin, the language switch) gets POST, PUT, PATCH and DELETE from a signed-in admin, and from anonymous for
the login forms, with no token. The middleware (pages) or DRF's session authentication (API) must answer 403
before the view runs, so object ids in the URL need not exist; the only other acceptable answer is 405 from a
route that takes no such method at all. Token-authenticated API calls carry no cookie and need no token.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import UserFactory

WRITES = ("POST", "PUT", "PATCH", "DELETE")
# Routes that answer a write without a CSRF check, each for a reason: static-like responses that ignore the method.
EXEMPT = {"favicon", "javascript-catalog"}


def _routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _routes(p, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield (f"{namespace}{p.name}" if p.name else prefix + str(p.pattern)), prefix + str(p.pattern)


def _path(pattern: str) -> str:
    """A concrete path for a route pattern: every converter gets a value of its type."""
    path = pattern.lstrip("^").rstrip("$").replace("\\Z", "")
    path = re.sub(r"<int:\w+>|<\w+>|<str:\w+>|<slug:\w+>|<path:\w+>", lambda m: "1" if "int:" in m.group(0) else "x",
                  path)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", path)  # regex routes (the Django admin)
    path = re.sub(r"[\^$?]", "", path).replace("\\", "")
    return "/" + path


@pytest.mark.django_db
def test_no_route_takes_a_write_from_a_session_without_a_csrf_token():
    admin = UserFactory(role="Admin", is_staff=True, is_superuser=True)
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(admin)
    anonymous = Client(enforce_csrf_checks=True)
    routes = dict(_routes())
    assert len(routes) > 100 and "api-prompts-import" in {k.split(":")[-1] for k in routes}
    accepted = []
    for name, pattern in sorted(routes.items()):
        if name.split(":")[-1] in EXEMPT:
            continue
        path = _path(pattern)
        for client in (signed_in, anonymous) if "login" in name else (signed_in,):
            for method in WRITES:
                # What a cross-site form can send: multipart or form-encoded bodies (JSON would need CORS).
                if method == "POST":
                    response = client.post(path, {"text": "forged"})
                else:
                    response = getattr(client, method.lower())(
                        path, data="text=forged", content_type="application/x-www-form-urlencoded")
                if response.status_code not in (403, 405):
                    accepted.append(f"{method} {path} ({name}) -> {response.status_code}")
    assert not accepted, "writes taken without a CSRF token:\n" + "\n".join(accepted)


@pytest.mark.django_db
def test_the_same_write_with_the_token_is_let_through():
    # the check above would also pass if every route refused every write: one real write with a token goes in
    maintainer = UserFactory(role="Maintainer")
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    client.get("/")  # any page sets the CSRF cookie
    token = client.cookies.get("csrftoken")
    assert token is not None
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, HTTP_X_CSRFTOKEN=token.value)
    assert response.status_code == 302
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 403
