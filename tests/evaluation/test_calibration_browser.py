"""In a real browser: a maintainer reads the judge–human kappa of a robust run on its leaderboard, labels five
answers on the calibration page with the keyboard alone (a key pressed twice labels one answer), and finds the
kappa and its label count moved; the robust leaderboard and the calibration page photographed in both
languages."""

import re

import pytest
from django.urls import reverse

from evaluation.models import EvalRun, HumanLabel, PointVerdict
from evaluation.services import run_create, run_execute_inline
from tests.browser import chromium, login, new_page, screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEYS = {"safe": ("1", "s"), "unsafe": ("2", "u"), "refusal": ("3", "r")}
OTHER = {"safe": "unsafe", "unsafe": "safe", "refusal": "unsafe"}


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def robust_run(frozen_release, targets, judge):
    release = frozen_release(per_dimension=4, holdout_fraction=0.25)
    run = run_create(release=release, targets=targets[:3], judge=judge, mode="robust", resamples=50, seed=3,
                     enqueue=False)
    run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED, run.error
    return run


def _kappa_row(page) -> str:
    return re.sub(r"\s+", " ", page.inner_text("#judge-quality tr[data-dimension=legality] td.kappa")).strip()


def test_a_maintainer_labels_five_answers_by_keyboard_and_the_kappa_moves(django_db_setup, live_server, robust_run):
    run = robust_run
    user = UserFactory(username="cal-maint", role="Maintainer")
    board_url = f"{live_server.url}{reverse('evaluation:leaderboard', args=[run.release.version])}"
    with chromium() as browser:
        page = new_page(browser, viewport=(1366, 900), locale="zh-CN")
        page.set_default_timeout(30_000)
        problems = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        login(page, live_server, "cal-maint", "pw-123456")

        page.goto(board_url)
        page.wait_for_selector("#chart-dimensions[data-drawn='1'][data-error-bars='1']")
        assert page.evaluate("document.documentElement.lang") == "zh-hans"
        before = _kappa_row(page)
        assert page.locator("#judge-quality tr[data-dimension=legality] .kappa-n").count() == 0, before
        assert re.search(r"\[\d+\.\d, \d+\.\d\]", page.inner_text("#leaderboard tbody"))
        screenshot(page, "robust-leaderboard-zh")

        page.click("#judge-quality tr[data-dimension=legality] td.kappa a")
        page.wait_for_selector("#calibrate-item[data-keys-ready]")
        assert "dimension=legality" in page.url
        screenshot(page, "calibration-zh")
        shown = []
        for i in range(5):
            page.wait_for_selector("#calibrate-item[data-keys-ready]")
            verdict_id = int(page.get_attribute("#calibrate-item", "data-shown-verdict"))
            assert verdict_id not in shown
            shown.append(verdict_id)
            verdict = PointVerdict.objects.get(pk=verdict_id)
            assert verdict.dimension_code == "legality"
            # Agree with the judge three times and disagree twice, so the kappa is a figure, not undefined.
            label = verdict.outcome if i in (0, 1, 4) else OTHER[verdict.outcome]
            key = KEYS[label][i % 2]
            page.keyboard.press(key)
            if i == 0:
                page.keyboard.press(key)  # a key pressed twice labels one answer, not the next one too
            page.wait_for_function(
                "id => { const s = document.getElementById('calibrate-item');"
                " return s && s.getAttribute('data-shown-verdict') !== id; }", arg=str(verdict_id))
            assert HumanLabel.objects.filter(labeled_by=user).count() == i + 1
            assert HumanLabel.objects.get(labeled_by=user, answer=verdict.answer).label == label
        assert "5" in page.inner_text("#calibrate-progress [data-done]")
        assert page.inner_text("#calibrate-kappa tr[data-dimension=legality] td.kappa-n").strip() == "5"

        page.goto(board_url)
        page.wait_for_selector("#chart-dimensions[data-drawn='1']")
        after = _kappa_row(page)
        assert after != before
        assert page.inner_text("#judge-quality tr[data-dimension=legality] .kappa-n").strip().startswith("5")
        assert page.locator("#judge-quality tr[data-dimension=legality] .kappa-value").count() == 1

        page.click(".lang-switch button[value=en]")
        page.wait_for_load_state()
        assert page.evaluate("document.documentElement.lang") == "en"
        page.wait_for_selector("#chart-dimensions[data-drawn='1'][data-error-bars='1']")
        assert "5 labels" in _kappa_row(page) and "κ = " in _kappa_row(page)
        screenshot(page, "robust-leaderboard-en")
        page.goto(f"{live_server.url}{reverse('evaluation:calibrate', args=[run.pk])}?dimension=legality")
        page.wait_for_selector("#calibrate-item[data-keys-ready]")
        assert "5 answers labelled by you" in page.inner_text("#calibrate-progress")
        screenshot(page, "calibration-en")
        assert problems == []
    for name in ("robust-leaderboard-zh", "robust-leaderboard-en", "calibration-zh", "calibration-en"):
        from tests.browser import screenshot_dir

        assert (screenshot_dir() / f"{name}.png").stat().st_size > 20_000, name
