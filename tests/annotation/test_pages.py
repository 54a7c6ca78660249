"""The pages: queue list, keyboard-first review with htmx, heartbeat, skip, late submits, My work,
revisions, queue management, adjudication side by side, reopening; hostile text stays escaped."""

import re

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from annotation.models import Annotation, Claim, Lease, QueueItem, ReviewQueue
from curation.models import Prompt, Taxonomy
from tests.annotation.conftest import expire
from tests.factories import PromptFactory, make_items, make_queue

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def start(client, queue, **extra):
    return client.post(reverse("annotation:next", args=[queue.pk]), **extra)


def test_queue_list_and_start_page(taxonomy, annotators, client):
    queue = make_queue(name="今日队列", guidelines="## 要点\n\n<script>alert('g')</script>按 **A** 接受")
    make_items(2)
    client.force_login(annotators[0])
    page = client.get(reverse("annotation:queue_list")).content.decode()
    assert "今日队列" in page and reverse("annotation:review", args=[queue.pk]) in page
    page = client.get(reverse("annotation:review", args=[queue.pk])).content.decode()
    assert "<h2>要点</h2>" in page and "<strong>A</strong>" in page
    assert "alert('g')" not in page  # guidelines are sanitised, not just escaped
    assert "<kbd>A</kbd>" in page and "<kbd>S</kbd>" in page


def test_next_without_htmx_redirects_to_the_claim_page(taxonomy, annotators, client):
    queue = make_queue()
    (item,) = make_items(1)
    client.force_login(annotators[0])
    response = start(client, queue)
    claim = Claim.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("annotation:claim", args=[claim.pk])
    page = client.get(response["Location"]).content.decode()
    assert escape(item.prompt.text) in page
    assert 'hx-trigger="every 60s"' in page and reverse("annotation:heartbeat", args=[claim.pk]) in page
    for key in "AERS":
        assert f"<kbd>{key}</kbd>" in page


def test_submit_with_htmx_loads_the_next_item_without_a_full_page(taxonomy, annotators, client):
    queue = make_queue(n=1)
    first, second = make_items(2)
    client.force_login(annotators[0])
    response = start(client, queue, **HX)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    claim = Claim.objects.get()
    response = client.post(
        reverse("annotation:submit", args=[claim.pk]),
        {"decision": "accept", "dimension": first.prompt.dimension_id, "severity": "3", "seconds_spent": "4.2"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="review-item"' in body and escape(second.prompt.text) in body
    nxt = Claim.objects.latest("id")
    assert nxt.item_id == second.pk and response["HX-Push-Url"] == reverse("annotation:claim", args=[nxt.pk])
    ann = Annotation.objects.get()
    assert ann.severity == 3 and 0 < ann.seconds_spent <= 4.2
    first.refresh_from_db()
    assert first.state == "decided"
    # The last submit shows the end of the queue, still as a fragment.
    done = client.post(reverse("annotation:submit", args=[nxt.pk]),
                       {"decision": "reject", "reject_reason": "unclear", "dimension": second.prompt.dimension_id}, **HX)
    assert "<html" not in done.content.decode() and response.status_code == 200
    assert done["HX-Push-Url"] == reverse("annotation:review", args=[queue.pk])


def test_invalid_submit_reopens_the_panel_with_the_error(taxonomy, annotators, client):
    queue = make_queue()
    (item,) = make_items(1)
    client.force_login(annotators[0])
    start(client, queue)
    claim = Claim.objects.get()
    response = client.post(reverse("annotation:submit", args=[claim.pk]),
                           {"decision": "reject", "dimension": item.prompt.dimension_id, "note": "说明"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and 'data-mode="reject"' in body and "errors" in body
    assert "说明" in body  # what was typed is kept
    assert not Annotation.objects.exists()
    plain = client.post(reverse("annotation:submit", args=[claim.pk]), {"decision": "edit", "final_text": "坏\x00字",
                                                                         "dimension": item.prompt.dimension_id})
    assert plain.status_code == 400 and "\\u0000" in plain.content.decode()


def test_skip_through_the_page(taxonomy, annotators, client):
    queue = make_queue()
    first, second = make_items(2)
    client.force_login(annotators[0])
    start(client, queue)
    claim = Claim.objects.get()
    response = client.post(reverse("annotation:skip", args=[claim.pk]), **HX)
    assert escape(second.prompt.text) in response.content.decode()
    assert Lease.objects.get(item=first).state == "skipped"
    page = client.get(reverse("annotation:my_work")).content.decode()
    assert reverse("annotation:unskip", args=[first.pk]) in page
    client.post(reverse("annotation:unskip", args=[first.pk]))
    assert not Lease.objects.filter(item=first).exists()


def test_heartbeat_fragment_reports_a_live_or_lost_lease(taxonomy, annotators, client):
    queue = make_queue(n=1)
    make_items(1)
    a, b = annotators[:2]
    client.force_login(a)
    start(client, queue)
    claim = Claim.objects.get()
    beat = client.post(reverse("annotation:heartbeat", args=[claim.pk]), **HX).content.decode()
    assert 'id="lease-status"' in beat and "lease-live" in beat
    expire(claim)
    client.force_login(b)
    start(client, queue)
    client.force_login(a)
    beat = client.post(reverse("annotation:heartbeat", args=[claim.pk]), **HX).content.decode()
    assert "lease-lost" in beat and "hx-trigger" not in beat  # stops polling


def test_a_late_submit_through_the_page_tells_the_annotator_it_was_surplus(taxonomy, annotators, client):
    queue = make_queue(n=1)
    (item,) = make_items(1)
    a, b = annotators[:2]
    client.force_login(a)
    start(client, queue)
    a_claim = Claim.objects.get()
    expire(a_claim)
    client.force_login(b)
    start(client, queue)
    client.force_login(a)
    page = client.get(reverse("annotation:claim", args=[a_claim.pk])).content.decode()
    assert "lease-lost" in page
    response = client.post(reverse("annotation:submit", args=[a_claim.pk]),
                           {"decision": "accept", "dimension": item.prompt.dimension_id}, **HX)
    body = response.content.decode()
    assert "msg-warning" in body
    assert Annotation.objects.get(annotator=a).is_surplus


def test_my_work_and_revising_until_decided(taxonomy, annotators, client):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    a, b = annotators[:2]
    client.force_login(a)
    start(client, queue)
    claim = Claim.objects.get()
    client.post(reverse("annotation:submit", args=[claim.pk]),
                {"decision": "accept", "dimension": item.prompt.dimension_id, "seconds_spent": "65"})
    ann = Annotation.objects.get()
    page = client.get(reverse("annotation:my_work")).content.decode()
    assert reverse("annotation:revise", args=[ann.pk]) in page
    form = client.get(reverse("annotation:revise", args=[ann.pk])).content.decode()
    assert escape(item.prompt.text) in form
    response = client.post(reverse("annotation:revise", args=[ann.pk]),
                           {"decision": "edit", "final_text": "修订后的问题？", "dimension": item.prompt.dimension_id})
    assert response.status_code == 302
    ann.refresh_from_db()
    assert ann.decision == "edit" and ann.final_text == "修订后的问题？" and ann.revisions == 1
    # Another annotator's annotation is not theirs to revise.
    client.force_login(b)
    assert client.get(reverse("annotation:revise", args=[ann.pk])).status_code == 404
    start(client, queue)
    b_claim = Claim.objects.get(annotator=b)
    client.post(reverse("annotation:submit", args=[b_claim.pk]),
                {"decision": "edit", "final_text": "修订后的问题？", "dimension": item.prompt.dimension_id})
    item.refresh_from_db()
    assert item.state == "decided"
    client.force_login(a)
    page = client.get(reverse("annotation:my_work")).content.decode()
    assert reverse("annotation:revise", args=[ann.pk]) not in page
    refused = client.post(reverse("annotation:revise", args=[ann.pk]), {"decision": "accept", "dimension": item.prompt.dimension_id})
    assert refused.status_code == 302
    ann.refresh_from_db()
    assert ann.decision == "edit"


def test_queue_management_pages(taxonomy, maintainer, annotators, client, django_capture_on_commit_callbacks):
    client.force_login(maintainer)
    assert client.get(reverse("annotation:queue_create")).status_code == 200
    PromptFactory.create_batch(2)
    tax = Taxonomy.objects.get(code="v251030")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("annotation:queue_create"), {
            "name": "新队列", "taxonomy": tax.pk, "annotators_per_item": 2, "lease_minutes": 15,
            "consensus_rule": "majority_labels", "guidelines": "# 指南", "members": [annotators[0].pk], "is_active": "on",
        })
    queue = ReviewQueue.objects.get(name="新队列")
    assert response.status_code == 302
    assert queue.items.count() == 2 and list(queue.members.all()) == [annotators[0]]
    detail = client.get(reverse("annotation:queue_detail", args=[queue.pk])).content.decode()
    assert "新队列" in detail and "ann1" in detail
    response = client.post(reverse("annotation:queue_edit", args=[queue.pk]), {
        "name": "新队列", "taxonomy": tax.pk, "annotators_per_item": 3, "lease_minutes": 15,
        "consensus_rule": "unanimous", "guidelines": "", "members": [], "is_active": "on",
    })
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.annotators_per_item == 3 and not queue.members.exists()
    bad = client.post(reverse("annotation:queue_edit", args=[queue.pk]), {
        "name": "", "taxonomy": tax.pk, "annotators_per_item": 0, "lease_minutes": 15, "consensus_rule": "unanimous",
    })
    assert bad.status_code == 400 and "errorlist" in bad.content.decode()


def _disagree(queue, annotators, client, texts):
    for user, text in zip(annotators, texts, strict=True):
        client.force_login(user)
        start(client, queue)
        claim = Claim.objects.filter(annotator=user).latest("id")
        item = claim.item
        data = {"decision": "edit", "final_text": text, "dimension": item.prompt.dimension_id}
        client.post(reverse("annotation:submit", args=[claim.pk]), data)


def test_adjudication_pages_show_annotations_side_by_side_and_decide(taxonomy, annotators, maintainer, client):
    queue = make_queue(n=2)
    (item,) = make_items(1, text="请告诉我怎样制作假证件？")
    _disagree(queue, annotators[:2], client, ["请告诉我怎样制作假的证件？", "怎样制作假证件"])
    client.force_login(maintainer)
    listing = client.get(reverse("annotation:adjudication_list")).content.decode()
    assert reverse("annotation:adjudication_detail", args=[item.pk]) in listing
    page = client.get(reverse("annotation:adjudication_detail", args=[item.pk])).content.decode()
    assert "ann1" in page and "ann2" in page
    assert "<ins>的</ins>" in page and "<del>请告诉我</del>" in page
    pick = Annotation.objects.get(annotator=annotators[1])
    fragment = client.get(reverse("annotation:adjudication_detail", args=[item.pk]) + f"?pick={pick.pk}", **HX)
    body = fragment.content.decode()
    assert "<html" not in body and 'id="decide-form"' in body and ">\n怎样制作假证件</textarea>" in body
    missing_reason = client.post(reverse("annotation:adjudication_detail", args=[item.pk]),
                                 {"decision": "approved", "final_text": "怎样制作假证件", "dimension": item.prompt.dimension_id})
    assert missing_reason.status_code == 400
    response = client.post(reverse("annotation:adjudication_detail", args=[item.pk]), {
        "decision": "approved", "final_text": "怎样制作假证件？", "dimension": item.prompt.dimension_id,
        "severity": "4", "reason": "第二种更自然",
    })
    assert response.status_code == 302
    prompt = Prompt.objects.get(pk=item.prompt_id)
    assert prompt.status == "approved" and prompt.text == "怎样制作假证件？" and prompt.severity == 4
    page = client.get(reverse("annotation:adjudication_detail", args=[item.pk])).content.decode()
    assert "第二种更自然" in page and reverse("annotation:reopen", args=[item.pk]) in page
    client.post(reverse("annotation:reopen", args=[item.pk]), {"reason": "需要复核"})
    assert QueueItem.objects.get(pk=item.pk).state == "adjudication"
    assert Prompt.objects.get(pk=item.prompt_id).status == "in_review"


def test_hostile_prompts_render_escaped_on_the_review_and_adjudication_pages(taxonomy, annotators, maintainer, client, hostile_strings):
    storable = [s for s in hostile_strings if "\x00" not in s]
    queue = make_queue(n=2)
    items = [make_items(1, text=s, normalized_hash=f"hostile-{i}")[0] for i, s in enumerate(storable)]
    a, b = annotators[:2]
    for text, item in zip(storable, items, strict=True):
        client.force_login(a)
        claim_page = client.get(client.post(reverse("annotation:next", args=[queue.pk]))["Location"]).content.decode()
        assert escape(text) in claim_page
        if "<" in text:
            assert text not in claim_page
        claim = Claim.objects.filter(annotator=a).latest("id")
        assert claim.item_id == item.pk
        client.post(reverse("annotation:submit", args=[claim.pk]),
                    {"decision": "edit", "final_text": text + "<b>改</b>", "dimension": item.prompt.dimension_id})
        client.force_login(b)
        client.post(reverse("annotation:next", args=[queue.pk]))
        b_claim = Claim.objects.filter(annotator=b).latest("id")
        client.post(reverse("annotation:submit", args=[b_claim.pk]), {"decision": "reject", "reject_reason": "other",
                                                                      "note": text, "dimension": item.prompt.dimension_id})
    assert Prompt.objects.get(pk=items[0].prompt_id).text == storable[0]  # stored intact
    client.force_login(maintainer)
    for text, item in zip(storable, items, strict=True):
        assert QueueItem.objects.get(pk=item.pk).state == "adjudication"
        page = client.get(reverse("annotation:adjudication_detail", args=[item.pk])).content.decode()
        assert escape(text) in page
        assert "<b>改</b>" not in page and "&lt;b&gt;改&lt;/b&gt;" in page
        if "<" in text:
            assert text not in page
    assert "<script>alert('xss')</script>" not in client.get(reverse("annotation:adjudication_list")).content.decode()
    client.force_login(a)
    work = client.get(reverse("annotation:my_work")).content.decode()
    assert "<script>alert('xss')</script>" not in work and "&lt;script&gt;" in work


def test_the_near_duplicate_flag_links_to_its_twin(taxonomy, annotators, client):
    queue = make_queue()
    twin = PromptFactory(text="<b>孪生</b>题目：如何伪造公章？", status="approved")
    (item,) = make_items(1, near_duplicate_of=twin, near_duplicate_score=0.91)
    a, b = annotators[:2]
    client.force_login(a)
    start(client, queue)
    claim = Claim.objects.get()
    page = client.get(reverse("annotation:claim", args=[claim.pk])).content.decode()
    assert reverse("annotation:twin", args=[claim.pk]) in page and "0.91" in page
    fragment = client.get(reverse("annotation:twin", args=[claim.pk]), **HX).content.decode()
    assert "&lt;b&gt;孪生&lt;/b&gt;" in fragment and "<b>孪生</b>" not in fragment
    assert client.get(reverse("annotation:twin", args=[claim.pk])).status_code == 200
    client.force_login(b)
    assert client.get(reverse("annotation:twin", args=[claim.pk])).status_code == 404
    assert item.prompt.near_duplicate_of_id == twin.pk


def _progress(body: str) -> tuple[str, str]:
    """(left, done today) as the review page shows them."""
    left = re.search(r"<span data-left>[^<]*?(\d+\+?)</span>", body)
    today = re.search(r"<span data-today>[^<]*?(\d+)</span>", body)
    assert left and today, body
    return left.group(1), today.group(1)


def test_the_review_form_says_which_item_it_shows_and_a_decision_on_another_is_refused(taxonomy, annotators, client, settings):
    settings.REVIEW_KEY_GUARD_MS = 750
    queue = make_queue(n=1)
    first, second = make_items(2)
    client.force_login(annotators[0])
    start(client, queue)
    claim = Claim.objects.get()
    page = client.get(reverse("annotation:claim", args=[claim.pk])).content.decode()
    assert f'<input type="hidden" name="shown_prompt" value="{first.prompt_id}">' in page
    assert 'data-key-guard-ms="750"' in page and f'data-shown-prompt="{first.prompt_id}"' in page
    data = {"decision": "accept", "dimension": first.prompt.dimension_id, "shown_prompt": second.prompt_id}
    plain = client.post(reverse("annotation:submit", args=[claim.pk]), data, HTTP_ACCEPT_LANGUAGE="en")
    fragment = client.post(reverse("annotation:submit", args=[claim.pk]), data, HTTP_ACCEPT_LANGUAGE="en", **HX)
    for response, status in ((plain, 409), (fragment, 200)):
        body = response.content.decode()
        assert response.status_code == status
        assert "msg-error" in body and f"prompt #{second.prompt_id}" in body and "Nothing was saved" in body
        assert escape(first.prompt.text) in body  # the item held, shown again to decide on
    assert not Annotation.objects.exists()
    ok = client.post(reverse("annotation:submit", args=[claim.pk]), {**data, "shown_prompt": first.prompt_id}, **HX)
    assert escape(second.prompt.text) in ok.content.decode()
    assert list(Annotation.objects.values_list("prompt_id", flat=True)) == [first.prompt_id]


def test_the_review_page_shows_what_is_left_for_me_and_what_i_did_today(taxonomy, annotators, client):
    from django.utils import timezone

    queue = make_queue(n=1)
    items = make_items(4)
    a, b = annotators[:2]
    client.force_login(a)
    assert _progress(client.get(reverse("annotation:review", args=[queue.pk])).content.decode()) == ("4", "0")
    start(client, queue, **HX)
    claim = Claim.objects.get(annotator=a)
    body = client.post(reverse("annotation:submit", args=[claim.pk]),
                       {"decision": "accept", "dimension": items[0].prompt.dimension_id}, **HX).content.decode()
    assert _progress(body) == ("3", "1")  # the item now shown is one of the three
    claim = Claim.objects.filter(annotator=a).latest("id")
    body = client.post(reverse("annotation:skip", args=[claim.pk]), **HX).content.decode()
    assert _progress(body) == ("2", "1")  # skipped: no longer left for me, not done either
    # Another annotator reviews the one I skipped and the last one, which then needs no one else (N=1).
    client.force_login(b)
    for _ in range(2):
        start(client, queue)
        b_claim = Claim.objects.filter(annotator=b).latest("id")
        client.post(reverse("annotation:submit", args=[b_claim.pk]),
                    {"decision": "accept", "dimension": items[0].prompt.dimension_id})
    assert set(Annotation.objects.filter(annotator=b).values_list("prompt_id", flat=True)) == {
        items[1].prompt_id, items[3].prompt_id}
    # What was done before local midnight is not today's.
    Annotation.objects.filter(annotator=a).update(submitted_at=timezone.now() - timezone.timedelta(days=1))
    client.force_login(a)
    claim = Claim.objects.filter(annotator=a).latest("id")
    assert _progress(client.get(reverse("annotation:claim", args=[claim.pk])).content.decode()) == ("1", "0")


def test_the_left_count_stops_at_its_limit(taxonomy, annotators, client, monkeypatch):
    from annotation import selectors

    monkeypatch.setattr(selectors, "PROGRESS_COUNT_LIMIT", 3)
    queue = make_queue(n=1)
    make_items(5)
    client.force_login(annotators[0])
    assert _progress(client.get(reverse("annotation:review", args=[queue.pk])).content.decode()) == ("3+", "0")


def test_requested_techniques_are_offered_unchecked_and_marked_until_someone_checks_them(taxonomy, annotators, client):
    from curation.models import Technique

    role_play, hypothetical, debate = (Technique.objects.get(code=c) for c in ("role_play", "hypothetical", "debate"))
    queue = make_queue(n=1)
    (item,) = make_items(1, provenance={"kind": "generation", "techniques_requested": ["hypothetical", "debate"]})
    item.prompt.techniques.set([debate])  # confirmed already: a label, not a request
    client.force_login(annotators[0])
    start(client, queue)
    claim = Claim.objects.get()
    page = client.get(reverse("annotation:claim", args=[claim.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    boxes = {int(pk): bool(flag) for flag, pk in re.findall(
        r'<label class="choice( requested)?"><input type="checkbox" name="techniques" value="(\d+)"', page)}
    assert boxes[hypothetical.pk] and not boxes[debate.pk] and not boxes[role_play.pk]
    checked = set(map(int, re.findall(r'name="techniques" value="(\d+)" checked', page)))
    assert checked == {debate.pk}
    assert page.count(">requested</span>") == 1 and "Hypothetical scenario · requested" in page
    # Checking the requested one makes it a label through the usual submit; the prompt is decided with it.
    client.post(reverse("annotation:submit", args=[claim.pk]), {
        "decision": "accept", "dimension": item.prompt.dimension_id, "techniques": [hypothetical.pk, debate.pk],
        "shown_prompt": item.prompt_id,
    })
    prompt = Prompt.objects.get(pk=item.prompt_id)
    assert prompt.status == "approved"
    assert set(prompt.techniques.values_list("code", flat=True)) == {"hypothetical", "debate"}


def _header_texts(page: str) -> list[list[str]]:
    return [
        [re.sub(r"<[^>]+>", "", th).strip() for th in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
        for head in re.findall(r"<thead>(.*?)</thead>", page, re.S)
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_my_work_has_distinct_column_headers_and_shows_why_i_rejected(taxonomy, annotators, client, language):
    queue = make_queue(n=1)
    first, second = make_items(2)
    a = annotators[0]
    client.force_login(a)
    start(client, queue)
    claim = Claim.objects.get()
    client.post(reverse("annotation:submit", args=[claim.pk]),
                {"decision": "reject", "reject_reason": "other", "note": "<i>模板</i>化的套话", "dimension": first.prompt.dimension_id})
    start(client, queue)
    claim = Claim.objects.latest("id")
    client.post(reverse("annotation:submit", args=[claim.pk]), {"decision": "accept", "dimension": second.prompt.dimension_id})
    page = client.get(reverse("annotation:my_work"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    with translation.override(language):
        other = str(Annotation.RejectReason.OTHER.label)
    assert f'<html lang="{language}">' in page
    for headers in _header_texts(page):
        named = [h for h in headers if h]
        assert len(named) == len(set(named)), headers
    cells = re.findall(r"<td data-reject-reason>(.*?)</td>", page, re.S)
    assert len(cells) == 2
    by_cell = sorted(cells, key=len)
    assert by_cell[0].strip() == "—"
    assert other in by_cell[1] and "&lt;i&gt;模板&lt;/i&gt;化的套话" in by_cell[1]


def test_the_annotator_home_lists_queues_with_work_and_continues_where_i_left_off(taxonomy, annotators, client):
    from curation.models import Dimension

    ethics = Dimension.objects.get(taxonomy__code="v251030", code="ethics")
    busy = make_queue(name="有活的队列", n=1, dimensions=["legality"])
    make_queue(name="空队列", n=1, dimensions=["ethics"])
    closed = make_queue(name="别人的队列", n=1, dimensions=["privacy"], members=[annotators[1]])
    make_items(3)
    make_items(1, dimension=Dimension.objects.get(taxonomy__code="v251030", code="privacy"))
    assert ethics.pk  # the empty queue matches no item
    a = annotators[0]
    client.force_login(a)
    home = client.get(reverse("home")).content.decode()
    assert "有活的队列" in home and "空队列" in home and closed.name not in home
    rows = re.findall(r"<tr[^>]*>\s*<td>([^<]+)</td>\s*<td data-left>([^<]+)</td>\s*<td data-today>(\d+)</td>", home)
    assert rows == [("有活的队列", "3", "0"), ("空队列", "0", "0")]  # work waiting first
    # Nothing held yet: "continue" claims the next item of the first queue with work.
    assert f'action="{reverse("annotation:next", args=[busy.pk])}"' in home
    response = client.post(reverse("annotation:next", args=[busy.pk]))
    claim = Claim.objects.get(annotator=a)
    assert response["Location"] == reverse("annotation:claim", args=[claim.pk])
    home = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("annotation:claim", args=[claim.pk])}"' in home  # back to the item held
    client.post(reverse("annotation:submit", args=[claim.pk]),
                {"decision": "accept", "dimension": claim.item.prompt.dimension_id})
    home = client.get(reverse("home")).content.decode()
    rows = re.findall(r"<tr[^>]*>\s*<td>([^<]+)</td>\s*<td data-left>([^<]+)</td>\s*<td data-today>(\d+)</td>", home)
    assert rows[0] == ("有活的队列", "2", "1")  # the item claimed after the submit (held now) and one more
