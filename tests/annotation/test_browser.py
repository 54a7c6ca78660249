"""The review page in headless Chromium, driven the way annotators drive it: from the keyboard, fast."""

import os

import pytest
from django.urls import reverse

from annotation.models import Annotation
from curation.models import Prompt, Technique
from tests.browser import chromium, login, new_page, screenshot
from tests.factories import UserFactory, make_items, make_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _async_unsafe(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls here. Set
    # for this module's tests only, so it never leaks into other tests (e.g. the deploy check's subprocess).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # CI machines can be slow; every wait is for a real event
    return expect


def _start(page, live_server, queue, username="keyboard"):
    """Log in, open the queue's review page and press Enter on "Start reviewing"."""
    page.set_default_timeout(30_000)
    login(page, live_server, username, "pw-123456")
    page.goto(live_server.url + reverse("annotation:review", args=[queue.pk]))
    page.wait_for_function("() => window.htmx !== undefined")  # deferred scripts have run
    page.keyboard.press("Enter")


READ_MS = 1000  # an annotator's (quick) look at an item: past the page's key guard, 400 ms by default


def _read(page):
    """What an annotator does before deciding: look at the item for a moment."""
    page.wait_for_timeout(READ_MS)


# Relative luminance and contrast ratio (WCAG 2) of the text of `el` against what is painted behind it:
# each background up the tree composited over the one below, from an opaque white page.
CONTRAST_JS = """
(el) => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return [0, 0, 0, 0];
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, below) => { const a = top[3] + below[3] * (1 - top[3]);
    return [0, 1, 2].map(i => (top[i] * top[3] + below[i] * below[3] * (1 - top[3])) / a).concat([a]); };
  const layers = []; for (let n = el; n; n = n.parentElement) layers.push(parse(getComputedStyle(n).backgroundColor));
  let bg = [255, 255, 255, 1]; for (const layer of layers.reverse()) bg = over(layer, bg);
  const fg = over(parse(getComputedStyle(el).color), bg);
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}
"""


def _low_contrast(page, selector):
    """(text, ratio) of every visible element matching `selector` whose text reads below WCAG AA (4.5:1)."""
    found = []
    for el in page.locator(selector).all():
        if el.is_visible():
            ratio = el.evaluate(CONTRAST_JS)
            if ratio < 4.5:
                found.append((el.inner_text().strip(), round(ratio, 2)))
    return found


def test_an_annotator_reviews_three_items_with_the_keyboard_only(django_db_setup, live_server, taxonomy, expect):
    # django_db_setup first: the live server (and its connection) then stops before the test database is dropped.
    user = UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1, guidelines="先读题，再判断。")
    items = make_items(3)
    with chromium() as browser:
        page = new_page(browser)
        page.set_default_timeout(30_000)
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
        _read(page)
        page.keyboard.press("4")
        page.keyboard.press("a")
        # 2: E opens the editor, type, Ctrl+Enter saves the edit.
        expect(text).to_have_text(items[1].prompt.text)
        _read(page)
        page.keyboard.press("e")
        page.keyboard.type("（请改写）")
        page.keyboard.press("Control+Enter")
        # 3: R, reason 2 (duplicate), Enter confirms.
        expect(text).to_have_text(items[2].prompt.text)
        _read(page)
        page.keyboard.press("r")
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        expect(page.locator(".done")).to_be_visible()
        assert page.url.endswith(reverse("annotation:review", args=[queue.pk]))

    by_prompt = {a.prompt_id: a for a in Annotation.objects.filter(annotator=user)}
    first, second, third = (by_prompt[i.prompt_id] for i in items)
    assert (first.decision, first.severity) == ("accept", 4)
    assert second.decision == "edit" and second.final_text == items[1].prompt.text + "（请改写）"
    assert (third.decision, third.reject_reason) == ("reject", "duplicate")
    assert all(a.seconds_spent > 0 for a in (first, second, third))
    statuses = dict(Prompt.objects.values_list("pk", "status"))
    assert [statuses[i.prompt_id] for i in items] == ["approved", "approved", "rejected"]


@pytest.mark.parametrize("gap_ms", [200, 500])
def test_a_key_pressed_twice_decides_only_the_item_that_was_read(django_db_setup, live_server, taxonomy, expect, gap_ms):
    """A then A again a moment later: the second press lands on the next item, which was on screen for a
    fraction of a second. It must be ignored, as must a digit (severity) pressed with it."""
    user = UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1)
    items = make_items(3)
    with chromium() as browser:
        page = new_page(browser)
        _start(page, live_server, queue)
        text = page.locator("#prompt-text")
        expect(text).to_have_text(items[0].prompt.text)
        _read(page)
        page.keyboard.press("a")
        page.wait_for_timeout(gap_ms)
        page.keyboard.press("a")
        page.keyboard.press("3")
        expect(text).to_have_text(items[1].prompt.text)
        page.wait_for_timeout(1500)  # a second decision, had it gone out, would have come back by now
        assert list(Annotation.objects.values_list("prompt_id", flat=True)) == [items[0].prompt_id]
        expect(text).to_have_text(items[1].prompt.text)
        assert page.locator("input[name=severity]:checked").count() == 0
        # Once the item could have been read, the same key acts on it.
        page.keyboard.press("a")
        expect(text).to_have_text(items[2].prompt.text)
    assert Annotation.objects.filter(annotator=user).count() == 2


def test_a_double_click_on_accept_decides_one_item(django_db_setup, live_server, taxonomy, expect):
    """The same defect with the mouse: the second click of a double click hits the next item's Accept."""
    UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1)
    items = make_items(4)
    with chromium() as browser:
        page = new_page(browser)
        _start(page, live_server, queue)
        text = page.locator("#prompt-text")
        expect(text).to_have_text(items[0].prompt.text)
        _read(page)
        page.keyboard.press("a")  # from now on each item comes with the "saved" line: the buttons stay put
        expect(text).to_have_text(items[1].prompt.text)
        _read(page)
        box = page.locator("button[name=decision][value=accept]").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(x, y)
        page.wait_for_timeout(200)
        page.mouse.click(x, y)
        expect(text).to_have_text(items[2].prompt.text)
        page.wait_for_timeout(1500)
        decided = set(Annotation.objects.values_list("prompt_id", flat=True))
        assert decided == {items[0].prompt_id, items[1].prompt_id}


def test_buttons_and_their_key_labels_are_readable(django_db_setup, live_server, taxonomy, expect):
    """Every button's text and <kbd> label on the start page and the review page reads at WCAG AA contrast
    (the start button's "Enter" was white on white)."""
    UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1)
    items = make_items(1)
    with chromium() as browser:
        page = new_page(browser)
        page.set_default_timeout(30_000)
        login(page, live_server, "keyboard", "pw-123456")
        page.goto(live_server.url + reverse("annotation:review", args=[queue.pk]))
        page.wait_for_function("() => window.htmx !== undefined")
        assert _low_contrast(page, "#review-item button, #review-item button kbd") == []
        page.keyboard.press("Enter")
        expect(page.locator("#prompt-text")).to_have_text(items[0].prompt.text)
        _read(page)
        page.keyboard.press("r")  # the reject panel's button too
        assert _low_contrast(page, "#review-item button, #review-item button kbd") == []
        page.goto(live_server.url + reverse("home"))
        assert _low_contrast(page, "main button, main button kbd, main .button, main .button kbd") == []


def test_techniques_from_the_keyboard_and_a_requested_one_confirmed(django_db_setup, live_server, taxonomy, expect):
    """T enters the technique checkboxes, arrows move, Space checks; a technique the generator was asked for
    is offered unchecked and marked "requested", and checking it makes it the prompt's label."""
    user = UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1)
    techniques = list(Technique.objects.order_by("order", "code"))
    (item,) = make_items(1, provenance={"kind": "generation", "techniques_requested": [techniques[1].code]})
    with chromium() as browser:
        page = new_page(browser)
        _start(page, live_server, queue)
        expect(page.locator("#prompt-text")).to_have_text(item.prompt.text)
        help_text = page.locator("#shortcut-help").inner_text()
        assert "T" in help_text and "Space" in help_text
        requested = page.locator("[data-techniques] label.requested")
        expect(requested).to_have_count(1)
        expect(requested.locator("input")).not_to_be_checked()
        assert requested.locator("input").get_attribute("value") == str(techniques[1].pk)
        _read(page)
        page.keyboard.press("t")
        boxes = page.locator("[data-techniques] input[type=checkbox]")
        expect(boxes.nth(0)).to_be_focused()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowLeft")
        expect(boxes.nth(1)).to_be_focused()
        page.keyboard.press(" ")
        expect(boxes.nth(1)).to_be_checked()
        page.keyboard.press("End")
        expect(boxes.nth(len(techniques) - 1)).to_be_focused()
        page.keyboard.press("ArrowRight")  # wraps to the first
        expect(boxes.nth(0)).to_be_focused()
        page.keyboard.press("Escape")
        expect(boxes.nth(0)).not_to_be_focused()
        page.keyboard.press("a")
        expect(page.locator(".done")).to_be_visible()
    ann = Annotation.objects.get(annotator=user)
    assert [t.code for t in ann.techniques.all()] == [techniques[1].code]
    assert [t.code for t in Prompt.objects.get(pk=item.prompt_id).techniques.all()] == [techniques[1].code]


def test_a_refused_reject_shows_only_its_error(django_db_setup, live_server, taxonomy, expect):
    """After a page load that said "saved", a reject refused for want of a note shows the refusal alone."""
    UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1)
    items = make_items(2)
    with chromium() as browser:
        page = new_page(browser)
        _start(page, live_server, queue)
        text = page.locator("#prompt-text")
        expect(text).to_have_text(items[0].prompt.text)
        # A submit that goes past htmx (as one does before the page's scripts have loaded): the server saves,
        # redirects to the next item and says so above the page.
        page.evaluate("""() => { const f = document.getElementById('review-form');
            f.querySelector('[data-decision]').value = 'accept'; HTMLFormElement.prototype.submit.call(f); }""")
        page.wait_for_url("**/claims/**")
        expect(text).to_have_text(items[1].prompt.text)
        expect(page.locator("main").get_by_text("已保存")).to_be_visible()
        _read(page)
        page.keyboard.press("r")
        page.keyboard.press("6")  # "other": needs a note
        page.keyboard.press("Enter")
        expect(page.locator("#review-item .flash.msg-error")).to_be_visible()
        expect(page.locator("#review-item .errors")).to_be_visible()
        expect(page.locator("main").get_by_text("已保存")).to_have_count(0)
    assert Annotation.objects.count() == 1


def test_screenshots_of_the_review_page_in_both_languages(django_db_setup, live_server, taxonomy, expect):
    """The review page with its progress, shortcut help and a requested technique, in Chinese and English."""
    user = UserFactory(username="keyboard", role="Annotator")
    queue = make_queue(n=1, guidelines="## 要点\n\n先读题，再判断。按 **A** 接受。")
    code = Technique.objects.order_by("order", "code").values_list("code", flat=True)[2]
    items = make_items(3, provenance={"kind": "generation", "techniques_requested": [code]})
    with chromium() as browser:
        for locale, language in (("zh-CN", "zh-hans"), ("en-US", "en")):
            page = new_page(browser, locale=locale)
            page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
            _start(page, live_server, queue)
            expect(page.locator("#prompt-text")).to_have_text(items[0].prompt.text)  # the same claim, resumed
            assert page.locator("html").get_attribute("lang") == language
            expect(page.locator("[data-progress] [data-left]")).to_contain_text("3")
            expect(page.locator("[data-progress] [data-today]")).to_contain_text("0")
            expect(page.locator("[data-techniques] label.requested")).to_have_count(1)
            path = screenshot(page, f"review_page_{language}")
            assert os.path.getsize(path) > 10_000
            page.context.close()
    assert not Annotation.objects.filter(annotator=user).exists()
