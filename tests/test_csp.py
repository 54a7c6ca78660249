"""Every page answers with the site's Content-Security-Policy (only its own scripts and styles), error pages, the
admin and the API docs included; no template carries what that policy would refuse."""

import re
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "font-src": {"'self'"},
    "connect-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}


def _directives(header: str) -> dict[str, set[str]]:
    parsed = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        assert name not in parsed, header
        parsed[name] = set(values)
    return parsed


def _assert_policy(response):
    assert "Content-Security-Policy" in response, (response.status_code, response.get("Content-Type"))
    assert _directives(response["Content-Security-Policy"]) == POLICY
    assert "Content-Security-Policy-Report-Only" not in response


@override_settings(DEBUG=False, ROOT_URLCONF="tests.error_urls")
def test_pages_error_pages_admin_and_api_docs_carry_exactly_the_policy(client, taxonomy):
    client.raise_request_exception = False
    anonymous = {
        reverse("accounts:login"): 200,
        "/no-such-page/": 404,
        reverse("admin:login"): 200,
    }
    for path, status in anonymous.items():
        response = client.get(path)
        assert response.status_code == status, path
        assert response["Content-Type"].startswith("text/html")
        _assert_policy(response)
    _assert_policy(client.get("/", HTTP_HOST="unknown-host.example"))  # 400

    client.force_login(UserFactory(role="Annotator"))
    forbidden = client.get(reverse("releases:release_create"))
    assert forbidden.status_code == 403
    _assert_policy(forbidden)

    client.force_login(UserFactory(role="Maintainer"))
    for path in (reverse("home"), reverse("curation:prompt_list"), reverse("agreement:dashboard"),
                 reverse("evaluation:run_list"), reverse("swagger-ui")):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_policy(response)
    failed = client.get("/test-errors/boom/")
    assert failed.status_code == 500
    _assert_policy(failed)

    client.force_login(UserFactory(role="Admin", is_staff=True, is_superuser=True))
    for path in (reverse("admin:index"), reverse("admin:curation_prompt_changelist")):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_policy(response)


def test_the_api_docs_load_their_init_script_from_the_site_not_inline(client):
    client.force_login(UserFactory(role="Maintainer"))
    page = client.get(reverse("swagger-ui")).content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert "<style" not in page and 'style="' not in page
    init = re.search(r'<script src="([^"]*\?[^"]*script=[^"]*)"', page)
    assert init, page
    script = client.get(init.group(1).replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


# What the policy refuses, written into a template: inline script (a <script> with a body that is not a JSON data
# block), <style>, style="…", on…= handlers, javascript: URLs and htmx's eval-based hx-on / js: values.
REFUSED = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"), "inline script"),
    (re.compile(r"<style\b"), "<style>"),
    (re.compile(r"\sstyle\s*="), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\bhx-on\b|\bhx-on:|\bhx-vars\b|=[\"']js:"), "htmx eval"),
]


def test_no_template_writes_what_the_policy_refuses():
    found = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern, what in REFUSED:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(ROOT)}:{line}: {what}")
    assert found == []


def test_htmx_is_told_not_to_inject_its_style_nor_to_eval(client):
    page = client.get(reverse("accounts:login")).content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    assert config and '"includeIndicatorStyles": false' in config.group(1) and '"allowEval": false' in config.group(1)
    css = (ROOT / "static" / "css" / "app.css").read_text(encoding="utf-8")
    assert ".htmx-indicator" in css and ".htmx-request .htmx-indicator" in css
