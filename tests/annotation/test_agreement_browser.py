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
