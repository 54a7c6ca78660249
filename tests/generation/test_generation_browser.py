"""In a real browser: a maintainer starts a 50-candidate run and watches htmx progress and the batch table reach
the end without reloading; the run page (and one whose quality gate dropped texts) in both languages."""

import pytest

from tests.browser import chromium, login, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = (("zh-CN", "zh-hans"), ("en-US", "en"))


@pytest.fixture(autouse=True)
def _async_unsafe(monkeypatch):
    # Playwright's sync API runs an event loop. Set for these tests only: at module level the variable
    # would leak into every later subprocess (e.g. `check --deploy`, which rightly refuses it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _batch_rows(page) -> list[dict]:
    return page.eval_on_selector_all("#batches tr.batch-row", """rows => rows.map(r => ({
        status: r.dataset.status, label: r.cells[1].innerText.trim(),
        created: Number(r.querySelector('.batch-created').innerText), gated: Number(r.querySelector('.batch-gated').innerText)
    }))""")


def test_maintainer_watches_a_50_candidate_run_to_the_end(live_server, make_endpoint, legality, sim, worker_thread):
    from playwright.sync_api import expect

    from generation.models import GenerationRun
    from tests.factories import UserFactory

    sim.set_latency(400)  # slow enough to see the run in progress
    make_endpoint(max_concurrency=2)
    UserFactory(username="m-browser", role="Maintainer")
    with chromium() as browser:
        page = new_page(browser)
        login(page, live_server, "m-browser", "pw-123456")
        page.goto(f"{live_server.url}/curation/generation/")
        form = page.locator("#llm-run form")
        form.locator("select[name=dimension]").select_option(str(legality.pk))
        form.locator("input[name=count]").fill("50")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/curation/generation/runs/*/")
        run_url = page.url
        page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
        status = page.locator("#run-status")
        expect(status).to_have_text("运行中", timeout=15000)  # polling shows the run while it works
        expect(page.locator("#batches tr.batch-row")).to_have_count(5)
        expect(status).to_have_text("已完成", timeout=60000)
        expect(page.locator("#created")).to_have_text("50")
        assert page.locator("#run-progress[hx-trigger]").count() == 0  # polling stopped at the end
        # The batch table followed the run: every batch done with its numbers, without a reload.
        rows = _batch_rows(page)
        assert [r["status"] for r in rows] == ["done"] * 5 and {r["label"] for r in rows} == {"完成"}
        assert sum(r["created"] for r in rows) == 50 and all(r["created"] == 10 and r["gated"] == 0 for r in rows)
        assert page.evaluate("window.loadedOnce === true") and page.url == run_url
        screenshot(page, "generation-run-zh-hans")
        page.context.close()

        english = new_page(browser, locale="en-US")
        english.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        login(english, live_server, "m-browser", "pw-123456")
        english.goto(run_url)
        assert english.locator("html").get_attribute("lang") == "en"
        expect(english.locator("#run-status")).to_have_text("Succeeded")
        assert {r["label"] for r in _batch_rows(english)} == {"Done"}
        screenshot(english, "generation-run-en")
    run = GenerationRun.objects.get()
    assert run.status == "succeeded" and run.candidates_created == 50


def test_the_quality_gate_of_a_run_in_both_languages(live_server, make_endpoint, legality, sim):
    from playwright.sync_api import expect

    from generation import services as gen
    from tests.factories import UserFactory

    run = gen.run_create(count=20, endpoint=make_endpoint(model="sim-generator@echo=mixed"), dimension=legality,
                         enqueue=False)
    run = gen.run_execute(run_id=run.pk)
    dropped = [g["text"] for b in run.batches.order_by("index") for g in b.gated_items]
    assert run.gated == len(dropped) > 0
    UserFactory(username="m-browser", role="Maintainer")
    with chromium() as browser:
        for locale, language in LANGUAGES:
            page = new_page(browser, locale=locale)
            page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
            login(page, live_server, "m-browser", "pw-123456")
            page.goto(f"{live_server.url}/curation/generation/runs/{run.pk}/")
            expect(page.locator("#gated")).to_have_text(str(run.gated))
            texts = page.locator("#gated-texts tr.gated-text td.prompt-text")
            expect(texts.first).to_be_hidden()  # folded until asked for
            page.locator("#gated-texts summary").click()
            expect(texts).to_have_count(len(dropped))
            assert texts.all_inner_texts() == dropped  # shown as text, JSON fragments and all
            screenshot(page, f"generation-run-gated-{language}")
            page.context.close()
