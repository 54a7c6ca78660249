"""In a real browser: a maintainer starts a 50-candidate run and watches htmx progress reach the end."""

import os
import threading

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _async_unsafe(monkeypatch):
    # Playwright's sync API runs an event loop. Set for these tests only: at module level the variable
    # would leak into every later subprocess (e.g. `check --deploy`, which rightly refuses it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def worker_thread(monkeypatch):
    """Stands in for the Celery worker: runs the queued run on a thread, after the request committed."""
    from django.db import connection, transaction

    from curation import generation_services as gen

    threads = []

    def run_later(run_id):
        def work():
            try:
                gen.run_execute(run_id=run_id)
            finally:
                connection.close()

        def start():
            t = threading.Thread(target=work, daemon=True)
            threads.append(t)
            t.start()

        transaction.on_commit(start)

    monkeypatch.setattr(gen, "_enqueue", run_later)
    yield threads
    for t in threads:
        t.join(60)


def test_maintainer_watches_a_50_candidate_run_to_the_end(live_server, make_endpoint, legality, sim, worker_thread):
    from playwright.sync_api import expect, sync_playwright

    from curation.models import GenerationRun
    from tests.factories import UserFactory

    sim.set_latency(400)  # slow enough to see the run in progress
    make_endpoint(max_concurrency=2)
    UserFactory(username="m-browser", role="Maintainer")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "m-browser")
            page.fill("input[name=password]", "pw-123456")
            page.click("form.stack button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            page.goto(f"{live_server.url}/curation/generation/")
            form = page.locator("#llm-run form")
            form.locator("select[name=dimension]").select_option(str(legality.pk))
            form.locator("input[name=count]").fill("50")
            form.locator("button[type=submit]").click()
            page.wait_for_url("**/curation/generation/runs/*/")
            status = page.locator("#run-status")
            expect(status).to_have_text("运行中", timeout=15000)  # polling shows the run while it works
            expect(status).to_have_text("已完成", timeout=60000)
            expect(page.locator("#created")).to_have_text("50")
            assert page.locator("#run-progress[hx-trigger]").count() == 0  # polling stopped at the end
        finally:
            browser.close()
    run = GenerationRun.objects.get()
    assert run.status == "succeeded" and run.candidates_created == 50
