"""Text is stored exactly as given, through every door, and leaves in the exports exactly as stored.

Adversarial prompts live on Unicode tricks: a decomposed accent, CJK compatibility ideographs (which NFC maps
to other code points), zero-width and bidi controls, bare carriage returns. None of them may be changed on the
way in; only comparison keys (dedup hash, near-duplicate shingles, search) fold them.
"""

import csv
import io
import json

import pandas as pd
import pytest
from django.urls import reverse

from annotation import services as annotation_services
from annotation.models import Annotation
from curation import selectors
from curation.models import Prompt
from curation.services import prompts_import
from curation.text import normalize
from generation import services as gen
from generation.models import Event, GeneratorTemplate
from releases import services as releases
from releases.models import ReleaseExport
from tests.factories import UserFactory, make_items, make_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", role="Annotator", password=None)

TRICKS = [
    "e\u0301",
    "cafe\u0301 与 caf\u00e9",
    "\uf900\uf901\uf9dc",
    "兼容\uf900\uf901\uf9dc汉字",
    "炸\u200b弹\u200c制\u200d作\u2060\ufeff",
    "\ufeff开头的 BOM",
    "  前后的空白\t\n",
    "\u3000全角空格开头",
    "分隔符\u2028行\u2029段\x85NEL",
]


@pytest.fixture
def samples(hostile_strings) -> list[str]:
    texts = TRICKS + [s for s in hostile_strings if "\x00" not in s]
    keys = [normalize(t) for t in texts]
    assert all(keys) and len(set(keys)) == len(keys)  # each one a prompt of its own, none a duplicate
    return texts


def _item(n: int, text: str) -> dict:
    return {
        "question_id": f"t-{n}", "version": "v251030", "dimension": "factuality", "sub_dimension": "",
        "question_text": text, "language": "zh", "reference_answer": [text],
        "metadata": {"type": "显性", "tags": [], "source": text},
    }


def _file(fmt: str, items: list[dict]) -> bytes:
    if fmt == "json":
        return json.dumps(items, ensure_ascii=False, indent=2).encode()
    if fmt == "jsonl":
        return "\n".join(json.dumps(i, ensure_ascii=False) for i in items).encode()
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(items[0]))
    writer.writeheader()
    for i in items:
        writer.writerow({**i, "reference_answer": json.dumps(i["reference_answer"], ensure_ascii=False),
                         "metadata": json.dumps(i["metadata"], ensure_ascii=False)})
    return out.getvalue().encode()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_import_through_the_api_stores_every_text_byte_for_byte(taxonomy, client, maintainer, samples, fmt):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(maintainer)
    content = _file(fmt, [_item(n, t) for n, t in enumerate(samples)])
    response = client.post(reverse("api-prompts-import"), {"file": SimpleUploadedFile(f"t.{fmt}", content)})
    assert response.status_code == 201 and response.json()["created"] == len(samples), response.content
    for n, text in enumerate(samples):
        prompt = Prompt.objects.get(external_id=f"t-{n}")
        assert prompt.text.encode("utf-8") == text.encode("utf-8")
        assert prompt.reference_answers == [text] and prompt.metadata["source"] == text
    listed = client.get(reverse("api-prompts"), {"page_size": 500}).json()["results"]
    assert sorted(p["text"] for p in listed) == sorted(samples)


def test_dedup_still_treats_composed_and_decomposed_text_as_the_same(taxonomy):
    prompts_import(content=_file("jsonl", [_item(1, "请问caf\u00e9怎么走")]), filename="a.jsonl")
    again = prompts_import(content=_file("jsonl", [_item(2, "请问cafe\u0301怎么走"),
                                                   _item(3, "請問\uf900怎么走")]), filename="b.jsonl")
    assert again.duplicates == [1] and again.created == 1
    assert sorted(Prompt.objects.values_list("text", flat=True)) == sorted(["请问caf\u00e9怎么走", "請問\uf900怎么走"])


def test_search_finds_a_text_whichever_form_it_was_stored_in(taxonomy):
    prompts_import(content=_file("jsonl", [_item(1, "去cafe\u0301的路"), _item(2, "去caf\u00e9馆的路")]),
                   filename="a.jsonl")
    for query in ("caf\u00e9", "cafe\u0301"):
        assert sorted(p.external_id for p in selectors.prompt_list(q=query)) == ["t-1", "t-2"]


def _claim(queue, user):
    return annotation_services.lease_claim(queue=queue, user=user)


def test_review_edits_and_notes_are_stored_byte_for_byte(taxonomy, reviewer, samples):
    queue = make_queue(n=1)
    items = make_items(len(samples))
    user = reviewer
    for text in samples:
        claim = _claim(queue, user)
        annotation_services.annotation_submit(
            claim_id=claim.pk, user=user,
            data=annotation_services.AnnotationInput(decision="edit", final_text=text, note=text),
        )
    annotations = list(Annotation.objects.all())
    assert sorted(a.final_text for a in annotations) == sorted(samples)
    assert all(a.note == a.final_text for a in annotations)
    # One annotator per item: the edit is the consensus and becomes the prompt's text, unchanged.
    assert sorted(Prompt.objects.filter(pk__in=[i.prompt_id for i in items]).values_list("text", flat=True)) == sorted(samples)


def test_review_edits_over_the_api_are_stored_byte_for_byte(taxonomy, reviewer, client, samples):
    queue = make_queue(n=1)
    make_items(len(samples))
    client.force_login(reviewer)
    for text in samples:
        claim = client.post(reverse("api-queue-next", args=[queue.pk]), content_type="application/json").json()
        response = client.post(reverse("api-claim-submit", args=[claim["id"]]),
                               {"decision": "edit", "final_text": text, "note": text},
                               content_type="application/json")
        assert response.status_code == 201, response.content
        ann = Annotation.objects.get(pk=response.json()["annotation"]["id"])
        assert (ann.final_text, ann.note) == (text, text)
        assert ann.prompt.text == text


def test_an_untouched_textarea_on_the_review_page_is_an_accept_of_the_text_as_stored(taxonomy, reviewer, client):
    text = "line1\r\nline2\rline3\n e\u0301\uf900"
    queue = make_queue(n=1)
    (item,) = make_items(1, text=text)
    client.force_login(reviewer)
    claim = _claim(queue, reviewer)
    page = client.get(reverse("annotation:claim", args=[claim.pk])).content.decode()
    assert '<textarea id="final-text" name="final_text" rows="6">\n' in page  # a leading newline survives
    # What a browser posts back for that textarea: every line break as CRLF.
    sent = "line1\r\nline2\r\nline3\r\n e\u0301\uf900"
    client.post(reverse("annotation:submit", args=[claim.pk]), {"decision": "edit", "final_text": sent,
                                                                "dimension": item.prompt.dimension_id})
    ann = Annotation.objects.get()
    assert ann.decision == "accept" and ann.final_text == text
    assert Prompt.objects.get().text == text


def test_events_keep_their_text_through_the_service_and_the_api(taxonomy, client, maintainer, samples):
    for n, text in enumerate(samples):
        title = f"事件{n}：{text}" if len(text) < 280 else f"事件{n}"
        event = gen.event_create(title=title, date="2025-11-01", summary=text, actor=maintainer)
        event.refresh_from_db()
        # A title is a short name: only its outer whitespace goes.
        assert event.summary == text and event.title == title.strip()
        gen.event_update(event=event, summary=text + "更新")
        event.refresh_from_db()
        assert event.summary == text + "更新"
    client.force_login(maintainer)
    for text in samples:
        response = client.post(reverse("api-events"), {"title": "接口事件", "date": "2025-11-02", "summary": text},
                               content_type="application/json")
        assert response.status_code == 201, response.content
        assert Event.objects.get(pk=response.json()["id"]).summary == text


def test_templates_keep_their_text_and_an_untouched_page_save_is_no_new_version(taxonomy, client, maintainer, samples):
    template = GeneratorTemplate.objects.filter(scope="dimension").order_by("pk").first()
    for text in samples:
        new = gen.template_update(template=template, body=f"请生成题目：{text}", system_text=text, actor=maintainer)
        new.refresh_from_db()
        assert (new.body, new.system_text) == (f"请生成题目：{text}", text)
    latest = gen.template_update(template=template, body="第一行\r\n第二行\r第三行 e\u0301\n", actor=maintainer)
    client.force_login(maintainer)
    url = reverse("generation:template_edit", args=[latest.pk])
    page = client.get(url)
    assert page.status_code == 200
    versions = GeneratorTemplate.objects.count()
    client.post(url, {"body": "第一行\r\n第二行\r\n第三行 e\u0301\r\n", "system_text": latest.system_text, "notes": ""})
    assert GeneratorTemplate.objects.count() == versions
    client.post(url, {"body": "改过的\r\n模板 \uf900", "system_text": latest.system_text, "notes": ""})
    assert GeneratorTemplate.objects.order_by("-pk").first().body == "改过的\n模板 \uf900"


def test_release_exports_round_trip_every_text_byte_for_byte(taxonomy, freeze, media, samples):
    prompts_import(content=_file("jsonl", [_item(n, t) for n, t in enumerate(samples)]), filename="t.jsonl",
                   status="approved")
    release = freeze(version="v251130", parent=None, holdout_fraction=0)
    releases.release_export_run(release_id=release.pk, scope="public")
    exports = {e.format: releases.export_path(e) for e in ReleaseExport.objects.filter(release=release)}
    expected = sorted(samples)

    jsonl = [json.loads(line) for line in exports["jsonl"].read_text(encoding="utf-8").split("\n") if line]
    assert sorted(r["question_text"] for r in jsonl) == expected
    assert sorted(r["reference_answer"][0] for r in jsonl) == expected

    with open(exports["csv"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["question_text"] for r in rows) == expected
    assert sorted(json.loads(r["reference_answer"])[0] for r in rows) == expected

    parquet = pd.read_parquet(exports["parquet"])
    assert sorted(parquet["question_text"]) == expected
    assert [t.encode("utf-8") for t in sorted(parquet["question_text"])] == [t.encode("utf-8") for t in expected]
