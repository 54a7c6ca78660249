"""In a real browser: the leaderboard draws both charts from the app's own Chart.js, the rounds chart follows the
chosen dimension, and the leaderboard and run pages are photographed in Chinese and English."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser import chromium, login, new_page
from tests.evaluation.pages_fixtures import *  # noqa: F403
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAINTED = """(id) => {
  const c = document.getElementById(id);
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return {painted, width: c.width, height: c.height};
}"""


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    # Playwright's sync API runs an event loop in this thread. Set per test: at module level the variable would
    # leak into every later test and subprocess (`check --deploy` rightly refuses it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_leaderboard_draws_both_charts_in_chinese_and_english(django_db_setup, live_server, evaluated, tmp_path):
    # django_db_setup first: the live server (and its connection) stops before the test database is dropped.
    release, run = evaluated["release"], evaluated["run"]
    UserFactory(username="eval-maint", role="Maintainer")
    shots = _shots(tmp_path)
    board_url = f"{live_server.url}{reverse('evaluation:leaderboard', args=[release.version])}"
    run_url = f"{live_server.url}{reverse('evaluation:run_detail', args=[run.pk])}"
    with chromium() as browser:
        page = new_page(browser, viewport=(1366, 900), locale="zh-CN")
        page.set_default_timeout(30_000)
        problems = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        login(page, live_server, "eval-maint", "pw-123456")

        page.goto(board_url)
        page.wait_for_selector("#chart-dimensions[data-drawn='1']")
        page.wait_for_selector("#chart-rounds[data-drawn='1']")
        assert release.version in page.inner_text("h1")
        assert page.evaluate("document.documentElement.lang") == "zh-hans"
        assert "合法性" in page.inner_text("#leaderboard thead")
        for canvas in ("chart-dimensions", "chart-rounds"):
            state = page.evaluate(PAINTED, canvas)
            assert state["width"] > 300 and state["height"] > 200 and state["painted"] > 2_000, (canvas, state)
        assert page.get_attribute("#chart-rounds", "data-dimension") == "legality"
        page.select_option("#rounds-dimension", "1")
        page.wait_for_selector("#chart-rounds[data-dimension='ethics']")
        assert page.evaluate(PAINTED, "chart-rounds")["painted"] > 2_000
        assert page.locator("#leaderboard tbody tr").count() == 3
        page.screenshot(path=str(shots / "leaderboard-zh.png"), full_page=True)

        page.goto(run_url)
        assert page.get_attribute("#run-status", "class") == "badge run-succeeded"
        assert page.locator("#run-progress[hx-trigger]").count() == 0  # a finished run is not polled
        page.screenshot(path=str(shots / "eval-run-zh.png"), full_page=True)

        page.click(".lang-switch button[value=en]")
        page.wait_for_load_state()
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.locator("#run-status").inner_text() == "Finished"
        page.screenshot(path=str(shots / "eval-run-en.png"), full_page=True)
        page.goto(board_url)
        page.wait_for_selector("#chart-dimensions[data-drawn='1']")
        page.wait_for_selector("#chart-rounds[data-drawn='1']")
        assert "Legality" in page.inner_text("#leaderboard thead")
        assert page.evaluate(PAINTED, "chart-dimensions")["painted"] > 2_000
        page.screenshot(path=str(shots / "leaderboard-en.png"), full_page=True)
        assert problems == []
    for name in ("leaderboard-zh", "leaderboard-en", "eval-run-zh", "eval-run-en"):
        assert (shots / f"{name}.png").stat().st_size > 20_000, name
