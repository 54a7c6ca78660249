"""The zh-hans catalogue covers every UI string, and the UI switches language."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["accounts", "config", "curation", "annotation", "llm", "evaluation", "templates", "locale", "manage.py"]


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
