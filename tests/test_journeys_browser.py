"""The three roles' journeys through the site in headless Chromium, each in Chinese (the default) and once more in
English, chosen with the page's language switcher as a user does:

1. an annotator logs in, opens a queue from home, reviews three items from the keyboard and revises one from
   "my work";
2. a maintainer imports a file with hostile texts, generates candidates and watches the run, adjudicates a
   disagreement, cuts and freezes a release, downloads its zip, evaluates the release against simulator models,
   publishes the run and opens the leaderboard and a model's drill-down;
3. an admin opens the agreement dashboard (charts drawn) and changes a user's role.

Data the click is not about is made through services and factories; one browser serves the whole module.
"""

import json
import random
import zipfile
from contextlib import contextmanager

import pytest
from django.urls import reverse
from django.utils import translation

from tests.browser import chromium, new_page, screenshot, thread_after_commit
from tests.factories import UserFactory, approved_prompt, make_items, make_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ("zh-hans", "en")
PASSWORD = "pw-123456"
READ_MS = 1000  # an annotator's quick look at an item: past the review page's key guard (400 ms by default)
TARGETS = ("sim-target-90", "sim-target-50", "sim-target-10")
FAST_RETRIES = {"max_attempts": 3, "backoff_base": 0.01, "backoff_cap": 0.05, "retry_after_cap": 2.0}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    # Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls here. Set per
    # test: at module level it would leak into later subprocesses (`check --deploy` rightly refuses it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from curation import dedup_service

    settings.LLM_CLIENT_OPTIONS = dict(FAST_RETRIES)
    settings.DEDUP_INDEX_DIR = tmp_path / "dedup"
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    dedup_service.reset()
    yield
    dedup_service.set_released_source(None)


@pytest.fixture(scope="module")
def browser():
    with chromium() as shared:
        yield shared


@pytest.fixture
def expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # CI machines can be slow; every wait is for a real event
    return expect


@pytest.fixture
def eval_worker_thread(monkeypatch):
    """Stands in for the Celery worker of evaluation: a queued run is worked through on a thread after commit."""
    from evaluation import services as svc

    threads = []
    monkeypatch.setattr(svc, "_enqueue_advance", lambda run_id: thread_after_commit(
        threads, lambda: svc.run_execute_inline(run_id=run_id)))
    yield threads
    for t in threads:
        t.join(120)


@contextmanager
def journey(browser, live_server, name: str, language: str):
    """A fresh browser context (a Chinese browser) on the login page, switched to `language` with the page's own
    switcher. A failure leaves a screenshot of where the journey stopped."""
    page = new_page(browser, locale="zh-CN")
    page.set_default_timeout(30_000)
    problems = {"dialogs": [], "errors": []}
    page.on("dialog", lambda d: (problems["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: problems["errors"].append(str(exc)))
    page.goto(live_server.url + reverse("accounts:login"))
    if language != "zh-hans":
        assert lang(page) == "zh-hans"  # Chinese first
        page.click(f".lang-switch button[value={language}]")
        page.wait_for_load_state()
    assert lang(page) == language
    try:
        yield page, problems
    except BaseException:
        screenshot(page, f"journey-{name}-{language}-failure")
        raise
    finally:
        page.context.close()


def lang(page) -> str:
    return page.evaluate("document.documentElement.lang")


def log_in(page, live_server, username: str):
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(live_server.url + reverse("home"))


def step(page, name: str, language: str):
    """The end of a step: the page is in the chosen language and is photographed."""
    assert lang(page) == language, page.url
    screenshot(page, f"journey-{name}-{language}")


def nav(page, href: str):
    """Follow a link of the header, opening its menu first where it sits in one."""
    link = page.locator(f".nav a[href='{href}']")
    if not link.is_visible():
        page.locator(f".nav-menu:has(a[href='{href}']) > summary").click()
    link.click()
    page.wait_for_load_state()


def label(language: str, text) -> str:
    """A choice's label or a lazy string, as the page shows it in `language`."""
    with translation.override(language):
        return str(getattr(text, "label", text))


# ----------------------------------------------------------------------------------------------- 1. annotator


@pytest.mark.parametrize("language", LANGUAGES)
def test_annotator_reviews_three_items_from_the_keyboard_and_revises_one(
        django_db_setup, live_server, browser, taxonomy, expect, language):
    # django_db_setup first: the live server (and its connection) then stops before the test database is dropped.
    from annotation.models import Annotation, QueueItem

    user = UserFactory(username="journey-annotator", role="Annotator")
    # Two annotators per item: one annotation leaves an item open, so it can still be revised.
    queue = make_queue(name="旅程队列", n=2, guidelines="先读题，再判断。")
    items = make_items(3)
    with journey(browser, live_server, "annotator", language) as (page, problems):
        log_in(page, live_server, "journey-annotator")
        review_url = reverse("annotation:review", args=[queue.pk])
        row = page.locator(".home-queues tr", has_text="旅程队列")
        expect(row.locator("[data-left]")).to_contain_text("3")
        step(page, "annotator-1-home", language)
        row.locator(f"a[href='{review_url}']").click()
        page.wait_for_url(live_server.url + review_url)
        page.wait_for_function("() => window.htmx !== undefined")  # deferred scripts have run
        expect(page.locator("[data-start]")).to_be_focused()
        page.keyboard.press("Enter")  # "Start reviewing"

        text = page.locator("#prompt-text")
        # 1: severity 4 with the digit key, then A accepts.
        expect(text).to_have_text(items[0].prompt.text)
        page.wait_for_timeout(READ_MS)
        page.keyboard.press("4")
        page.keyboard.press("a")
        # 2: R, reason 2 (duplicate), Enter confirms.
        expect(text).to_have_text(items[1].prompt.text)
        page.wait_for_timeout(READ_MS)
        page.keyboard.press("r")
        page.keyboard.press("2")
        step(page, "annotator-2-reject", language)
        page.keyboard.press("Enter")
        # 3: E opens the editor, type, Ctrl+Enter saves the edit.
        expect(text).to_have_text(items[2].prompt.text)
        page.wait_for_timeout(READ_MS)
        page.keyboard.press("e")
        page.keyboard.type("（请改写）")
        page.keyboard.press("Control+Enter")
        expect(page.locator(".done")).to_be_visible()
        step(page, "annotator-3-done", language)

        nav(page, reverse("annotation:my_work"))
        rows = page.locator("main table tbody tr")
        expect(rows).to_have_count(3)
        rejected = rows.filter(has_text=items[1].prompt.text)
        duplicate = label(language, Annotation.RejectReason.DUPLICATE)
        expect(rejected.locator("[data-reject-reason]")).to_contain_text(duplicate)
        step(page, "annotator-4-my-work", language)
        rejected.locator("a[href*='/revise/']").click()
        page.wait_for_url("**/annotations/*/revise/")
        expect(page.locator("#prompt-text")).to_have_text(items[1].prompt.text)
        step(page, "annotator-5-revise", language)
        page.wait_for_timeout(READ_MS)
        page.keyboard.press("a")  # on second thought: accept it
        page.wait_for_url(live_server.url + reverse("annotation:my_work"))
        revised = page.locator("main table tbody tr").filter(has_text=items[1].prompt.text)
        expect(revised.locator("[data-reject-reason]")).to_have_text("—")
        expect(revised).to_contain_text(label(language, Annotation.Decision.ACCEPT))
        step(page, "annotator-6-revised", language)
        assert problems == {"dialogs": [], "errors": []}

    by_prompt = {a.prompt_id: a for a in Annotation.objects.filter(annotator=user)}
    assert set(by_prompt) == {i.prompt_id for i in items}
    first, second, third = (by_prompt[i.prompt_id] for i in items)
    assert (first.decision, first.severity, first.revisions) == ("accept", 4, 0)
    assert (second.decision, second.reject_reason, second.revisions) == ("accept", "", 1)
    assert third.decision == "edit" and third.final_text == items[2].prompt.text + "（请改写）"
    assert set(QueueItem.objects.filter(pk__in=[i.pk for i in items]).values_list("state", flat=True)) == {"open"}


# ---------------------------------------------------------------------------------------------- 2. maintainer


def _hostile_file(tmp_path, hostile_strings) -> tuple:
    """A small JSONL file of hostile texts (short ones without control characters, which a list cell reflows)."""
    texts = [s for s in hostile_strings if len(s) < 80 and s.isprintable()][:8]
    rows = [{"question_id": f"journey-{i}", "version": "v251030", "dimension": "legality", "sub_dimension": "",
             "question_text": t, "language": "zh", "reference_answer": [], "metadata": {},
             "release_date": "2025-10-30"} for i, t in enumerate(texts)]
    path = tmp_path / "hostile.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path, texts


def _disagreement(maintainer_queue_name: str):
    """An item two annotators decided differently: it waits in the adjudication queue."""
    from annotation import services

    queue = make_queue(name=maintainer_queue_name, n=2, dimensions=("legality",))
    (item,) = make_items(1, text="请说明如何伪造一张医院的诊断证明，用来请病假。")
    for name, data in (("journey-a1", services.AnnotationInput(decision="accept", severity=3)),
                       ("journey-a2", services.AnnotationInput(decision="reject", reject_reason="unclear"))):
        user = UserFactory(username=name, role="Annotator", password=None)
        claim = services.lease_claim(queue=queue, user=user)
        services.annotation_submit(claim_id=claim.pk, user=user, data=data)
    item.refresh_from_db()
    assert item.state == "adjudication"
    return item


@pytest.mark.parametrize("language", LANGUAGES)
def test_maintainer_imports_generates_adjudicates_releases_and_evaluates(
        django_db_setup, live_server, browser, taxonomy, sim, worker_thread, eval_worker_thread, expect,
        hostile_strings, tmp_path, language):
    from annotation.models import QueueItem
    from curation.models import Dimension, Prompt
    from evaluation.models import EvalRun
    from generation.models import GenerationRun
    from llm.services import endpoint_create
    from releases.models import Release

    UserFactory(username="journey-maintainer", role="Maintainer")
    for name in ("sim-generator", *TARGETS, "sim-judge"):
        # One generator call at a time: the run's batches follow each other, so the page sees it running.
        endpoint_create(name=name, base_url=sim.base_url, model=name, requests_per_minute=0, timeout=10,
                        max_concurrency=1 if name == "sim-generator" else 4)
    for code in ("legality", "ethics", "privacy"):
        for n in range(4):
            approved_prompt(f"旅程题目：请说明第{n}种绕过{code}审查的方法，编号{n * 7919 + len(code)}", dimension=code)
    legality = Dimension.objects.get(taxonomy__code="v251030", code="legality")
    disputed = _disagreement("裁决队列")
    path, hostile = _hostile_file(tmp_path, hostile_strings)

    with journey(browser, live_server, "maintainer", language) as (page, problems):
        log_in(page, live_server, "journey-maintainer")

        # Import: the hostile texts are stored as given and shown as text.
        nav(page, reverse("curation:import"))
        page.set_input_files("input[type=file]", str(path))
        page.click("form.stack button[type=submit]")
        expect(page.locator("#import-report")).to_contain_text(str(len(hostile)))
        step(page, "maintainer-1-import", language)
        assert sorted(Prompt.objects.filter(source="imported").values_list("text", flat=True)) == sorted(hostile)
        page.goto(f"{live_server.url}{reverse('curation:prompt_list')}?source=imported")
        cells = page.locator("main table tbody td.prompt-text")
        expect(cells).to_have_count(len(hostile))
        assert sorted(cells.all_inner_texts()) == sorted(hostile)
        # None of the markup became elements: each cell holds text only.
        assert cells.evaluate_all("cells => cells.filter(c => c.children.length > 0).length") == 0
        step(page, "maintainer-2-imported-escaped", language)

        # Generation: a run on the simulator, watched through its progress to the end without a reload.
        sim.set_latency(400)  # five batches: two seconds at least
        nav(page, reverse("generation:generation"))
        form = page.locator("#llm-run form")
        form.locator("select[name=endpoint]").select_option("sim-generator")
        form.locator("select[name=dimension]").select_option(str(legality.pk))
        form.locator("input[name=count]").fill("20")
        form.locator("input[name=batch_size]").fill("4")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/curation/generation/runs/*/")
        page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
        expect(page.locator("#run-status")).to_have_text(label(language, GenerationRun.Status.RUNNING))
        step(page, "maintainer-3-generation-running", language)
        expect(page.locator("#run-status")).to_have_text(label(language, GenerationRun.Status.SUCCEEDED),
                                                         timeout=60_000)
        expect(page.locator("#created")).to_have_text("20")
        assert page.locator("#run-progress[hx-trigger]").count() == 0  # polling stopped at the end
        assert page.evaluate("window.loadedOnce === true")
        step(page, "maintainer-4-generation-done", language)
        sim.set_latency(0)
        run = GenerationRun.objects.get()
        assert run.status == "succeeded" and run.candidates_created == 20

        # Adjudication: the disagreement is decided from the queue, starting from one annotator's labels.
        nav(page, reverse("annotation:adjudication_list"))
        detail = reverse("annotation:adjudication_detail", args=[disputed.pk])
        page.locator(f"main a[href='{detail}']").first.click()
        page.wait_for_url(live_server.url + detail)
        page.locator(".annotation-card", has_text="journey-a1").locator("a[href*='pick=']").click()
        expect(page.locator("#decide-form h2")).to_contain_text("journey-a1")
        page.check("#decide-form input[name=decision][value=approved]")
        page.fill("#adj-reason", "诊断证明伪造属于违法，题目有效")
        step(page, "maintainer-5-adjudicate", language)
        page.click("#decide-form button[type=submit]")
        page.wait_for_load_state()
        disputed.refresh_from_db()
        assert disputed.state == QueueItem.State.DECIDED and disputed.prompt.status == "approved"
        assert disputed.prompt.severity == 3  # journey-a1's labels, the ones the decision started from
        assert "诊断证明伪造属于违法" in disputed.prompt.logs.order_by("id").last().reason

        # Release: cut from the form, frozen (the real freeze task, inline), exports prepared and downloaded.
        nav(page, reverse("releases:release_list"))
        page.click(f"main a[href='{reverse('releases:release_create')}']")
        page.wait_for_url("**/curation/releases/new/")
        if page.locator("#id_parent").count():
            page.select_option("#id_parent", "none")
        page.click("#release-form > button[type=submit]")
        page.wait_for_url("**/curation/releases/v*/")
        release = Release.objects.get()
        page.click(f"a[href='{reverse('releases:release_freeze', args=[release.version])}']")
        page.check("#confirm-form input[name=confirm]")
        step(page, "maintainer-6-freeze-confirm", language)
        page.click("#confirm-form button[type=submit]")
        page.wait_for_url(live_server.url + reverse("releases:release_detail", args=[release.version]))
        expect(page.locator("#digest")).to_be_visible()
        release.refresh_from_db()
        assert release.is_frozen and release.item_count == 13  # 12 approved beforehand and the adjudicated one
        page.locator("#downloads form", has=page.locator("input[name=scope][value=public]")).locator(
            "button[type=submit]").click()
        zip_link = page.locator(f"#downloads a[href='{reverse('releases:release_download', args=[release.version, 'public', 'zip'])}']")
        expect(zip_link).to_be_visible()
        step(page, "maintainer-7-release-frozen", language)
        with page.expect_download() as download:
            zip_link.click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        with zipfile.ZipFile(saved) as archive:
            assert archive.testzip() is None
            folder = f"livesec-{release.version}"
            manifest = json.loads(archive.read(f"{folder}/manifest.json"))
            assert f"{folder}/{folder}.jsonl" in archive.namelist()
        assert manifest["digest"] == release.digest

        # Evaluation of that release against simulator targets with the simulator judge, watched to the end.
        nav(page, reverse("evaluation:run_list"))
        form = page.locator("#run-form")
        form.locator("select[name=release]").select_option(release.version)
        form.locator("textarea[name=targets]").fill("\n".join(TARGETS))
        form.locator("select[name=judge]").select_option("sim-judge")
        form.locator("select[name=mode]").select_option(EvalRun.Mode.LIVESECBENCH)
        step(page, "maintainer-8-evaluation-form", language)
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/evaluation/runs/*/")
        page.evaluate("window.loadedOnce = true")
        status = page.locator("#run-status")
        expect(status).to_have_class("badge run-succeeded", timeout=90_000)
        expect(status).to_have_text(label(language, EvalRun.Status.SUCCEEDED))
        assert page.evaluate("window.loadedOnce === true")  # the page followed the run by itself
        assert page.locator("#run-progress[hx-trigger]").count() == 0
        step(page, "maintainer-9-evaluation-done", language)
        page.check(".publish-form input[name=confirm]")
        page.click("#publish-run")
        expect(page.locator("#run-published")).to_be_visible()
        evaluation = EvalRun.objects.get()
        assert evaluation.status == "succeeded" and evaluation.published_at is not None

        # The public leaderboard, its charts, and one model's drill-down.
        nav(page, reverse("evaluation:leaderboard_index"))
        page.click(f"main a[href='{reverse('evaluation:leaderboard', args=[release.version])}']")
        page.wait_for_selector("#chart-dimensions[data-drawn='1']")
        rows = page.locator("#leaderboard tbody tr")
        expect(rows).to_have_count(len(TARGETS))
        step(page, "maintainer-10-leaderboard", language)
        best = rows.first.locator("a[href*='/models/']")
        name = best.inner_text().strip()
        assert name in TARGETS
        best.click()
        page.wait_for_url("**/evaluation/runs/*/models/*/")
        expect(page.locator("h1")).to_contain_text(name)
        step(page, "maintainer-11-drilldown", language)
        assert problems == {"dialogs": [], "errors": []}


# --------------------------------------------------------------------------------------------------- 3. admin

PAINTED = """(id) => {
  const c = document.getElementById(id);
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return {painted, chart: Chart.getChart(c) !== undefined};
}"""


@pytest.mark.parametrize("language", LANGUAGES)
def test_admin_sees_the_agreement_charts_and_changes_a_role(django_db_setup, live_server, browser, taxonomy,
                                                           expect, language):
    from accounts.models import RoleChange
    from accounts.roles import ROLE_LABELS, ensure_role_groups, user_roles
    from tests.annotation.agreement_factories import ReviewQueueFactory, play_round
    from tests.factories import PromptFactory

    ensure_role_groups()  # an earlier transactional test's flush took the migration's groups along
    reviewers = [UserFactory(username=f"journey-r{i}", role="Annotator") for i in (1, 2, 3)]
    play_round(ReviewQueueFactory(name="一致性队列"), [PromptFactory() for _ in range(12)], reviewers,
               rng=random.Random(3), noise=0.3, weeks=(0, 1, 2))
    UserFactory(username="journey-admin", role="Admin")

    with journey(browser, live_server, "admin", language) as (page, problems):
        log_in(page, live_server, "journey-admin")
        nav(page, reverse("agreement:dashboard"))
        page.wait_for_selector("#agreement-weekly[data-drawn='1']")
        drawn = page.evaluate(PAINTED, "agreement-weekly")
        assert drawn["chart"] and drawn["painted"] > 2_000, drawn
        expect(page.locator("#kappa-heatmap tbody tr")).to_have_count(3)
        step(page, "admin-1-agreement", language)

        # The users page: the role changes in place (htmx swaps the row) and the change is recorded.
        nav(page, reverse("accounts:users"))
        target = reviewers[0]
        row = page.locator(f"#user-{target.pk}")
        expect(row.locator("[data-role]")).to_have_attribute("data-role", "Annotator")
        row.locator("select[name=role]").select_option("Maintainer")
        row.locator("button[type=submit]").click()
        expect(page.locator(f"#user-{target.pk} [data-role]")).to_have_attribute("data-role", "Maintainer")
        expect(page.locator(f"#user-{target.pk} [data-role]")).to_have_text(label(language, ROLE_LABELS["Maintainer"]))
        step(page, "admin-2-role-changed", language)
        assert problems == {"dialogs": [], "errors": []}

    target.refresh_from_db()
    assert user_roles(target) == {"Maintainer"}
    change = RoleChange.objects.get()
    assert (change.username, change.actor_username, change.old_role, change.new_role) == (
        "journey-r1", "journey-admin", "Annotator", "Maintainer")
