"""The zh-hans catalogue covers every UI string, and the UI switches language."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import translation

from annotation import services as review
from core.runtime_text import translate
from tests.factories import UserFactory, make_items, make_queue

PROJECT_APPS = ("accounts", "curation", "annotation", "llm", "evaluation")
ENGLISH_WORDS = ("decisions differ", "accept", "reject", "entered review queue", "adjudicated", "consensus in",
                 "candidate", "in_review", "approved")
# File-format names read the same in every language.
NAMES_NOT_TRANSLATED = {"JSONL", "CSV", "Parquet", "manifest.json", "README.md", "ZIP"}

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["accounts", "config", "core", "curation", "generation", "releases", "annotation", "llm", "evaluation", "cycles",
           "templates", "locale", "manage.py"]


@pytest.fixture(scope="module")
def extracted_catalogue(tmp_path_factory) -> polib.POFile:
    """Extract the strings of the current code into a copy of the catalogue, as `make messages` would."""
    work = tmp_path_factory.mktemp("i18n")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
        elif src.exists():
            shutil.copy(src, work / name)
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "makemessages", "-l", "zh_Hans", "--no-obsolete", "--no-wrap"],
        cwd=work, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return polib.pofile(str(work / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))


def test_every_ui_string_has_a_zh_hans_translation(extracted_catalogue):
    missing = [e.msgid for e in extracted_catalogue if not e.translated() and not e.obsolete]
    fuzzy = [e.msgid for e in extracted_catalogue if "fuzzy" in e.flags]
    assert missing == [], f"untranslated: {missing[:20]}"
    assert fuzzy == [], f"fuzzy (unchecked) translations: {fuzzy[:20]}"
    assert len(extracted_catalogue) > 100


def test_committed_mo_file_matches_the_po_file():
    po = polib.pofile(str(ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    mo = polib.mofile(str(ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"))
    translated = {e.msgid: e.msgstr or e.msgstr_plural for e in po.translated_entries()}
    compiled = {e.msgid: e.msgstr or e.msgstr_plural for e in mo if e.msgid}
    assert translated.keys() <= compiled.keys(), "run `make messages` to recompile the .mo file"


@pytest.mark.django_db
def test_chinese_is_the_default_and_english_is_one_click_away(client, maintainer):
    client.force_login(maintainer)
    page = client.get(reverse("home")).content.decode()
    assert '<html lang="zh-hans">' in page and "维护者首页" in page and "导入题目" in page
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("home")})
    assert response.status_code == 302
    page = client.get(reverse("home")).content.decode()
    assert '<html lang="en">' in page and "Maintainer home" in page and "维护者首页" not in page


def test_every_choice_label_of_the_apps_has_a_zh_hans_translation():
    po = polib.pofile(str(ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    translated = {e.msgid for e in po.translated_entries() if "fuzzy" not in e.flags}
    untranslated, checked = [], 0
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for f in model._meta.get_fields():
            for _value, label in getattr(f, "flatchoices", None) or ():
                checked += 1
                with translation.override("en"):
                    english = str(label)
                with translation.override("zh-hans"):
                    chinese = str(label)
                if chinese == english and english not in translated and english not in NAMES_NOT_TRANSLATED:
                    untranslated.append(f"{model._meta.label}.{f.name}: {english}")
    assert checked > 30
    assert untranslated == []


def test_stored_english_messages_read_in_the_viewers_language():
    stored = "consensus in “初审”: texts or labels differ: severity, techniques"
    with translation.override("zh-hans"):
        assert translate(stored) == "“初审”中的共识：文本或标签不一致：严重程度、攻击手法"
        assert translate("imported from a.jsonl directly as approved (trusted source)") == "从 a.jsonl 导入，直接通过（可信来源）"
        assert translate("imported from a.jsonl") == "从 a.jsonl 导入"
        assert translate("维护者自己写的理由") == "维护者自己写的理由"
    with translation.override("en"):
        assert translate(stored) == stored


@pytest.mark.django_db
def test_review_reasons_and_notes_built_by_the_services_show_in_chinese(client, taxonomy, maintainer):
    queue = make_queue(name="初审队列", n=2)
    (item,) = make_items(1)
    a1, a2 = (UserFactory(username=f"ann{i}", role="Annotator", password=None) for i in (1, 2))
    for user, decision in ((a1, "accept"), (a2, "reject")):
        claim = review.lease_claim(queue=queue, user=user)
        review.annotation_submit(claim_id=claim.pk, user=user, data=review.AnnotationInput(
            decision=decision, reject_reason="not_adversarial" if decision == "reject" else ""))
    item.refresh_from_db()
    assert item.state == "adjudication" and item.adjudication_note == "decisions differ (1 accept, 1 reject)"
    client.force_login(maintainer)

    page = client.get(reverse("annotation:adjudication_detail", args=[item.pk])).content.decode()
    assert "决定不一致（1 人接受，1 人拒绝）" in page and "decisions differ" not in page
    listing = client.get(reverse("annotation:adjudication_list")).content.decode()
    assert "决定不一致" in listing and "decisions differ" not in listing

    review.item_adjudicate(item_id=item.pk, actor=maintainer, decision="rejected", reason="无害，不必收录")
    page = client.get(reverse("curation:prompt_detail", args=[item.prompt_id])).content.decode()
    log = page[page.index("<tbody>", page.index('id="status-log"') if 'id="status-log"' in page else 0):]
    assert "进入审核队列“初审队列”" in log and "裁决：无害，不必收录" in log
    assert "审核中" in log or "待审核" in log
    assert not [w for w in ENGLISH_WORDS if w in log.split("</table>")[0]]

    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("curation:prompt_detail", args=[item.prompt_id])).content.decode()
    assert "entered review queue “初审队列”" in page and "adjudicated: 无害，不必收录" in page


@pytest.mark.django_db
def test_technique_names_follow_the_ui_language(client, taxonomy, maintainer):
    from curation.models import Technique
    from tests.factories import PromptFactory

    tech = Technique.objects.get(code="role_play")
    prompt = PromptFactory()
    prompt.techniques.add(tech)
    client.force_login(maintainer)
    url = reverse("curation:prompt_detail", args=[prompt.pk])
    assert tech.name_zh in client.get(url).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(url).content.decode()
    assert tech.name_en in page and f">{tech.name_zh}<" not in page
