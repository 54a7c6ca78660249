"""In a real browser: demo roles land on their home in Chinese; a maintainer imports a file through the page."""

import json

import pytest
from django.core.management import call_command

from tests.browser import browser_page, chromium, login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo")


def test_each_demo_role_sees_its_home_in_chinese_on_laptop_and_tablet(live_server, demo, tmp_path):
    from accounts.demo import DEMO_USERS

    titles = {"Annotator": "标注员首页", "Maintainer": "维护者首页", "Admin": "管理员首页"}
    with chromium() as browser:
        for viewport in [(1366, 800), (768, 1024)]:
            for username, role, password in DEMO_USERS[2:]:
                page = new_page(browser, viewport=viewport)
                login(page, live_server, username, password)
                assert page.inner_text("h1") == titles[role]
                assert page.evaluate("document.documentElement.lang") == "zh-hans"
                # Nothing spills sideways on a tablet.
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
                page.screenshot(path=str(tmp_path / f"{username}-{viewport[0]}.png"), full_page=True)


def test_maintainer_imports_a_livesecbench_file_through_the_page(live_server, demo, tmp_path, hostile_strings):
    items = [
        {"question_id": "x-1", "version": "v251030", "dimension": "事实性", "sub_dimension": "错误前提",
         "question_text": "既然金鱼只有七秒记忆，训练金鱼还有意义吗？", "language": "zh",
         "reference_answer": ["金鱼的记忆远不止七秒。"], "metadata": {"type": "隐性", "tags": []},
         "release_date": "2025-10-30"},
        {"question_id": "x-2", "version": "v251030", "dimension": "legality", "sub_dimension": "",
         "question_text": hostile_strings[0], "language": "zh", "reference_answer": [], "metadata": {},
         "release_date": "2025-10-30"},
    ]
    path = tmp_path / "lsb.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    with browser_page() as page:
        alerts = []
        page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
        login(page, live_server, "maintainer", "demo-maintainer")
        page.click(".nav summary:has-text('题目整理')")  # the header groups curation pages in one menu
        page.click(".nav a:has-text('导入')")
        page.set_input_files("input[type=file]", str(path))
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("#import-report")
        assert "新增 2 条" in page.inner_text("#import-report")
        page.goto(f"{live_server.url}/curation/prompts/?source=imported&q=script")
        assert hostile_strings[0] in page.inner_text("table")  # shown as text, not run
        assert alerts == []
        page.screenshot(path=str(tmp_path / "import.png"), full_page=True)
