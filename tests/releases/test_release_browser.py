"""In Chromium: the new-release form starts on the taxonomy of the approved prompts, its dimension checkboxes follow
the taxonomy select, an empty release is refused with where the prompts are, and freezing waits for a tick."""

import pytest

from tests.browser import chromium, login, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"zh-hans": "zh-CN", "en": "en"}


@pytest.fixture
def site(taxonomy, settings, tmp_path):
    from tests.factories import UserFactory, approved_prompts

    settings.DEBUG = True
    settings.MEDIA_ROOT = tmp_path / "media"
    UserFactory(username="rel-maintainer", role="Maintainer")
    approved_prompts(3, dimension="legality")
    approved_prompts(2, dimension="privacy")


def _boxes(page) -> list[str]:
    return page.eval_on_selector_all("#field-dimensions input[type=checkbox]", "els => els.map(e => e.value)")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_release_form_follows_the_taxonomy_refuses_an_empty_release_and_confirms_the_freeze(live_server, site, language):
    from releases.models import Release

    with chromium() as browser:
        page = new_page(browser, viewport=(1366, 900), locale=LOCALES[language])
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        login(page, live_server, "rel-maintainer", "pw-123456")
        page.goto(f"{live_server.url}/curation/releases/new/")
        assert page.evaluate("document.documentElement.lang") == language
        assert page.input_value("#id_taxonomy") == "v251030"
        assert all(v.startswith("v251030:") for v in _boxes(page)) and len(_boxes(page)) == 6
        screenshot(page, f"release-form-{language}")

        page.select_option("#id_taxonomy", "v251215")
        page.wait_for_function("""() => Array.from(document.querySelectorAll('#field-dimensions input'))
                                         .every(e => e.value.startsWith('v251215:'))""")
        assert len(_boxes(page)) == 5
        page.click("#release-form > button[type=submit]")
        page.wait_for_load_state()
        refusal = {"en": "no approved prompt matches this release: the 5 approved prompts are in taxonomy v251030, "
                          "not v251215",
                   "zh-hans": "没有已通过的题目符合此版本：5 道已通过的题目在分类体系 v251030中，而不在 v251215 中"}
        assert refusal[language] in page.inner_text("#form-errors")  # in the page's language
        assert not Release.objects.exists()
        screenshot(page, f"release-form-refused-{language}")

        page.select_option("#id_taxonomy", "v251030")
        page.wait_for_function("""() => Array.from(document.querySelectorAll('#field-dimensions input'))
                                         .every(e => e.value.startsWith('v251030:'))""")
        page.check("#field-dimensions input[value='v251030:privacy']")
        page.select_option("#id_parent", "none")
        page.click("#release-form > button[type=submit]")
        page.wait_for_url("**/curation/releases/v*/")
        release = Release.objects.get()
        assert release.taxonomy.code == "v251030" and release.filters["dimensions"] == ["privacy"]

        page.click(f"a[href='/curation/releases/{release.version}/freeze/']")
        page.wait_for_url(f"**/releases/{release.version}/freeze/")
        screenshot(page, f"release-freeze-confirm-{language}")
        page.click("#confirm-form button[type=submit]")  # unticked: the browser keeps the form here
        assert page.url.endswith(f"/releases/{release.version}/freeze/")
        assert not Release.objects.get().is_frozen
        page.check("#confirm-form input[name=confirm]")
        page.click("#confirm-form button[type=submit]")
        page.wait_for_url(f"**/curation/releases/{release.version}/")
        page.wait_for_function("() => document.querySelector('#digest') !== null", timeout=30000)
        frozen = Release.objects.get()
        assert frozen.is_frozen and frozen.item_count == 2
        assert dialogs == []  # a page, not a JS confirm()
