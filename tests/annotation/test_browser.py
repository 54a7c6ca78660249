"""An annotator logs in and reviews three items in headless Chromium using only the keyboard."""

import os

import pytest
from django.urls import reverse

from annotation.models import Annotation
from curation.models import Prompt
from tests.factories import UserFactory, make_items, make_queue


@pytest.fixture(autouse=True)
def _async_unsafe(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls here. Set
    # for this module's tests only, so it never leaks into other tests (e.g. the deploy check's subprocess).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_annotator_reviews_three_items_with_the_keyboard_only(django_db_setup, live_server, taxonomy):
    # django_db_setup first: the live server (and its connection) then stops before the test database is dropped.
    from playwright.sync_api import expect, sync_playwright

    user = UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1, guidelines="先读题，再判断。")
    items = make_items(3)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)  # CI machines can be slow; every wait below is for a real event
            expect.set_options(timeout=30_000)
            page.goto(live_server.url + reverse("accounts:login"))
            page.keyboard.type("keyboard")  # the username field has autofocus
            page.keyboard.press("Tab")
            page.keyboard.type("pw-123456")
            page.keyboard.press("Enter")
            page.wait_for_url(live_server.url + reverse("home"))
            page.goto(live_server.url + reverse("annotation:review", args=[queue.pk]))
            page.wait_for_function("() => window.htmx !== undefined")  # deferred scripts have run
            expect(page.locator("[data-start]")).to_be_focused()
            page.keyboard.press("Enter")  # "Start reviewing" has focus

            text = page.locator("#prompt-text")
            # 1: severity 4 with the digit key, then A accepts.
            expect(text).to_have_text(items[0].prompt.text)
            page.wait_for_timeout(300)  # reading time, so the recorded time is not rounded to zero
            page.keyboard.press("4")
            page.keyboard.press("a")
            # 2: E opens the editor, type, Ctrl+Enter saves the edit.
            expect(text).to_have_text(items[1].prompt.text)
            page.wait_for_timeout(300)
            page.keyboard.press("e")
            page.keyboard.type("（请改写）")
            page.keyboard.press("Control+Enter")
            # 3: R, reason 2 (duplicate), Enter confirms.
            expect(text).to_have_text(items[2].prompt.text)
            page.wait_for_timeout(300)
            page.keyboard.press("r")
            page.keyboard.press("2")
            page.keyboard.press("Enter")
            expect(page.locator(".done")).to_be_visible()
            assert page.url.endswith(reverse("annotation:review", args=[queue.pk]))
        finally:
            browser.close()

    by_prompt = {a.prompt_id: a for a in Annotation.objects.filter(annotator=user)}
    first, second, third = (by_prompt[i.prompt_id] for i in items)
    assert (first.decision, first.severity) == ("accept", 4)
    assert second.decision == "edit" and second.final_text == items[1].prompt.text + "（请改写）"
    assert (third.decision, third.reject_reason) == ("reject", "duplicate")
    assert all(a.seconds_spent > 0 for a in (first, second, third))
    statuses = dict(Prompt.objects.values_list("pk", "status"))
    assert [statuses[i.prompt_id] for i in items] == ["approved", "approved", "rejected"]
