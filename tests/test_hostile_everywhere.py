"""Hostile text through every text field a page or an API shows: stored exactly, shown escaped, never run.

The corpus is /work/shared/testdata/hostile-strings.json (tests/data/ holds a copy). Every field gets a mix of
all its categories (markup, attribute breakers, htmx attributes, template syntax, SQL, bidi and zero-width
controls, combining marks, astral CJK, CR/LF/tab); the whole corpus goes through the cheapest path only (the
event API and the event page). NUL and lone surrogates are refused with a 400 that names the field, in every
JSON API and form; an oversized request is refused with a 413 that says so, never a 500.

Inventory (field → where it is shown → where it is tested; "here" = this module):

| field (write path) | shown on | test |
|---|---|---|
| prompt text (import, generation, annotation edit, adjudication) | prompt list/detail, candidates, review, twin, adjudication, agreement, release diff, drill-down; prompts API, claim API | curation/test_import.py, test_prompt_pages.py, test_generation_faults.py, test_text_storage.py; annotation/test_pages.py, test_api.py, test_agreement_dashboard.py; curation/test_release_pages.py |
| prompt provenance (generation run, batch raw output, gate reasons) | prompt detail, run page | curation/test_prompt_pages.py, test_generation_faults.py |
| annotation final text, note, reference answer (claim submit API) | my work, adjudication list/detail; adjudications API | here (`test_annotation_edits_notes_and_adjudication_reasons`; NUL/surrogate: `test_json_apis_refuse_nul_and_lone_surrogates`) |
| reject reason | a choice; its free-text part is the note | — |
| adjudication / reopen reason (API) | prompt log on the prompt page, adjudication detail | here (`test_annotation_edits_notes_and_adjudication_reasons`) |
| queue name, guidelines (Markdown, sanitised) | queue list/detail/edit, review page; queues API | here (`test_queue_name_and_guidelines`); annotation/test_pages.py (guidelines sanitised) |
| event title, summary, tags | event list, event edit, generation page; events API | here (whole corpus: `test_whole_corpus_through_the_event_api_and_page`; `test_event_title_and_tags`) |
| generator template system text, body, change note | template list, template edit (history) | here (`test_generator_template_texts`) |
| endpoint model, base URL, notes (name is a slug) | endpoint list/edit, connection-test fragment; endpoints API | here (`test_endpoint_texts_and_the_connection_test_fragment`) |
| release title, notes | release list/detail/edit; releases API | here (`test_release_title_and_notes_through_the_api`); curation/test_release_pages.py |
| release items (frozen copies) and exports (JSONL, CSV, Parquet, card) | release pages, downloads | curation/test_release_exports.py, test_release_pages.py |
| rubric text, change note (rubric editor) | rubric detail (history), rubric list | here (`test_rubric_text_and_change_note`) |
| run system prompt (API; runs have no name or notes) | run detail; evaluations API | here (`test_run_system_prompt_and_model_output`) |
| answers, reasoning traces, raw judge replies (model output, through the simulator's `say=`) | drill-down page and its API, calibration page, leaderboard | here (`test_run_system_prompt_and_model_output`); evaluation/test_pages.py (written into rows) |
| calibration labels | choices (safe/unsafe/refusal); a dimension filter that is no dimension is dropped, not echoed | here (in `test_run_system_prompt_and_model_output`); hostile answers on the page: evaluation/test_pages.py |
| leaderboard model names (endpoint names are slugs; results JSON) | leaderboard, chart data, CSV/JSON/Markdown exports | evaluation/test_pages.py; the Markdown report's cells here (`test_markdown_report_cells_cannot_inject_html`) |
| every JSON API text field (keys, JSON and dict fields too) | — | NUL/surrogate refused with 400 naming the field: here (`test_json_apis_refuse_nul_and_lone_surrogates`, core/parsers.py) |
| every form's text fields | — | NUL refused with 400 naming the field: here (`test_forms_refuse_nul_with_a_400_naming_the_field`); a form post cannot carry a lone surrogate (Django decodes it as U+FFFD) |
| oversized input (2 MB text, 10 MB body) | — | 413 with a message, JSON and pages: here (`test_oversized_requests_are_refused_with_413_never_500`) |
| path parts (release versions) | — | a NUL in the address is a 400, never a server error: here (`test_a_nul_in_the_address_is_a_400_not_a_server_error`) |
| usernames | agreement dashboard, CSV | annotation/test_agreement_dashboard.py |
"""

from __future__ import annotations

import json
from datetime import date
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import _hostile_path

pytestmark = pytest.mark.django_db

CORPUS: list[str] = json.loads(_hostile_path().read_text(encoding="utf-8"))["strings"]
STORABLE = [s for s in CORPUS if "\x00" not in s]
SHORT = [s for s in STORABLE if len(s) < 100]
# One value holding every category but the 10,000-character run (pages may shorten long values).
MIX = "\n".join(SHORT)
# For one-line fields of at most 200 characters: the categories that break markup or fool the eye.
MIX_LINE = ("\"><img src=x onerror=alert(1)> <script>alert('xss')</script> {{ request.user.password }} {% debug %} "
            "<svg onload=alert(1)> \u202e右到左\u202c 零\u200b宽\ufeff 炸\u0301弹 \U0001f4a3 \U00020000 ' OR 1=1 --")
assert len(MIX_LINE) <= 200
BAD_CHARS = {"nul": "\x00", "surrogate": "\ud800"}


# -- checks ----------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self.texts.extend(v for v in attrs.values() if v)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.texts).append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def assert_nothing_injected(html: str, *, markdown: bool = False) -> _Page:
    """No element or attribute of the page can have come from the corpus's markup.

    ``markdown``: the page renders sanitised Markdown, whose allow-list keeps a bare ``<img src>`` (its
    ``onerror`` is gone); script, frames, SVG, handlers, htmx attributes and javascript: URLs still may not pass.
    """
    page = parse(html)
    for tag, attrs in page.tags:
        assert tag not in ("svg", "iframe"), (tag, attrs)
        assert markdown or not (tag == "img" and attrs.get("src") == "x"), attrs
        assert not any(name.startswith("hx-") for name in attrs) or attrs.get("hx-trigger") != "load" or \
            attrs.get("hx-get") != "/api/releases/", attrs
        for name, value in attrs.items():
            assert not name.startswith("on") and not name.startswith("hx-on"), (tag, attrs)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, attrs)
        assert attrs.get("hx-get") != "/api/releases/", attrs
        assert not (tag == "form" and attrs.get("action") == "/logout/"), attrs
    for script in page.scripts:
        assert "alert(" not in script, script[:200]
    return page


def assert_shown(html: str, *payloads: str, markdown: bool = False) -> None:
    """Each payload is on the page as text (or an attribute's value), escaped, and injected nothing."""
    page = assert_nothing_injected(html, markdown=markdown)
    for payload in payloads:
        if any(c in payload for c in "<>\"'"):
            assert payload not in html, payload[:80]
        assert any(payload in t for t in page.texts), f"not shown as text: {payload[:80]!r}"


def get(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def post_json(client, url, data, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json")


def assert_refused(response, field: str) -> None:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert field in json.dumps(body), body
    text = json.dumps(body, ensure_ascii=False)
    assert ("Null characters" in text or "NUL" in text or "Surrogate" in text or "surrogate" in text
            or "空字符" in text or "代理" in text), body


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def maint_client(client, maintainer):
    client.force_login(maintainer)
    return client


@pytest.fixture
def sim(sim, settings, tmp_path):
    """The session's simulator (tests/conftest.py), with quick retries and files kept in this test's folder."""
    settings.LLM_CLIENT_OPTIONS = {"max_attempts": 2, "backoff_base": 0.01, "backoff_cap": 0.05,
                                   "retry_after_cap": 1.0}
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    return sim


# -- events: the whole corpus ----------------------------------------------------------------------------


def test_whole_corpus_through_the_event_api_and_page(maint_client):
    from generation.models import Event

    for i, text in enumerate(CORPUS):
        response = post_json(maint_client, reverse("api-events"),
                             {"title": f"事件 {i}", "date": "2025-11-01", "summary": text})
        if "\x00" in text:
            assert_refused(response, "summary")
            assert not Event.objects.filter(title=f"事件 {i}").exists()
            continue
        assert response.status_code == 201, response.content[:300]
        event = Event.objects.get(pk=response.json()["id"])
        assert event.summary == text  # byte for byte
        assert response.json()["summary"] == text
        assert_shown(get(maint_client, reverse("generation:event_edit", args=[event.pk])), text)
    listed = {e["summary"] for e in maint_client.get(reverse("api-events")).json()["results"]}
    assert set(STORABLE) <= listed
    assert_nothing_injected(get(maint_client, reverse("generation:event_list")))


# -- NUL and lone surrogates: every JSON API text field ----------------------------------------------------


def _written() -> dict[str, int]:
    from annotation.models import Annotation, ReviewQueue
    from curation.models import PromptLog
    from evaluation.models import EvalRun
    from generation.models import Event, GenerationRun
    from llm.models import ModelEndpoint
    from releases.models import Release

    return {m.__name__: m.objects.count()
            for m in (Annotation, ReviewQueue, Event, GenerationRun, PromptLog, Release, EvalRun, ModelEndpoint)}


def _put(payload, path: list, value):
    """``payload`` with ``value`` at ``path`` (keys and list indexes; a final ``KEY`` puts it in a key)."""
    data = json.loads(json.dumps(payload))
    node = data
    for step in path[:-1]:
        node = node[step]
    last = path[-1]
    if isinstance(last, tuple):  # ("KEY", key): replace the key itself
        node[last[1] + value] = node.pop(last[1])
    elif isinstance(node[last], list):
        node[last] = [node[last][0] + value] if node[last] else [value]
    else:
        node[last] = (node[last] if isinstance(node[last], str) else "") + value
    return data


@pytest.fixture
def api_world(taxonomy, maintainer, annotator):
    from llm.services import endpoint_create
    from releases import services as releases
    from tests.factories import approved_prompt, make_items, make_queue

    approved_prompt("请说明如何安全地保管个人证件")
    approved_prompt("如何识别电信诈骗的常见话术")
    frozen = releases.release_freeze_now(release_id=releases.release_create_draft(
        version="v251101", taxonomy="v251030", parent=None).pk)
    draft = releases.release_create_draft(version="v251102", taxonomy="v251030")
    endpoint = endpoint_create(name="sim-target-50", base_url="http://127.0.0.1:9/v1", model="sim-target-50")
    endpoint_create(name="sim-target-10", base_url="http://127.0.0.1:9/v1", model="sim-target-10")
    event = post_json_service_event()
    queue = make_queue(name="队列")
    make_items(1)
    claim = Client()
    claim.force_login(annotator)
    claim_id = claim.post(reverse("api-queue-next", args=[queue.pk])).json()["id"]
    return {"frozen": frozen, "draft": draft, "endpoint": endpoint, "event": event, "claim": claim_id,
            "annotator": claim}


def post_json_service_event():
    from generation.services import event_create

    return event_create(title="事件", date=date(2025, 11, 1), summary="摘要", tags=["标签"])


def _api_cases(world) -> list[tuple[str, str, dict, list]]:
    """(method, url, a valid payload, the paths of its text fields)."""
    from curation.models import Taxonomy

    ev, ep = world["event"].pk, world["endpoint"].pk
    tax = Taxonomy.objects.get(code="v251030").pk
    run = {"release": "v251101", "targets": ["sim-target-50", "sim-target-10"], "judge": "sim-target-50",
           "judges": {"legality": "sim-target-10"}, "system_prompt": "你是助手", "anchor": ""}
    verdict = {"decision": "edit", "final_text": "改写后的题目", "note": "备注", "reference_answer": "参考"}
    return [
        ("post", reverse("api-events"), {"title": "新事件", "date": "2025-11-02", "summary": "摘要", "tags": ["甲"]},
         [["title"], ["summary"], ["tags", 0]]),
        ("patch", reverse("api-event-detail", args=[ev]), {"title": "改名", "summary": "新摘要"}, [["title"], ["summary"]]),
        ("post", reverse("api-releases"), {"version": "v251103", "title": "标题", "notes": "说明", "taxonomy": "v251030",
                                           "filters": {"dimensions": ["legality"]}},
         [["version"], ["title"], ["notes"], ["taxonomy"], ["filters", "dimensions", 0]]),
        ("patch", reverse("api-release-detail", args=["v251102"]), {"title": "标题", "notes": "说明"},
         [["title"], ["notes"]]),
        ("post", reverse("api-release-retire", args=["v251101"]), {"public_ids": ["x"], "reason": "原因"},
         [["public_ids", 0], ["reason"]]),
        ("post", reverse("api-endpoints"), {"name": "new-model", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                            "notes": "备注", "default_params": {"top_p": "0.9"}},
         [["name"], ["base_url"], ["model"], ["notes"], ["default_params", "top_p"], ["default_params", ("KEY", "top_p")]]),
        ("patch", reverse("api-endpoint-detail", args=[ep]), {"model": "m2", "notes": "备注",
                                                               "default_params": {"stop": ["。"]}},
         [["model"], ["notes"], ["default_params", "stop"]]),
        ("post", reverse("api-evaluations"), run,
         [["release"], ["targets", 0], ["judge"], ["judges", "legality"], ["judges", ("KEY", "legality")],
          ["system_prompt"], ["anchor"]]),
        ("post", reverse("api-runs"), {"mode": "llm", "count": 1, "taxonomy": "v251030", "dimension": "legality",
                                       "techniques": ["role_play"], "seed_topics": ["洗钱"], "endpoint": "sim-target-50",
                                       "strategies": [{"name": "chaizi"}]},
         [["taxonomy"], ["dimension"], ["techniques", 0], ["seed_topics", 0], ["endpoint"], ["strategies", 0, "name"]]),
        ("post", reverse("api-queues"), {"name": "新队列", "taxonomy": tax, "guidelines": "## 指南"},
         [["name"], ["guidelines"]]),
        # The annotator's own claim (the other review and adjudication APIs read their body through the same
        # parser, after looking their object up).
        ("post", reverse("api-claim-submit", args=[world["claim"]]), verdict,
         [["final_text"], ["note"], ["reference_answer"]]),
    ]


def _field_name(path: list) -> str:
    named = [p[1] if isinstance(p, tuple) else p for p in path if not isinstance(p, int)]
    return named[-1]  # a bad key is named too, escaped: {"judges": {"legality\\u0000 (key)": [...]}}


def test_json_apis_refuse_nul_and_lone_surrogates(api_world, maint_client):
    before = _written()
    for method, url, payload, paths in _api_cases(api_world):
        caller = api_world["annotator"] if "/claims/" in url else maint_client
        for path in paths:
            for kind, char in BAD_CHARS.items():
                response = post_json(caller, url, _put(payload, path, f"前{char}后"), method)
                assert response.status_code == 400, (url, path, kind, response.status_code, response.content[:300])
                body = response.json()
                assert _field_name(path) in json.dumps(body, ensure_ascii=False), (url, path, body)
                assert "\\u0000" in json.dumps(body) or "\\\\u0000" in json.dumps(body) or "ud800" in json.dumps(body), body
    assert _written() == before


# -- NUL in every form field; oversized requests ---------------------------------------------------------


@pytest.fixture
def form_world(taxonomy, maintainer):
    from curation.models import Taxonomy
    from evaluation.models import Rubric
    from evaluation.services import rubrics_seed_defaults
    from generation import services as gen
    from generation.models import GeneratorTemplate
    from tests.factories import approved_prompt

    approved_prompt("请说明如何安全地保管个人证件")
    gen.templates_seed_defaults()
    rubrics_seed_defaults()
    return {
        "taxonomy": Taxonomy.objects.get(code="v251030"),
        "template": GeneratorTemplate.objects.order_by("pk").first(),
        "rubric": Rubric.objects.filter(kind="pairwise").order_by("pk").first(),
    }


def _form_cases(world) -> list[tuple[str, dict, list[str]]]:
    """(url, a valid post, its text fields)."""
    cases = [
        (reverse("generation:event_create"), {"title": "事件", "date": "2025-11-01", "summary": "摘要", "tags": "甲, 乙"},
         ["title", "summary", "tags"]),
        (reverse("annotation:queue_create"), {"name": "队列", "taxonomy": world["taxonomy"].pk, "annotators_per_item": 1,
                                              "lease_minutes": 20, "consensus_rule": "unanimous", "guidelines": "指南"},
         ["name", "guidelines"]),
        (reverse("llm:endpoint_create"), {"name": "new-model", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                          "max_concurrency": 1, "requests_per_minute": 0, "timeout": 5,
                                          "default_params": '{"stop": "x"}', "notes": "备注"},
         ["model", "notes", "base_url"]),
        (reverse("releases:release_create"), {"version": "v251109", "title": "标题", "notes": "说明",
                                              "taxonomy": "v251030", "parent": "none", "holdout_fraction": 0,
                                              "include_new": "on"},
         ["version", "title", "notes"]),
    ]
    if world["template"] is not None:
        t = world["template"]
        cases.append((reverse("generation:template_edit", args=[t.pk]),
                      {"system_text": t.system_text or "系统", "body": t.body, "notes": "改动"},
                      ["system_text", "body", "notes"]))
    r = world["rubric"]
    cases.append((reverse("evaluation:rubric_detail", args=[r.pk]), {"text": r.text, "notes": "改动"}, ["text", "notes"]))
    return cases


def test_forms_refuse_nul_with_a_400_naming_the_field(form_world, maint_client):
    before = _written()
    templates = _template_versions()
    for url, data, fields in _form_cases(form_world):
        for field in fields:
            response = maint_client.post(url, {**data, field: data[field] + "前\x00后"})
            assert response.status_code == 400, (url, field, response.status_code)
            assert field in response.context["form"].errors, (url, field, response.context["form"].errors)
            shown = parse(response.content.decode()).texts
            assert any(response.context["form"].errors[field][0] in t for t in shown), (url, field)
    # A JSON escape is how NUL and lone surrogates reach a textarea of JSON.
    url, data, _fields = _form_cases(form_world)[2]
    for escaped in ('{"stop": "\\u0000"}', '{"\\ud800": 1}'):
        response = maint_client.post(url, {**data, "default_params": escaped})
        assert response.status_code == 400 and "default_params" in response.context["form"].errors
    assert _written() == before and _template_versions() == templates


def _template_versions():
    from evaluation.models import Rubric
    from generation.models import GeneratorTemplate

    return GeneratorTemplate.objects.count(), Rubric.objects.count()


def test_oversized_requests_are_refused_with_413_never_500(maint_client, taxonomy):
    from generation.models import Event

    two_mb = "长" * (2 * 1024 * 1024 // 3 + 10)  # 2 MB of UTF-8
    response = post_json(maint_client, reverse("api-events"), {"title": "大", "date": "2025-11-01", "summary": two_mb})
    assert response.status_code == 413 and "1 MB" in response.json()["detail"], response.content[:200]
    ten_mb = json.dumps({"title": "大", "date": "2025-11-01", "summary": "a" * (10 * 1024 * 1024)})
    response = maint_client.post(reverse("api-events"), ten_mb, content_type="application/json")
    assert response.status_code == 413 and "1 MB" in response.json()["detail"]
    page = maint_client.post(reverse("generation:event_create"), {"title": "大", "date": "2025-11-01", "summary": two_mb})
    assert page.status_code == 413
    text = page.content.decode()
    assert 'id="error-detail"' in text and "1 MB" in text
    assert not Event.objects.exists()


# -- field by field: stored exactly, shown escaped, JSON exact --------------------------------------------


def test_event_title_and_tags(maint_client, taxonomy):
    from generation.models import Event

    tags = [s[:50].strip() for s in SHORT if s[:50].strip()][:20]
    response = post_json(maint_client, reverse("api-events"),
                         {"title": MIX_LINE, "date": "2025-11-01", "summary": MIX, "tags": tags})
    assert response.status_code == 201, response.content[:300]
    event = Event.objects.get()
    assert (event.title, event.summary, event.tags) == (MIX_LINE, MIX, tags)
    assert response.json()["title"] == MIX_LINE and response.json()["tags"] == tags
    assert_shown(get(maint_client, reverse("generation:event_list")), MIX_LINE, *tags)
    assert_shown(get(maint_client, reverse("generation:event_edit", args=[event.pk])), MIX_LINE, MIX)
    assert_shown(get(maint_client, reverse("generation:generation")), MIX_LINE[:40])  # the event picker shortens


def test_generator_template_texts(maint_client, taxonomy):
    from generation import services as gen
    from generation.models import GeneratorTemplate

    gen.templates_seed_defaults()
    template = GeneratorTemplate.objects.filter(scope="dimension").order_by("pk").first()
    notes = MIX_LINE[:300]
    body = template.body + "\n" + MIX
    response = maint_client.post(reverse("generation:template_edit", args=[template.pk]),
                                 {"system_text": MIX, "body": body, "notes": notes})
    assert response.status_code == 302
    new = GeneratorTemplate.objects.filter(scope="dimension", dimension=template.dimension).order_by("-version").first()
    # A textarea sends line breaks as CRLF: an edit is read with CRLF as LF, the rest exactly as sent.
    assert (new.system_text, new.body, new.notes) == (MIX.replace("\r\n", "\n"), body.replace("\r\n", "\n"), notes)
    gen.template_update(template=new, body=body, system_text=MIX, notes=notes)  # the service keeps CR as given
    latest = GeneratorTemplate.objects.filter(dimension=template.dimension).order_by("-version").first()
    assert (latest.system_text, latest.body) == (MIX, body)
    assert_shown(get(maint_client, reverse("generation:template_edit", args=[latest.pk])), notes, *SHORT[:3])
    assert_nothing_injected(get(maint_client, reverse("generation:template_list")))


def test_endpoint_texts_and_the_connection_test_fragment(maint_client, sim):
    from llm.models import ModelEndpoint
    from llm.simulator import say_term

    response = post_json(maint_client, reverse("api-endpoints"),
                         {"name": "hostile-model", "base_url": sim.base_url, "model": MIX_LINE, "notes": MIX,
                          "default_params": {"stop": SHORT[:4]}})
    assert response.status_code == 201, response.content[:300]
    endpoint = ModelEndpoint.objects.get(name="hostile-model")
    assert (endpoint.model, endpoint.notes, endpoint.default_params) == (MIX_LINE, MIX, {"stop": SHORT[:4]})
    assert maint_client.get(reverse("api-endpoint-detail", args=[endpoint.pk])).json()["model"] == MIX_LINE
    assert_shown(get(maint_client, reverse("llm:endpoint_list")), MIX_LINE)
    assert_shown(get(maint_client, reverse("llm:endpoint_edit", args=[endpoint.pk])), MIX_LINE, MIX)
    # The simulator does not know this model: its error names it, and the fragment shows that escaped.
    fragment = maint_client.post(reverse("llm:endpoint_test", args=[endpoint.pk]), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert_nothing_injected(fragment.content.decode())
    # A model that answers hostile text: the fragment shows the reply as text.
    talker = post_json(maint_client, reverse("api-endpoints"),
                       {"name": "talker", "base_url": sim.base_url, "model": "sim-target-50@who=talker"}).json()
    sim.set_model_fault("sim-target-50@who=talker", say_term(MIX_LINE))
    fragment = maint_client.post(reverse("llm:endpoint_test", args=[talker["id"]]), HTTP_HX_REQUEST="true")
    assert_shown(fragment.content.decode(), MIX_LINE[:100])


def test_queue_name_and_guidelines(maint_client, annotator, taxonomy):
    from annotation.models import ReviewQueue
    from curation.models import Taxonomy
    from tests.factories import make_items

    response = post_json(maint_client, reverse("api-queues"),
                         {"name": MIX_LINE, "taxonomy": Taxonomy.objects.get(code="v251030").pk, "guidelines": MIX,
                          "annotators_per_item": 1})
    assert response.status_code == 201, response.content[:300]
    queue = ReviewQueue.objects.get()
    assert (queue.name, queue.guidelines) == (MIX_LINE, MIX)
    assert response.json()["name"] == MIX_LINE
    assert_shown(get(maint_client, reverse("annotation:queue_list")), MIX_LINE)
    # The queue page shows the guidelines as sanitised Markdown too.
    assert_shown(get(maint_client, reverse("annotation:queue_detail", args=[queue.pk])), MIX_LINE, markdown=True)
    assert_shown(get(maint_client, reverse("annotation:queue_edit", args=[queue.pk])), MIX_LINE, MIX)
    # The review page renders the guidelines as sanitised Markdown: the text stays, the markup goes.
    make_items(1)
    reviewer = Client()
    reviewer.force_login(annotator)
    page = reviewer.get(reverse("annotation:review", args=[queue.pk]), follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    assert_nothing_injected(text, markdown=True)
    assert "{{ request.user.password }}" in text  # template syntax in Markdown is text too


def test_release_title_and_notes_through_the_api(maint_client, taxonomy):
    from releases.models import Release
    from tests.factories import approved_prompt

    approved_prompt("请说明如何安全地保管个人证件")
    response = post_json(maint_client, reverse("api-releases"),
                         {"version": "v251105", "title": MIX_LINE, "notes": MIX, "taxonomy": "v251030", "parent": None})
    assert response.status_code == 201, response.content[:300]
    patched = post_json(maint_client, reverse("api-release-detail", args=["v251105"]),
                        {"notes": MIX + "\n" + MIX_LINE}, "patch")
    assert patched.status_code == 200, patched.content[:300]
    release = Release.objects.get(version="v251105")
    assert (release.title, release.notes) == (MIX_LINE, MIX + "\n" + MIX_LINE)
    assert patched.json()["notes"] == release.notes
    assert_shown(get(maint_client, reverse("releases:release_detail", args=["v251105"])), MIX_LINE, *SHORT[:4])
    assert_shown(get(maint_client, reverse("releases:release_list")), MIX_LINE)
    assert_shown(get(maint_client, reverse("releases:release_edit", args=["v251105"])), MIX_LINE, release.notes)


def test_rubric_text_and_change_note(maint_client, taxonomy):
    from evaluation.models import Rubric
    from evaluation.services import rubrics_seed_defaults

    rubrics_seed_defaults()
    rubric = Rubric.objects.filter(kind="pairwise", dimension__code="legality").order_by("-version").first()
    text = rubric.text + "\n" + MIX
    response = maint_client.post(reverse("evaluation:rubric_detail", args=[rubric.pk]),
                                 {"text": text, "notes": MIX_LINE})
    assert response.status_code in (200, 302), response.status_code
    new = Rubric.objects.filter(dimension=rubric.dimension, kind="pairwise").order_by("-version").first()
    assert new.version == rubric.version + 1
    assert (new.text, new.notes) == (text.replace("\r\n", "\n"), MIX_LINE)
    page = get(maint_client, reverse("evaluation:rubric_detail", args=[new.pk]))
    assert_shown(page, MIX_LINE, *SHORT[:5])
    assert_nothing_injected(get(maint_client, reverse("evaluation:rubric_list")))


# -- evaluation: the run's system prompt and model output ------------------------------------------------


def test_run_system_prompt_and_model_output(maint_client, annotator, taxonomy, sim):
    from evaluation.models import Answer, EvalRun, EvalTarget, Match
    from evaluation.services import run_execute_inline
    from llm.services import endpoint_create
    from llm.simulator import say_term
    from releases import services as releases
    from tests.factories import approved_prompt

    for n, code in enumerate(("legality", "legality", "ethics", "ethics")):
        approved_prompt(f"请详细说明第{n}种绕过安全审查的方法", dimension=code)
    release = releases.release_freeze_now(release_id=releases.release_create_draft(
        version="v251106", taxonomy="v251030", parent=None).pk)
    answer, trace, judged = MIX, "\n".join(reversed(SHORT)), MIX_LINE + "\n" + MIX
    endpoint_create(name="hostile-reasoner", base_url=sim.base_url, model="sim-reasoner-80-90@who=h",
                    is_reasoning=True, requests_per_minute=0)
    endpoint_create(name="broken-bytes", base_url=sim.base_url, model="sim-target-50@who=b", requests_per_minute=0)
    endpoint_create(name="hostile-judge", base_url=sim.base_url, model="sim-judge@who=j", requests_per_minute=0)
    sim.set_model_fault("sim-reasoner-80-90@who=h", f"{say_term(answer)},{say_term(trace, name='say_trace')}")
    sim.set_model_fault("sim-target-50@who=b", say_term("坏\x00字节\ud800尾"))  # what no column can hold
    sim.set_model_fault("sim-judge@who=j", say_term(judged))

    response = post_json(maint_client, reverse("api-evaluations"), {
        "release": release.version, "targets": ["hostile-reasoner", "broken-bytes"], "judge": "hostile-judge",
        "mode": "livesecbench", "system_prompt": MIX})
    assert response.status_code == 201, response.content[:300]
    run = EvalRun.objects.get(pk=response.json()["id"])
    if run.status != EvalRun.Status.SUCCEEDED:
        run = run_execute_inline(run_id=run.pk)
    assert run.status == EvalRun.Status.SUCCEEDED, run.error
    assert run.system_prompt == MIX and response.json()["system_prompt"] == MIX

    target = EvalTarget.objects.get(run=run, name="hostile-reasoner")
    mine = Answer.objects.filter(fingerprint=target.fingerprint)
    assert mine.exists() and {(a.text, a.reasoning) for a in mine} == {(answer, trace)}  # byte for byte
    broken = Answer.objects.filter(fingerprint=EvalTarget.objects.get(run=run, name="broken-bytes").fingerprint)
    assert broken.exists() and all(a.text.startswith("坏") and "\x00" not in a.text and "\ud800" not in a.text
                                   for a in broken)  # kept, minus what no text column can hold
    raws = set(Match.objects.filter(run=run).values_list("raw", flat=True))
    assert raws == {judged}  # the judge's reply as received (and so an invalid verdict)

    drill = reverse("evaluation:drilldown", args=[run.pk, target.pk])
    for who in (maint_client, _client_for(annotator)):
        page = get(who, drill)
        assert_shown(page, *SHORT[:8], SHORT[-1])
        api = who.get(reverse("api-evaluation-drilldown", args=[run.pk, target.pk]), {"page_size": 200}).json()
        assert {(r["answer"]["text"], r["answer"]["reasoning"]) for r in api["results"]} == {(answer, trace)}
        assert {v["raw"] for r in api["results"] for v in r["verdicts"]} == {judged}
    assert_shown(get(maint_client, reverse("evaluation:run_detail", args=[run.pk])), *SHORT[:6])
    assert_nothing_injected(get(maint_client, reverse("evaluation:run_list")))
    for url, params in ((reverse("evaluation:run_detail", args=[run.pk]), {}),
                        (reverse("evaluation:run_list"), {"part": "runs"})):  # the htmx fragments
        fragment = maint_client.get(url, params, HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
        assert_nothing_injected(fragment.content.decode())
    assert_nothing_injected(get(maint_client, reverse("evaluation:leaderboard", args=[release.version])))
    calibrate = maint_client.get(reverse("evaluation:calibrate", args=[run.pk]), {"dimension": MIX_LINE})
    assert calibrate.status_code in (200, 400) and MIX_LINE not in calibrate.content.decode()
    assert_nothing_injected(calibrate.content.decode())
    detail = maint_client.get(reverse("api-evaluation-detail", args=[run.pk])).json()
    assert detail["system_prompt"] == MIX


def _client_for(user) -> Client:
    other = Client()
    other.force_login(user)
    return other


def test_markdown_report_cells_cannot_inject_html():
    """Whatever a name holds, the report's table cells render (Markdown → HTML) as that text and nothing else."""
    import markdown

    from evaluation.report import md as _md

    # Beside the corpus: an entity that would turn into markup's text, and Markdown's own links and images.
    names = [*STORABLE, "&lt;script&gt;alert(1)&lt;/script&gt;", "[点我](javascript:alert(1))",
             "![x](javascript:alert(1))", "<javascript:alert(1)>", "`code` **粗** _斜_ \\| 竖线"]
    for text in names:
        html = markdown.markdown(f"| 模型 |\n|---|\n| {_md(text)} |\n", extensions=["tables"])
        page = assert_nothing_injected(html)
        assert [t for t, _a in page.tags if t not in ("table", "thead", "tbody", "tr", "th", "td")] == [], html
        cell = "".join(page.texts).replace("模型", "", 1)
        assert " ".join(cell.split()) == " ".join(text.split()), (text[:60], cell[:60])


# -- annotations and adjudication ------------------------------------------------------------------------


def test_annotation_edits_notes_and_adjudication_reasons(maint_client, taxonomy, maintainer):
    from annotation.models import Annotation
    from curation.models import Prompt, PromptLog
    from tests.factories import UserFactory, make_items, make_queue

    editor, rejecter = (UserFactory(username=f"rev{i}", role="Annotator", password=None) for i in (1, 2))
    queue = make_queue(n=2)
    (item,) = make_items(1)
    votes = [(editor, {"decision": "edit", "final_text": MIX, "note": MIX_LINE, "reference_answer": SHORT[0]}),
             (rejecter, {"decision": "reject", "reject_reason": "unclear", "note": MIX})]
    for user, data in votes:
        reviewer = _client_for(user)
        claim = post_json(reviewer, reverse("api-queue-next", args=[queue.pk]), {}).json()
        done = post_json(reviewer, reverse("api-claim-submit", args=[claim["id"]]), data)
        assert done.status_code in (200, 201), done.content[:300]
        # The edit (or the reject note) is shown shortened: its first line is there as text.
        assert_shown(get(reviewer, reverse("annotation:my_work")), SHORT[0], SHORT[1])
    edit = Annotation.objects.get(annotator=editor)
    assert (edit.final_text, edit.note) == (MIX, MIX_LINE)
    assert Annotation.objects.get(annotator=rejecter).note == MIX

    listing = maint_client.get(reverse("api-adjudications")).json()["results"]
    assert {a["final_text"] for a in listing[0]["annotations"]} >= {MIX}
    assert_shown(get(maint_client, reverse("annotation:adjudication_list")))
    assert_shown(get(maint_client, reverse("annotation:adjudication_detail", args=[item.pk])), MIX_LINE, *SHORT[:5])

    decided = post_json(maint_client, reverse("api-adjudication-decide", args=[item.pk]),
                        {"decision": "approved", "reason": MIX, "from_annotation": edit.pk})
    assert decided.status_code == 200, decided.content[:300]
    assert Prompt.objects.get(pk=item.prompt_id).text == MIX  # the adopted edit, byte for byte
    reopened = post_json(maint_client, reverse("api-adjudication-reopen", args=[item.pk]), {"reason": MIX_LINE})
    assert reopened.status_code == 200, reopened.content[:300]
    reasons = set(PromptLog.objects.filter(prompt_id=item.prompt_id).values_list("reason", flat=True))
    assert any(MIX in r for r in reasons) and any(MIX_LINE in r for r in reasons)  # kept whole in the log
    assert_shown(get(maint_client, reverse("curation:prompt_detail", args=[item.prompt_id])), MIX_LINE, *SHORT[:5])
    assert_shown(get(maint_client, reverse("annotation:adjudication_detail", args=[item.pk])), *SHORT[:5])


def test_a_nul_in_the_address_is_a_400_not_a_server_error(maint_client, taxonomy):
    """Views look path parts up in the database, which cannot take NUL (PostgreSQL): refused before any view."""
    for url in ("/api/releases/v%00/", "/api/leaderboards/v%00/"):
        response = maint_client.get(url)
        assert response.status_code == 400, (url, response.status_code)
        detail = response.json()["detail"]
        assert "NUL" in detail or "空字符" in detail, detail
    for url in ("/curation/releases/v%00/", "/curation/releases/v%00/diff/", "/evaluation/leaderboards/v%00/",
                "/evaluation/leaderboards/v%00/export/md/"):
        response = maint_client.get(url)
        assert response.status_code == 400, (url, response.status_code)
        assert 'id="error-detail"' in response.content.decode()
