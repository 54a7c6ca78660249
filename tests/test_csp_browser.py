"""In Chromium, under the site's Content-Security-Policy: every page each role can open loads with no violation,
its scripts run (htmx is there, Swagger and the admin's JS too) and its charts are drawn."""

import datetime as dt
import random
import time

import pytest
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from tests.browser import chromium, login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Collects what the browser refuses, from before the first script of each document runs.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""

CANVAS_SIZES = "() => Array.from(document.querySelectorAll('canvas')).map(c => [c.id, c.width, c.height])"


@pytest.fixture
def site(settings):
    """The demo data (users of each role, a queue, releases, a generation run, a published evaluation) and what
    the demo lacks: an item in adjudication, a live claim, an annotation to revise, a draft release and enough
    annotations for the agreement dashboard's chart and heat map."""
    from django.contrib.auth import get_user_model

    from annotation import services
    from annotation.models import Annotation, ReviewQueue
    from curation.models import Dimension, Prompt
    from cycles import services as cycle_services
    from cycles.models import CyclePlan
    from evaluation.models import EvalRun, Rubric
    from generation.models import Event, GenerationRun, GeneratorTemplate
    from llm.models import ModelEndpoint
    from releases import services as releases
    from releases.models import Release
    from tests.annotation.agreement_factories import ReviewQueueFactory, play_round
    from tests.factories import PromptFactory, make_items, make_queue

    settings.DEBUG = True  # static files from the app, as in `make run`
    call_command("seed_demo")
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="annotator")}
    a1, a2, a3 = users["annotator1"], users["annotator2"], users["annotator3"]

    # Two annotators disagree on an item of a queue of its own: it goes to adjudication.
    disputed_queue = make_queue(name="分歧队列", taxonomy_code="v251215", n=2)
    (disputed,) = make_items(1, dimension=Dimension.objects.get(taxonomy__code="v251215", code="privacy"))
    for user, data in ((a1, services.AnnotationInput(decision="accept")),
                       (a2, services.AnnotationInput(decision="reject", reject_reason="unclear"))):
        claim = services.lease_claim(queue=disputed_queue, user=user)
        services.annotation_submit(claim_id=claim.pk, user=user, data=data)
    disputed.refresh_from_db()
    assert disputed.state == "adjudication"

    demo_queue = ReviewQueue.objects.get(name__startswith="演示队列")
    counted = services.lease_claim(queue=demo_queue, user=a1)
    services.annotation_submit(claim_id=counted.pk, user=a1, data=services.AnnotationInput(decision="accept"))
    live_claim = services.lease_claim(queue=demo_queue, user=a1)

    play_round(ReviewQueueFactory(name="一致性队列"), [PromptFactory() for _ in range(12)], [a1, a2, a3],
               rng=random.Random(5), noise=0.2, weeks=(0, 1, 2))

    frozen = Release.objects.frozen().order_by("pk").first()
    draft = releases.release_create_draft(title="草稿", taxonomy="v251030", holdout_fraction=0.2)
    run = EvalRun.objects.get(status=EvalRun.Status.SUCCEEDED)
    target = run.targets.order_by("pk").first()
    leaderboard = reverse("evaluation:leaderboard", args=[run.release.version])
    prompt = Prompt.objects.order_by("pk").first()
    # The demo's cycle plan, with a cycle of next year (its generation waits for its date).
    plan = CyclePlan.objects.get()
    cycle = cycle_services.cycle_open(plan=plan, day=dt.date.today().replace(year=dt.date.today().year + 1, day=1))
    everyone = [
        reverse("home"), reverse("evaluation:leaderboard_index"), leaderboard,
        reverse("evaluation:drilldown", args=[run.pk, target.pk]), reverse("evaluation:rubric_list"),
        reverse("evaluation:rubric_detail", args=[Rubric.objects.order_by("pk").first().pk]),
    ]
    annotator_pages = everyone + [
        reverse("annotation:queue_list"), reverse("annotation:review", args=[demo_queue.pk]),
        reverse("annotation:claim", args=[live_claim.pk]), reverse("annotation:my_work"),
        reverse("annotation:revise", args=[Annotation.objects.get(annotator=a1, queue=demo_queue).pk]),
    ]
    maintainer_pages = everyone + [
        reverse("curation:prompt_list"), reverse("curation:prompt_detail", args=[prompt.pk]),
        reverse("curation:import"), reverse("curation:taxonomy"), reverse("releases:release_list"),
        reverse("releases:release_create"), reverse("releases:release_detail", args=[frozen.version]),
        reverse("releases:release_diff", args=[frozen.version]),
        reverse("releases:release_detail", args=[draft.version]), reverse("releases:release_edit", args=[draft.version]),
        reverse("generation:generation"),
        reverse("generation:run_detail", args=[GenerationRun.objects.order_by("pk").first().pk]),
        reverse("generation:template_list"),
        reverse("generation:template_edit", args=[GeneratorTemplate.objects.order_by("pk").first().pk]),
        reverse("generation:event_list"), reverse("generation:event_create"),
        reverse("generation:event_edit", args=[Event.objects.order_by("pk").first().pk]),
        reverse("generation:candidate_list"),
        reverse("annotation:queue_create"), reverse("annotation:queue_detail", args=[demo_queue.pk]),
        reverse("annotation:queue_edit", args=[demo_queue.pk]), reverse("annotation:adjudication_list"),
        reverse("annotation:adjudication_detail", args=[disputed.pk]), reverse("agreement:dashboard"),
        reverse("llm:endpoint_list"), reverse("llm:endpoint_create"),
        reverse("llm:endpoint_edit", args=[ModelEndpoint.objects.order_by("pk").first().pk]),
        reverse("evaluation:run_list"), reverse("evaluation:run_detail", args=[run.pk]),
        reverse("evaluation:calibrate", args=[run.pk]),
        reverse("cycles:cycle_list"), reverse("cycles:plan_new"), reverse("cycles:plan_edit", args=[plan.pk]),
        reverse("cycles:cycle_detail", args=[cycle.pk]),
    ]
    # An admin also opens every maintainer page: those are the same templates and were visited just before, so
    # the admin visits what only an admin has (and home, to check the admin's header).
    admin_pages = [
        reverse("home"), reverse("swagger-ui"), reverse("admin:index"), reverse("admin:curation_prompt_changelist"),
        reverse("admin:curation_prompt_change", args=[prompt.pk]),
    ]
    try:  # the users page, where there is one
        admin_pages.append(reverse("accounts:users"))
    except NoReverseMatch:
        pass
    return {
        "annotator1": annotator_pages,
        "maintainer": maintainer_pages,
        "admin": admin_pages,
        # A page the role may not open answers with the site's 403 page, which must comply too.
        "forbidden": reverse("releases:release_create"),
        "charts": {leaderboard: ["chart-dimensions"], reverse("agreement:dashboard"): ["agreement-weekly"],
                   reverse("releases:release_detail", args=[frozen.version]): ["release-chart"]},
    }


def _listen_for_refusals(page, who: str, refused: list[str]) -> None:
    def on_console(msg):
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            refused.append(f"{who} {page.url}: {msg.text}")

    page.on("console", on_console)


def _page_state(page) -> dict:
    return page.evaluate("""() => ({
        violations: window.__cspViolations || [],
        htmx: typeof htmx, swagger: typeof SwaggerUIBundle,
        swaggerDrawn: !!document.querySelector('.swagger-ui .info'),
        djangoJquery: typeof (window.django && window.django.jQuery),
        heatCells: Array.from(document.querySelectorAll('#kappa-heatmap td[data-colour]'))
                        .filter(td => td.style.background).length,
    })""")


def test_every_page_of_every_role_runs_under_the_csp_without_a_violation(live_server, site):
    from accounts.demo import DEMO_USERS

    passwords = {username: password for username, _, password in DEMO_USERS}
    started = time.monotonic()
    refused: list[str] = []
    with chromium() as browser:
        for username in ("annotator1", "maintainer", "admin"):
            page = new_page(browser)
            page.context.add_init_script(COLLECT_VIOLATIONS)
            _listen_for_refusals(page, username, refused)
            login(page, live_server, username, passwords[username])
            paths = site[username] + ([site["forbidden"]] if username == "annotator1" else [])
            for path in paths:
                response = page.goto(live_server.url + path)
                expected = 403 if path == site["forbidden"] and username == "annotator1" else 200
                assert response.status == expected, (username, path, response.status)
                csp = response.headers.get("content-security-policy", "")
                assert "script-src 'self'" in csp and "unsafe" not in csp, (path, csp)
                if path == reverse("swagger-ui"):
                    page.wait_for_selector(".swagger-ui .info", timeout=15_000)
                for canvas in site["charts"].get(path, []):
                    page.wait_for_function(
                        f"() => {{ const c = document.getElementById('{canvas}'); return c && c.width > 0 && c.height > 0; }}",
                        timeout=15_000)
                state = _page_state(page)
                assert state["violations"] == [], (username, path, state["violations"])
                if path.startswith("/admin/"):
                    if "/change/" in path:
                        assert state["djangoJquery"] == "function", path  # the admin's own scripts ran
                elif path == reverse("swagger-ui"):
                    assert state["swagger"] == "function" and state["swaggerDrawn"], path
                else:
                    assert state["htmx"] == "object", (username, path)  # the site's scripts ran
                sizes = {cid: (w, h) for cid, w, h in page.evaluate(CANVAS_SIZES)}
                for canvas in site["charts"].get(path, []):
                    assert min(sizes[canvas]) > 0, (path, sizes)
                if path == reverse("agreement:dashboard"):
                    assert state["heatCells"] >= 6, state  # the heat map's colours, set through the CSSOM
            page.context.close()
    assert refused == []
    assert time.monotonic() - started < 90
