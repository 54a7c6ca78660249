"""Error pages, what the logs say about errors, the favicon, and a quiet broker at start-up.

Pages are fetched with DEBUG off, as in production (with DEBUG on Django shows its own debug pages for 404
and 500). `tests.error_urls` adds views that refuse or fail on purpose to the site's URLs.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
ERROR_URLS = "tests.error_urls"

pytestmark = pytest.mark.django_db

production_like = override_settings(DEBUG=False, ROOT_URLCONF=ERROR_URLS)


def _switch_to_english(client: Client) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": "/"})


def _html_lang(body: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', body)
    assert found, body[:300]
    return found.group(1)


def _link(body: str, element_id: str) -> tuple[str, str] | None:
    """(href, text) of the link with that id, or None."""
    tag = re.search(rf'<a\b([^>]*\bid="{element_id}"[^>]*)>(.*?)</a>', body, flags=re.S)
    if not tag:
        return None
    href = re.search(r'href="([^"]*)"', tag.group(1))
    return (href.group(1) if href else "", tag.group(2).strip())


# --------------------------------------------------------------------------- pages


@production_like
def test_annotator_opening_a_maintainer_page_gets_a_site_page_in_chinese_then_english(client, annotator):
    client.force_login(annotator)
    response = client.get(reverse("agreement:dashboard"))
    assert response.status_code == 403
    assert [t.name for t in response.templates][:2] == ["403.html", "base.html"]
    body = response.content.decode()
    assert _html_lang(body) == "zh-hans"
    assert "<h1>禁止访问" in body
    assert _link(body, "error-home") == ("/", "首页")
    assert "ann1" in body  # who is logged in, in the site's header
    assert reverse("annotation:queue_list") in body  # the navigation of the site, not a bare text page
    assert _link(body, "error-login") is None  # already logged in

    _switch_to_english(client)
    body = client.get(reverse("agreement:dashboard")).content.decode()
    assert _html_lang(body) == "en"
    assert "<h1>Forbidden" in body and _link(body, "error-home") == ("/", "Home")


@production_like
def test_unknown_address_gets_a_404_page_with_home_and_login_for_anonymous_visitors(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert _html_lang(body) == "zh-hans"
    assert "<h1>页面没有找到" in body and "非常抱歉，请求的页面不存在。" in body
    assert _link(body, "error-home") == ("/", "首页")
    assert _link(body, "error-login") == (reverse("accounts:login"), "登录")

    _switch_to_english(client)
    body = client.get("/no/such/page/").content.decode()
    assert _html_lang(body) == "en" and "<h1>Page not found" in body
    assert _link(body, "error-login") == (reverse("accounts:login"), "Log in")


@production_like
def test_forbidden_page_for_an_anonymous_visitor_offers_login_back_to_the_page(client):
    body = client.get("/test-errors/forbidden/").content.decode()
    assert _link(body, "error-login") == (f'{reverse("accounts:login")}?next=/test-errors/forbidden/', "登录")


@production_like
def test_a_failing_view_gets_the_500_page_without_touching_the_database(client, maintainer,
                                                                        django_assert_num_queries):
    client.force_login(maintainer)
    client.raise_request_exception = False
    with django_assert_num_queries(0):
        response = client.get("/test-errors/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert _html_lang(body) == "zh-hans"
    assert "<h1>服务器错误" in body and _link(body, "error-home") == ("/", "首页")
    assert "Boom" not in body and "Traceback" not in body  # nothing of the failure leaks to the visitor

    client.cookies["django_language"] = "en"
    body = client.get("/test-errors/boom/").content.decode()
    assert _html_lang(body) == "en" and "<h1>Server error" in body


@production_like
def test_the_500_page_still_answers_when_its_template_cannot_render(client, settings):
    client.raise_request_exception = False
    # A template that fails while rendering, as a broken static manifest would make base.html fail.
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [ROOT / "tests" / "data" / "broken_500"]}]
    response = client.get("/test-errors/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "<h1>服务器错误</h1>" in body and '<a href="/">首页</a>' in body


@production_like
def test_a_request_for_an_unknown_host_gets_the_400_page(client):
    response = client.get("/", HTTP_HOST="unknown-host.example")
    assert response.status_code == 400
    body = response.content.decode()
    assert _html_lang(body) == "zh-hans" and "400" in body and _link(body, "error-home") == ("/", "首页")


@production_like
def test_api_errors_answer_json(client, maintainer):
    client.raise_request_exception = False
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "未找到。"}
    response = client.get("/api/test-errors/boom/")
    assert response.status_code == 500 and response.json() == {"detail": "服务器出现了错误。"}


@production_like
def test_a_form_posted_from_a_stale_page_gets_a_site_page_not_the_bare_csrf_text(client):
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(reverse("accounts:login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "CSRF verification failed" not in body
    assert _html_lang(body) == "zh-hans" and "<h1>禁止访问" in body
    assert _link(body, "error-login") == (reverse("accounts:login"), "登录") and _link(body, "error-home")


# --------------------------------------------------------------------------- favicon


@production_like
def test_favicon_is_answered_and_linked_from_every_page(client, caplog):
    with caplog.at_level(logging.INFO, logger="django.request"):
        response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    icon = b"".join(response) if response.streaming else response.content
    assert icon[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert int.from_bytes(icon[4:6], "little") >= 2  # more than one size
    assert caplog.records == []
    page = client.get(reverse("accounts:login")).content.decode()
    link = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert link and link.group(1).endswith("favicon.ico")
    assert (ROOT / "static" / "img" / "favicon.ico").read_bytes() == icon


# --------------------------------------------------------------------------- what the log says


def _request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request"]


@production_like
def test_expected_403_and_404_are_one_record_without_traceback_and_a_500_keeps_its_traceback(
    client, annotator, caplog
):
    client.force_login(annotator)
    client.raise_request_exception = False
    with caplog.at_level(logging.INFO):
        client.get(reverse("agreement:dashboard"))
    [record] = _request_records(caplog)
    assert record.levelno == logging.WARNING and record.status_code == 403
    assert record.getMessage() == "Forbidden (Permission denied): /agreement/"
    assert record.exc_info is None and "\n" not in logging.Formatter().format(record)

    caplog.clear()
    with caplog.at_level(logging.INFO):
        client.get("/no/such/page/")
    [record] = _request_records(caplog)
    assert record.levelno == logging.WARNING and record.getMessage() == "Not Found: /no/such/page/"
    assert record.exc_info is None

    caplog.clear()
    with caplog.at_level(logging.INFO):
        client.get("/test-errors/boom/")
    [record] = _request_records(caplog)
    assert record.levelno == logging.ERROR and record.status_code == 500
    assert record.exc_info and record.exc_info[0].__name__ == "Boom"
    assert "Traceback (most recent call last)" in logging.Formatter().format(record)


LOG_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import django
    django.setup()
    from django.test import Client, override_settings
    with override_settings(ROOT_URLCONF="tests.error_urls"):
        client = Client(raise_request_exception=False)
        for path in ("/test-errors/forbidden/", "/no/such/page/", "/test-errors/boom/"):
            print("=== " + path, file=sys.stderr, flush=True)
            client.get(path)
    """
)


def test_the_console_prints_each_error_once_with_the_site_running_in_debug(tmp_path):
    # The development set-up (DEBUG on, `make run`) with the real logging configuration: what a person reads.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "LIVESEC_VAR_DIR": str(tmp_path),
           "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", LOG_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    sections = dict(re.findall(r"=== (\S+)\n(.*?)(?=\n=== |\Z)", result.stderr, flags=re.S))
    forbidden, missing, boom = (sections[p] for p in ("/test-errors/forbidden/", "/no/such/page/",
                                                      "/test-errors/boom/"))
    assert forbidden.count("Forbidden (Permission denied): /test-errors/forbidden/") == 1, forbidden
    assert "Traceback" not in forbidden and len(forbidden.strip().splitlines()) == 1, forbidden
    assert missing.count("Not Found: /no/such/page/") == 1 and len(missing.strip().splitlines()) == 1, missing
    assert boom.count("Internal Server Error: /test-errors/boom/") == 1, boom
    assert boom.count("Traceback (most recent call last)") == 1 and "the view failed on purpose" in boom, boom


# --------------------------------------------------------------------------- broker


NO_HOSTNAME = "No hostname was supplied"

BROKER_SCRIPT = textwrap.dedent(
    """
    import django
    django.setup()
    from config.celery import app
    # What a worker prints in its banner, and what a web process does to queue a task.
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        print("broker", connection.as_uri())
    app.send_task("livesec.test.no_such_task", queue="livesec-test-quiet-broker")
    """
)


@pytest.mark.parametrize("broker", ["", "filesystem://"])
def test_the_on_disk_broker_connects_without_the_no_hostname_warning(tmp_path, broker):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LIVESEC_VAR_DIR": str(tmp_path),
           "CELERY_BROKER_URL": broker}
    result = subprocess.run([sys.executable, "-c", BROKER_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "broker filesystem://" in result.stdout
    assert NO_HOSTNAME not in result.stderr + result.stdout, result.stderr[-2000:]


def test_a_worker_starts_without_the_no_hostname_warning(tmp_path):
    env = {**os.environ, "LIVESEC_VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": "", "PYTHONUNBUFFERED": "1",
           "CELERY_TASK_DEFAULT_QUEUE": f"livesec-test-quiet-{os.getpid()}"}
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "info",
             "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 150
            while "ready." not in log.read_text(errors="replace"):
                assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the worker did not start\n" + log.read_text()[-3000:]
                time.sleep(0.3)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
    text = log.read_text(errors="replace")
    assert "transport:   filesystem://" in text
    assert NO_HOSTNAME not in text, text[:3000]


# --------------------------------------------------------------------------- in a browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_403_page_in_a_browser_in_chinese_then_english(live_server, monkeypatch):
    from tests.browser import browser_page, login, screenshot

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    UserFactory(username="标注员甲", role="Annotator")
    with browser_page() as page:
        login(page, live_server, "标注员甲", "pw-123456")
        response = page.goto(f"{live_server.url}{reverse('agreement:dashboard')}")
        assert response.status == 403
        assert page.inner_text("h1").startswith("禁止访问")
        assert page.evaluate("document.documentElement.lang") == "zh-hans"
        assert page.locator("header.topbar nav a").count() > 1  # the site's navigation is there
        home = page.locator("#error-home")
        assert home.is_visible() and home.inner_text() == "首页"
        icon = page.evaluate("document.querySelector('link[rel=icon]').href")
        assert page.request.get(icon).status == 200
        screenshot(page, "error-403-zh")

        with page.expect_navigation():
            page.click(".lang-switch button")
        assert page.url.endswith(reverse("agreement:dashboard"))
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.inner_text("h1").startswith("Forbidden")
        assert page.locator("#error-home").inner_text() == "Home"
        screenshot(page, "error-403-en")

        with page.expect_navigation():
            page.click("#error-home")
        assert page.url == f"{live_server.url}/"
        assert page.locator("h1").inner_text() == "Annotator home"
