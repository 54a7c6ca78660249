"""The agreement dashboard in a real browser: the weekly chart is drawn, the heat map coloured, Chinese shown."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from django.urls import reverse

from tests.annotation.agreement_factories import ReviewQueueFactory, decide, play_round
from tests.factories import PromptFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    # Playwright's sync API runs an event loop in this thread. Set per test, not at import: a
    # module-level assignment would leak into every later test and subprocess (check --deploy warns).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CANVAS_STATE = """() => {
  const c = document.getElementById('agreement-weekly');
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  const blank = document.createElement('canvas');
  blank.width = c.width; blank.height = c.height;
  return {painted, width: c.width, height: c.height, differs: c.toDataURL() !== blank.toDataURL()};
}"""


@pytest.fixture
def dashboard_data(taxonomy, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    annotators = [UserFactory(username=f"标注员{i}", role="Annotator") for i in (1, 2, 3)]
    rng = random.Random(11)
    queues = [ReviewQueueFactory(name="合法性队列"), ReviewQueueFactory(name="伦理性队列")]
    for queue, noise in zip(queues, (0.1, 0.45), strict=True):
        prompts = [PromptFactory() for _ in range(24)]
        truths = play_round(queue, prompts, annotators, rng=rng, noise=noise, weeks=(0, 1, 2, 3, 4, 5))
        for prompt in prompts[:12]:
            decide(prompt, truths[prompt.pk], "consensus")
    admin = UserFactory(username="boss", role="Admin")
    return {"admin": admin, "queues": queues}


def test_dashboard_draws_the_weekly_chart_and_heat_map(live_server, dashboard_data, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            dashboard = reverse("agreement:dashboard")
            page.goto(f"{live_server.url}{reverse('accounts:login')}?next={dashboard}")
            page.fill("#id_username", "boss")
            page.fill("#id_password", "pw-123456")
            with page.expect_navigation():
                page.click("main button[type=submit]")
            assert page.url.endswith(dashboard)
            page.wait_for_selector("#agreement-weekly[data-drawn='1']", timeout=15_000)

            state = page.evaluate(CANVAS_STATE)
            assert state["width"] > 300 and state["height"] > 200
            assert state["differs"] and state["painted"] > 2_000, state
            assert page.locator("h1").inner_text() == "标注一致性看板"
            assert page.locator("#kappa-heatmap tbody tr").count() == 3
            colours = page.eval_on_selector_all(
                "#kappa-heatmap td:not(.diag)", "cells => cells.map(c => getComputedStyle(c).backgroundColor)"
            )
            assert len(colours) == 6 and all(c.startswith("rgb") for c in colours)
            assert len(set(colours)) > 1  # the pairs differ, and the colour says so

            shot = Path(os.environ.get("AGREEMENT_SCREENSHOT", tmp_path / "agreement-dashboard.png"))
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000

            # Filtering swaps the results in place (htmx) and the chart is drawn again on the new canvas.
            page.select_option("#id_queue", str(dashboard_data["queues"][1].pk))
            with page.expect_response(lambda r: "/agreement/?" in r.url):
                page.click("form.filters button[type=submit]")
            page.wait_for_selector("#agreement-weekly[data-drawn='1']", timeout=15_000)
            assert "queue=" in page.url
            assert page.evaluate(CANVAS_STATE)["painted"] > 2_000
        finally:
            browser.close()


# Read through Chart.js's own instance: where the points sit on the x axis, and whether each threshold's
# row of the canvas is actually painted in the threshold colour across the plot area.
CHART_GEOMETRY = """() => {
  const canvas = document.getElementById('agreement-weekly');
  const chart = Chart.getChart(canvas);
  const area = chart.chartArea;
  const ratio = chart.currentDevicePixelRatio || 1;
  const ctx = canvas.getContext('2d');
  const thresholds = JSON.parse(document.getElementById('agreement-weekly-data').textContent).thresholds;
  const x0 = Math.ceil(area.left * ratio), x1 = Math.floor(area.right * ratio);
  const lines = thresholds.map((t) => {
    const y = Math.round(chart.scales.y.getPixelForValue(t.value) * ratio);
    const rows = ctx.getImageData(x0, y - 2, x1 - x0, 5).data;
    let covered = 0;
    for (let x = 0; x < x1 - x0; x++) {
      for (let r = 0; r < 5; r++) {
        const i = (r * (x1 - x0) + x) * 4;
        // #8a93a6, the threshold colour, opaque enough to be seen (grid lines are faint black).
        if (rows[i + 3] > 120 && Math.abs(rows[i] - 138) < 40 && Math.abs(rows[i + 1] - 147) < 40
            && Math.abs(rows[i + 2] - 166) < 40) { covered++; break; }
      }
    }
    return {value: t.value, y: y / ratio, share: covered / (x1 - x0)};
  });
  const points = chart.data.datasets.map((d, i) => chart.getDatasetMeta(i).data
    .filter((p, j) => d.data[j] !== null).map((p) => ({x: p.x, radius: p.options.radius})));
  return {left: area.left, right: area.right, top: area.top, bottom: area.bottom, weeks: chart.data.labels.length,
          lines, points};
}"""


@pytest.fixture
def short_history(taxonomy, settings):
    """Queue 甲: one week of reviews; queue 乙: two weeks."""
    annotators = [UserFactory(username=f"审核员{i}", role="Annotator") for i in (1, 2, 3)]
    rng = random.Random(5)
    one = ReviewQueueFactory(name="单周队列")
    two = ReviewQueueFactory(name="两周队列")
    play_round(one, [PromptFactory() for _ in range(12)], annotators, rng=rng, noise=0.2, weeks=(0,))
    play_round(two, [PromptFactory() for _ in range(12)], annotators, rng=rng, noise=0.2, weeks=(0, 1))
    UserFactory(username="boss", role="Admin")
    return {"one": one, "two": two}


def test_one_and_two_weeks_of_data_draw_visible_points_and_the_threshold_lines(live_server, short_history):
    from tests.browser import browser_page, login, screenshot

    with browser_page(viewport=(1280, 900)) as page:
        login(page, live_server, "boss", "pw-123456")
        for key, weeks in (("one", 1), ("two", 2)):
            page.goto(f"{live_server.url}{reverse('agreement:dashboard')}?queue={short_history[key].pk}")
            page.wait_for_selector("#agreement-weekly[data-drawn='1']", timeout=15_000)
            geometry = page.evaluate(CHART_GEOMETRY)
            assert geometry["weeks"] == weeks
            width = geometry["right"] - geometry["left"]
            for line in geometry["lines"]:
                assert geometry["top"] < line["y"] < geometry["bottom"], line
                assert line["share"] > 0.5, line  # dashed, but drawn from one side of the plot to the other
            xs = sorted({round(p["x"]) for series in geometry["points"] for p in series})
            assert len(xs) == weeks, geometry["points"]
            # Each week sits in the middle of its own band: one week in the centre, two at a quarter and
            # three quarters, never on the plot's edge.
            expected = [geometry["left"] + width * (2 * k + 1) / (2 * weeks) for k in range(weeks)]
            for x, want in zip(xs, expected, strict=True):
                assert abs(x - want) < width * 0.03, (xs, expected)
            assert all(p["radius"] >= 5 for series in geometry["points"] for p in series)
            page.locator("#agreement-weekly").scroll_into_view_if_needed()
            screenshot(page, f"agreement-weekly-{weeks}-week{'s' if weeks > 1 else ''}")
