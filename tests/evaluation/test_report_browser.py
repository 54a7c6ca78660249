"""In Chromium, under the site's Content-Security-Policy: the release report draws its chart (bars per dimension and
overall, with 95% whiskers for a robust run) in Chinese and in English, with no violation and no script error."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from evaluation.models import EvalRun
from tests.browser import chromium, login, new_page
from tests.evaluation.pages_fixtures import *  # noqa: F403
from tests.factories import UserFactory
from tests.test_csp_browser import COLLECT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_STATE = """() => {
  const c = document.getElementById('chart-dimensions');
  const chart = window.Chart && window.Chart.getChart(c);
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return {width: c.width, height: c.height, painted, chart: !!chart,
          datasets: chart ? chart.data.datasets.length : 0, labels: chart ? chart.data.labels : [],
          whiskers: c.getAttribute('data-error-bars')};
}"""


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_the_report_draws_its_chart_in_chinese_and_english_under_the_csp(django_db_setup, live_server,
                                                                         frozen_release, evaluate, targets, tmp_path):
    release = frozen_release(per_dimension=6, dimensions=("legality", "privacy"), holdout_fraction=0.34)
    evaluate(release, models=targets[:3], mode=EvalRun.Mode.ROBUST, budget=300, seed=2)
    UserFactory(username="report-reader", role="Annotator")
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    url = f"{live_server.url}{reverse('evaluation:release_report', args=[release.version])}"
    with chromium() as browser:
        page = new_page(browser, viewport=(1280, 900), locale="zh-CN")
        page.set_default_timeout(30_000)
        page.add_init_script(COLLECT_VIOLATIONS)
        problems = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        login(page, live_server, "report-reader", "pw-123456")

        for lang, overall, heading in (("zh-hans", "总分", "值得关注的题目"), ("en", "Overall", "Notable items")):
            if lang == "en":
                page.click(".lang-switch button[value=en]")
                page.wait_for_load_state()
            else:
                page.goto(url)
            page.wait_for_selector("#chart-dimensions[data-drawn='1']")
            assert page.evaluate("document.documentElement.lang") == lang
            assert heading in page.inner_text("#report-notable h2")
            state = page.evaluate(CHART_STATE)
            assert state["chart"] and state["datasets"] == 3, state
            assert state["width"] > 300 and state["height"] > 200 and state["painted"] > 2_000, state
            assert state["labels"][0] == overall and state["whiskers"] == "1"
            assert page.locator("#report-board tbody tr").count() == 3
            assert page.evaluate("window.__cspViolations") == [], lang
            page.screenshot(path=str(shots / f"release-report-{lang}.png"), full_page=True)
            # Printed, the page drops the navigation and the download buttons and keeps the chart.
            page.emulate_media(media="print")
            assert not page.locator("header.topbar").is_visible()
            assert not page.locator("#report-downloads").is_visible()
            assert page.locator("#chart-dimensions").is_visible()
            page.emulate_media(media="screen")
        assert problems == []
