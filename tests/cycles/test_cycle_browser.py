"""In Chromium, in Chinese and in English: a maintainer follows a cycle to its approval, reads what the cut would
contain, approves it with the confirmation tick, and the page shows every step done and leads to the report, whose
chart is drawn; no Content-Security-Policy violation on the way."""

import pytest

from cycles import services
from cycles.models import Cycle
from tests.browser import chromium, login, new_page, screenshot
from tests.cycles.conftest import review_all
from tests.cycles.test_services import advance
from tests.test_csp_browser import COLLECT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "zh-CN": {"approve": "批准", "waiting": "等待", "done": "完成", "steps": "批准截版", "report": "阅读报告"},
    "en-US": {"approve": "Approve", "waiting": "waiting", "done": "done", "steps": "Approve the cut",
              "report": "Read the report"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_maintainer_approves_the_cut_in_the_browser_and_reaches_the_report(
    django_db_setup, live_server, plan, reviewers, maintainer, hostile_strings, sim, locale
):
    from django.utils import timezone

    from generation import services as gen

    gen.event_create(title=hostile_strings[1][:300], date=timezone.localdate(), actor=maintainer)
    cycle = advance(services.cycle_open(plan=plan))
    review_all(reviewers)
    services.cycle_cut_now(cycle=cycle, actor=maintainer)
    advance(cycle)
    assert cycle.step == Cycle.Step.APPROVE
    words = TEXT[locale]
    with chromium() as browser:
        page = new_page(browser, locale=locale)
        page.add_init_script(COLLECT_VIOLATIONS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))  # an injected alert()
        login(page, live_server, maintainer.username, "pw-123456")
        page.goto(f"{live_server.url}/cycles/{cycle.pk}/")
        steps = page.locator(".cycle-steps li")
        assert steps.count() == len(services.STEPS)
        assert page.locator(".cycle-steps li.step-done").count() == services.STEPS.index(Cycle.Step.APPROVE)
        waiting = page.locator(".cycle-steps li.step-waiting")
        assert waiting.count() == 1 and words["steps"] in waiting.inner_text()
        assert page.locator("#approval-counts tbody tr").count() >= 1
        screenshot(page, f"cycle-approval-{locale}")

        # The approve button needs the tick: the browser refuses the form without it.
        approve = page.locator("#approval button[type=submit]")
        approve.click()
        assert Cycle.objects.get(pk=cycle.pk).approved_at is None
        page.locator("#approval input[name=confirm]").check()
        approve.click()
        page.wait_for_load_state()
        advance(cycle)
        assert cycle.status == Cycle.Status.DONE
        page.goto(f"{live_server.url}/cycles/{cycle.pk}/")
        assert page.locator(".cycle-steps li.step-done").count() == len(services.STEPS)
        assert page.locator("#history tbody tr").count() >= len(services.STEPS)
        screenshot(page, f"cycle-done-{locale}")
        page.get_by_role("link", name=words["report"]).click()
        page.wait_for_selector("#chart-dimensions[data-drawn='1']")
        screenshot(page, f"cycle-report-{locale}")
        violations = page.evaluate("() => window.__cspViolations || []")
    assert violations == [] and errors == [], (violations, errors)
