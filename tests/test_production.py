"""The README's production set-up works: collectstatic with the manifest storage, then pages answer 200.

``collectstatic`` runs as the README says (DEBUG=0, in a subprocess); the pages are then fetched with DEBUG off
and the same manifest storage reading what it wrote, so a static file referenced by a template or by another
static file (a source map, a CSS ``url()``) that is not shipped fails here instead of in production.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory, approved_prompts, make_queue

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
HASHED = re.compile(r'(?:src|href)="(/static/[^"]+\.[0-9a-f]{12}\.\w+)"')
STATIC_REF = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def _production_env(**extra: str) -> dict[str, str]:
    drop = {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "STATIC_ROOT"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DEBUG="0", SECRET_KEY="p" * 20 + "-production-secret-for-collectstatic-0123456789",
               ALLOWED_HOSTS="livesec.example.org", **extra)
    return env


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("staticfiles")
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT, env=_production_env(STATIC_ROOT=str(root)), capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (root / "staticfiles.json").exists()
    return root


@pytest.fixture
def production_static(settings, static_root):
    settings.DEBUG = False
    settings.STATIC_ROOT = static_root
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
    return static_root


def test_production_settings_use_the_manifest_storage():
    code = "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT,
                            env=_production_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == MANIFEST_STORAGE


def test_collectstatic_writes_a_manifest_with_every_vendored_file(static_root):
    import json

    paths = json.loads((static_root / "staticfiles.json").read_text(encoding="utf-8"))["paths"]
    for name in ("vendor/htmx-2.0.11.min.js", "vendor/chart-4.6.1.umd.min.js", "css/app.css",
                 "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"):
        assert name in paths
        assert (static_root / paths[name]).exists()


def _page(client: Client, url: str) -> str:
    response = client.get(url, secure=True)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _assert_hashed(page: str, url: str, *must: str) -> list[str]:
    refs = STATIC_REF.findall(page)
    assert refs, url
    unhashed = [ref for ref in refs if not HASHED.search(f'src="{ref}"')]
    assert unhashed == [], (url, unhashed)
    for name in must:
        assert any(name in ref for ref in refs), (url, name, refs)
    return refs


@pytest.mark.django_db
def test_pages_answer_with_hashed_static_urls_that_are_served(production_static, taxonomy):
    from releases import services as releases

    maintainer = UserFactory(username="prod-maint", role="Maintainer")
    annotator = UserFactory(username="prod-ann", role="Annotator")
    admin = UserFactory(username="prod-admin", role="Admin")
    approved_prompts(4)
    draft = releases.release_create_draft(version="v251101", taxonomy="v251030", parent=None)
    frozen = releases.release_freeze_now(release_id=draft.pk)
    queue = make_queue(name="prod queue", members=[annotator], actor=maintainer)

    served: set[str] = set()
    anonymous = Client()
    login = reverse("accounts:login")
    served.update(_assert_hashed(_page(anonymous, login), login, "vendor/htmx-2.0.11.min.", "css/app."))

    pages = {
        maintainer: [reverse("curation:prompt_list"), reverse("releases:release_detail", args=[frozen.version]),
                     reverse("annotation:queue_detail", args=[queue.pk])],
        annotator: [reverse("annotation:queue_list"), reverse("annotation:my_work"),
                    reverse("releases:release_detail", args=[frozen.version])],
        admin: [reverse("agreement:dashboard")],
    }
    for user, urls in pages.items():
        client = Client()
        client.force_login(user)
        for url in urls:
            must = ["vendor/chart-4.6.1.umd.min."] if "release" in url or "agreement" in url else []
            served.update(_assert_hashed(_page(client, url), url, "vendor/htmx-2.0.11.min.", *must))

    docs_client = Client()
    docs_client.force_login(maintainer)
    docs = _page(docs_client, reverse("swagger-ui"))
    assert re.search(r"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]{12}\.js", docs)

    # WhiteNoise serves the hashed names from STATIC_ROOT with a far-future cache lifetime.
    for ref in sorted(served):
        response = anonymous.get(ref, secure=True)
        assert response.status_code == 200, ref
        assert "immutable" in response.headers.get("Cache-Control", ""), ref
        b"".join(response.streaming_content if response.streaming else [response.content])
        response.close()


HEADERS_PROBE = """
import json
from django.conf import settings
from django.test import Client
proxied = Client(HTTP_X_FORWARDED_PROTO="https", SERVER_NAME="livesec.example.org")
page = proxied.get("/accounts/login/")
plain = Client(SERVER_NAME="livesec.example.org").get("/accounts/login/")
print(json.dumps({"status": page.status_code, "headers": dict(page.headers),
                  "cookies": {k: {a: v[a] for a in ("secure", "httponly", "samesite")} for k, v in page.cookies.items()},
                  "plain": [plain.status_code, plain.headers.get("Location", "")],
                  "session": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                              settings.SESSION_COOKIE_SAMESITE]}))
"""


def test_with_debug_off_the_security_headers_and_cookie_flags_are_those_of_production(static_root, tmp_path):
    """As the README's production settings serve a page behind the HTTPS proxy (X-Forwarded-Proto), in a process
    of their own: HSTS with preload, no framing, no sniffing, the referrer and opener policies, the CSP, secure
    cookies, and plain HTTP redirected to HTTPS."""
    env = _production_env(STATIC_ROOT=str(static_root), DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", HEADERS_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    headers = seen["headers"]
    assert seen["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin" and headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "script-src 'self'" in headers["Content-Security-Policy"] and "unsafe" not in headers["Content-Security-Policy"]
    csrf = seen["cookies"]["csrftoken"]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    assert seen["session"] == [True, True, "Lax"]  # the session cookie appears at login: its flags, as set
    assert seen["plain"][0] == 301 and seen["plain"][1].startswith("https://livesec.example.org/")
