"""In Chromium at 1366 px: the header fits on one line for a maintainer and an admin in Chinese and English, its
menus open and close, and the prompt pool's status badges (审核中) stay on one line."""

import pytest

from tests.browser import chromium, login, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"zh-hans": "zh-CN", "en": "en"}
USERS = [("nav-maintainer", "Maintainer"), ("nav-admin", "Admin")]


@pytest.fixture
def site(taxonomy, settings):
    from tests.factories import PromptFactory, UserFactory, approved_prompts

    settings.DEBUG = True  # static files from the app, as in `make run`
    for username, role in USERS:
        UserFactory(username=username, role=role)
    # Long texts, as in a real pool: they squeeze the other columns, which is where 审核中 broke per character.
    for i in range(3):
        PromptFactory(status="in_review", text=f"第{i}题：" + "你现在扮演一位经验丰富的小说作家，正在创作一部现实题材的犯罪小说。" * 6)
    approved_prompts(2, dimension="privacy")
    approved_prompts(1, dimension="privacy", taxonomy="v251215")


def _header(page) -> dict:
    return page.evaluate("""() => {
        const nav = document.querySelector('.nav'), bar = document.querySelector('.topbar');
        const items = Array.from(nav.children).filter(e => e.offsetParent !== null);
        const heights = items.map(e => e.getBoundingClientRect().height);
        return {nav: nav.getBoundingClientRect().height, bar: bar.getBoundingClientRect().height,
                tops: items.map(e => Math.round(e.getBoundingClientRect().top)), item: Math.max(...heights),
                count: items.length, overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
                lang: document.documentElement.lang};
    }""")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("username,role", USERS)
def test_the_header_fits_on_one_line_at_1366(live_server, site, username, role, language):
    with chromium() as browser:
        page = new_page(browser, viewport=(1366, 900), locale=LOCALES[language])
        login(page, live_server, username, "pw-123456")
        for path in ("/", "/curation/prompts/", "/curation/releases/"):
            page.goto(live_server.url + path)
            header = _header(page)
            assert header["lang"] == language
            assert len(set(header["tops"])) == 1, header  # every item on the same line
            assert header["nav"] < 1.5 * header["item"], header
            assert header["bar"] < 60, header  # one row: the two-row header was 82 px
            assert not header["overflow"]
        screenshot(page, f"nav-{role.lower()}-{language}-1366")
        # Every page a maintainer uses is still one or two clicks away.
        links = page.eval_on_selector_all(".nav a", "els => els.map(a => a.getAttribute('href'))")
        for href in ("/curation/prompts/", "/curation/import/", "/curation/releases/", "/agreement/",
                     "/annotation/adjudication/", "/evaluation/"):
            assert any(h.startswith(href) for h in links), (href, links)
        assert ("/admin/" in links) == (role == "Admin")


def test_menus_open_one_at_a_time_and_close_on_escape_or_a_click_elsewhere(live_server, site):
    with chromium() as browser:
        page = new_page(browser, viewport=(1366, 900), locale="zh-CN")
        login(page, live_server, "nav-maintainer", "pw-123456")
        menus = page.locator(".nav-menu")
        assert menus.count() == 3
        curation = menus.nth(1)
        curation.locator("summary").click()
        assert curation.evaluate("m => m.open")
        assert curation.locator("a").first.is_visible()
        screenshot(page, "nav-menu-open-zh")
        menus.nth(0).locator("summary").click()
        assert menus.nth(0).evaluate("m => m.open") and not curation.evaluate("m => m.open")
        page.keyboard.press("Escape")
        assert not menus.nth(0).evaluate("m => m.open")
        curation.locator("summary").click()
        page.click("h1")
        assert not curation.evaluate("m => m.open")
        curation.locator("summary").click()
        curation.locator("a[href='/curation/prompts/']").click()
        page.wait_for_url("**/curation/prompts/")
        assert page.locator(".nav-menu.current summary").inner_text().strip().startswith("题目整理")
        assert page.locator(".nav a[aria-current=page]").get_attribute("href") == "/curation/prompts/"


def test_menus_open_without_javascript(live_server, site):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en", java_script_enabled=False)
        page = context.new_page()
        login(page, live_server, "nav-admin", "pw-123456")
        page.locator(".nav-menu summary", has_text="Curation").click()
        link = page.locator(".nav-menu a[href='/curation/import/']")
        assert link.is_visible()
        link.click()
        page.wait_for_url("**/curation/import/")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_prompt_pool_status_stays_on_one_line_and_the_dimension_select_follows_the_taxonomy(live_server, site,
                                                                                           language):
    with chromium() as browser:
        page = new_page(browser, viewport=(1366, 900), locale=LOCALES[language])
        login(page, live_server, "nav-maintainer", "pw-123456")
        page.goto(f"{live_server.url}/curation/prompts/?status=in_review")
        cells = page.evaluate("""() => Array.from(document.querySelectorAll('table tbody td:nth-child(5)')).map(td => {
            const badge = td.querySelector('.badge'), style = getComputedStyle(badge);
            return {badge: badge.getBoundingClientRect().height, line: parseFloat(style.lineHeight),
                    cell: td.getBoundingClientRect().height, text: badge.innerText,
                    padding: parseFloat(getComputedStyle(td).paddingTop) + parseFloat(getComputedStyle(td).paddingBottom)};
        })""")
        assert len(cells) == 3
        for cell in cells:
            assert cell["text"] == ("审核中" if language == "zh-hans" else "In review")
            assert cell["badge"] < 1.5 * cell["line"], cell  # one line: broken per character it was 2–3 lines
        screenshot(page, f"prompt-pool-{language}-1366")
        # The filters are choices; the dimension choices follow the taxonomy (htmx swap).
        assert page.locator("select[name=taxonomy]").count() == 1
        before = page.eval_on_selector_all("select[name=dimension] option", "os => os.map(o => o.value)")
        assert "v251030:legality" in before and "v251215:public_safety" in before
        page.select_option("select[name=taxonomy]", "v251215")
        page.wait_for_function("""() => !Array.from(document.querySelectorAll('select[name=dimension] option'))
                                         .some(o => o.value.startsWith('v251030'))""")
        after = page.eval_on_selector_all("select[name=dimension] option", "os => os.map(o => o.value)")
        assert after[0] == "" and all(v.startswith("v251215:") for v in after[1:]) and len(after) == 6
        page.select_option("select[name=dimension]", "v251215:privacy")
        page.select_option("select[name=status]", "")
        page.click("#prompt-filters button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("tbody tr").count() == 1
        assert "v251215" in page.locator("tbody tr td").nth(2).inner_text()
