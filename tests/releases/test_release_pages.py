"""Release pages, API and admin: roles, immutability through every door, progress, downloads, hostile text."""

import hashlib
import json

import pytest
from django.urls import reverse

from releases import services as releases
from releases.models import Release, ReleaseExport, ReleaseItem
from tests.factories import UserFactory, approved_prompt, approved_prompts

pytestmark = pytest.mark.django_db

ROLES = ["Annotator", "Maintainer", "Admin"]
ALL = set(ROLES)
MAINT = {"Maintainer", "Admin"}


@pytest.fixture
def world(taxonomy, freeze, media, hostile_strings):
    approved_prompts(6, techniques=["role_play"])
    for i, text in enumerate(s for s in hostile_strings if "\x00" not in s):
        approved_prompt(f"{text} #{i}", dimension="ethics")
    frozen = freeze(version="v251121", parent=None, holdout_fraction=0.3, title="<script>alert('xss')</script>",
                    notes="<img src=x onerror=alert(1)>")
    releases.release_export_run(release_id=frozen.pk, scope="public")
    approved_prompt("<svg onload=alert(1)> 新题目")
    draft = releases.release_create_draft(version="v251122", taxonomy="v251030")
    return {"frozen": frozen, "draft": draft}


PAGES = [
    ("releases:release_detail", "frozen", ALL),
    ("releases:release_detail", "draft", MAINT),
    ("releases:release_diff", "frozen", ALL),
    ("releases:release_diff", "draft", MAINT),
    ("releases:release_edit", "draft", MAINT),
]
APIS = [
    ("api-release-detail", "frozen", ALL),
    ("api-release-detail", "draft", MAINT),
    ("api-release-diff", "frozen", ALL),
]


def _login(client, role):
    client.force_login(UserFactory(username=f"u-{role}", role=role))


@pytest.mark.parametrize("name,which,allowed", PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_release_pages_answer_by_role(client, world, name, which, allowed, role):
    _login(client, role)
    response = client.get(reverse(name, args=[world[which].version]))
    # A draft does not exist for annotators (404); a page they may not use is 403.
    expected = 200 if role in allowed else (404 if which == "draft" and name != "releases:release_edit" else 403)
    assert response.status_code == expected


@pytest.mark.parametrize("name,which,allowed", PAGES + APIS)
def test_release_routes_need_a_login(client, world, name, which, allowed):
    response = client.get(reverse(name, args=[world[which].version]))
    if name.startswith("api-"):
        assert response.status_code == 401
    else:
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name,which,allowed", APIS)
@pytest.mark.parametrize("role", ROLES)
def test_release_apis_answer_by_role(client, world, name, which, allowed, role):
    _login(client, role)
    response = client.get(reverse(name, args=[world[which].version]))
    assert response.status_code == (200 if role in allowed else 404)


@pytest.mark.parametrize(
    "url_name,data",
    [("releases:release_freeze", {"confirm": "on"}), ("releases:release_delete", {"confirm": "on"}),
     ("releases:release_retire", {"public_id": "x", "reason": "y"}), ("releases:release_export_prepare", {"scope": "full"})],
)
def test_annotators_cannot_write(client, world, annotator, url_name, data):
    client.force_login(annotator)
    assert client.post(reverse(url_name, args=[world["draft"].version]), data).status_code == 403
    assert Release.objects.get(version="v251122").status == "draft"


def test_release_list_shows_drafts_to_maintainers_only(client, world, annotator, maintainer):
    client.force_login(annotator)
    page = client.get(reverse("releases:release_list")).content.decode()
    assert "v251121" in page and "v251122" not in page
    assert client.get(reverse("api-releases")).json()["count"] == 1
    client.force_login(maintainer)
    page = client.get(reverse("releases:release_list")).content.decode()
    assert "v251122" in page
    assert client.get(reverse("api-releases")).json()["count"] == 2


def test_hostile_strings_render_escaped(client, world, maintainer, hostile_strings):
    client.force_login(maintainer)
    pages = [
        client.get(reverse("releases:release_detail", args=["v251121"])).content.decode(),
        client.get(reverse("releases:release_list")).content.decode(),
    ]
    for kind in ("added", "carried"):
        pages.append(client.get(reverse("releases:release_diff", args=["v251121"]) + f"?kind={kind}&dimension=ethics").content.decode())
        pages.append(client.get(reverse("releases:release_diff", args=["v251122"]) + f"?kind={kind}").content.decode())
    text = "".join(pages)
    assert "<script>alert('xss')</script>" not in text
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in text
    assert "<img src=x onerror=alert(1)>" not in text and "<svg onload=alert(1)>" not in text
    assert '<div hx-get="/api/releases/"' not in text
    assert "&lt;div hx-get=&quot;/api/releases/&quot;" in text
    assert "{{ request.user.password }}" in text  # shown as text, never evaluated


def test_detail_page_has_chart_data_digest_diff_and_downloads(client, world, annotator, maintainer):
    frozen = world["frozen"]
    client.force_login(annotator)
    page = client.get(reverse("releases:release_detail", args=[frozen.version])).content.decode()
    assert frozen.digest in page and 'id="release-chart-data"' in page and "chart-4.6.1.umd.min.js" in page
    assert reverse("releases:release_download", args=[frozen.version, "public", "jsonl"]) in page
    assert "/download/full/" not in page
    data = json.loads(page.split('id="release-chart-data" type="application/json">')[1].split("</script>")[0])
    assert sum(data["public"]) == frozen.public_count and sum(data["holdout"]) == frozen.item_count - frozen.public_count
    client.force_login(maintainer)
    page = client.get(reverse("releases:release_detail", args=[frozen.version])).content.decode()
    assert 'name="scope" value="full"' in page


def test_downloads_public_for_all_full_for_maintainers(client, world, annotator, maintainer, django_capture_on_commit_callbacks):
    frozen = world["frozen"]
    client.force_login(annotator)
    response = client.get(reverse("releases:release_download", args=[frozen.version, "public", "jsonl"]))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and response["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert len(body.splitlines()) == frozen.public_count
    assert client.get(reverse("releases:release_download", args=[frozen.version, "full", "jsonl"])).status_code == 403
    assert client.get(reverse("api-release-export", args=[frozen.version]) + "?format=zip&scope=full").status_code == 403
    client.force_login(maintainer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("releases:release_export_prepare", args=[frozen.version]), {"scope": "full"})
    assert response.status_code == 302
    response = client.get(reverse("releases:release_download", args=[frozen.version, "full", "jsonl"]))
    assert len(b"".join(response.streaming_content).splitlines()) == frozen.item_count


def test_export_api_serves_files_or_reports_progress(client, world, maintainer, django_capture_on_commit_callbacks):
    frozen = world["frozen"]
    client.force_login(maintainer)
    url = reverse("api-release-export", args=[frozen.version])
    assert client.get(url + "?format=xml").status_code == 400
    response = client.get(url + "?format=csv")
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"\xef\xbb\xbf")
    # Without an (eager) worker, a missing export is queued and the API answers 202 with its progress.
    from config.celery import app

    app.conf.task_always_eager = False
    try:
        from unittest import mock

        with mock.patch("releases.tasks.release_export_task.delay") as delay, django_capture_on_commit_callbacks(execute=True):
            response = client.get(url + "?format=parquet&scope=full")
            assert response.status_code == 202 and response.json()["status"] == "pending"
            assert client.get(url + "?format=parquet&scope=full").status_code == 202
        delay.assert_called_once()
    finally:
        app.conf.task_always_eager = True
    assert client.get(reverse("api-release-export", args=["v251122"]) + "?format=jsonl").status_code == 409


def test_api_refuses_to_change_a_frozen_release(client, world, maintainer):
    frozen = world["frozen"]
    client.force_login(maintainer)
    url = reverse("api-release-detail", args=[frozen.version])
    assert client.patch(url, {"title": "改"}, content_type="application/json").status_code == 409
    assert client.put(url, {"title": "改"}, content_type="application/json").status_code == 409
    assert client.delete(url).status_code == 409
    assert client.post(reverse("api-release-freeze", args=[frozen.version])).status_code == 409
    item = frozen.items.first()
    response = client.post(reverse("api-release-retire", args=[frozen.version]),
                           {"public_ids": [item.public_id], "reason": "x"}, content_type="application/json")
    assert response.status_code == 409
    fresh = Release.objects.get(pk=frozen.pk)
    assert fresh.title == frozen.title and fresh.items.count() == frozen.item_count
    assert releases.release_verify(version=frozen.version).ok


def test_api_drafts_freezes_and_diffs(client, world, maintainer, annotator, django_capture_on_commit_callbacks):
    client.force_login(annotator)
    assert client.post(reverse("api-releases"), {}, content_type="application/json").status_code == 403
    client.force_login(maintainer)
    response = client.post(reverse("api-releases"), {"version": "v251123", "taxonomy": "v251030", "holdout_fraction": 0.1,
                                                     "filters": {"dimensions": ["legality"], "min_agreement": 0.5}},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["parent"] == "v251121" and body["status"] == "draft" and body["filters"]["dimensions"] == ["legality"]
    bad = client.post(reverse("api-releases"), {"version": "v251123"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["detail"] == "版本 v251123 已存在；下一个可用的版本号是 v251123-2"
    english = client.post(reverse("api-releases"), {"version": "v251123"}, content_type="application/json",
                          HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "release v251123 exists already; the next free one is v251123-2"
    assert client.post(reverse("api-releases"), {"title": "a\x00b"}, content_type="application/json").status_code == 400
    frozen = world["frozen"]
    retired = frozen.items.filter(dimension_code="legality").first()
    response = client.post(reverse("api-release-retire", args=["v251123"]),
                           {"public_ids": [retired.public_id], "reason": "过时"}, content_type="application/json")
    assert response.json() == {"retired": 1}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("api-release-freeze", args=["v251123"]))
    assert response.status_code == 202
    release = Release.objects.get(version="v251123")
    assert release.is_frozen  # eager worker in tests
    diff = client.get(reverse("api-release-diff", args=["v251123"])).json()
    assert diff["parent"] == "v251121" and diff["by_dimension"]["legality"]["retired"] == 1
    listed = client.get(reverse("api-release-diff", args=["v251123"]) + "?kind=retired").json()
    assert listed["items"][0]["public_id"] == retired.public_id and listed["items"][0]["reason"] == "过时"
    added = client.get(reverse("api-release-diff", args=["v251123"]) + "?kind=added").json()
    assert {i["public_id"] for i in added["items"]} == set(release.items.filter(origin="added").values_list("public_id", flat=True))
    client.force_login(annotator)
    carried = client.get(reverse("api-release-diff", args=["v251123"]) + "?kind=carried").json()
    assert all("holdout" not in i for i in carried["items"])
    assert len(carried["items"]) == release.items.filter(origin="carried", is_holdout=False).count()


def test_draft_page_freezes_with_progress_and_retires_with_reason(client, world, maintainer, django_capture_on_commit_callbacks):
    draft, frozen = world["draft"], world["frozen"]
    client.force_login(maintainer)
    item = frozen.items.filter(is_holdout=False).first()
    response = client.post(reverse("releases:release_retire", args=[draft.version]), {"public_id": item.public_id, "reason": ""})
    assert response.status_code == 302 and draft.retirements.count() == 0
    client.post(reverse("releases:release_retire", args=[draft.version]), {"public_id": item.public_id, "reason": "题目过时"})
    assert draft.retirements.get().reason == "题目过时"
    page = client.get(reverse("releases:release_diff", args=[draft.version]) + "?kind=retired").content.decode()
    assert "题目过时" in page and item.public_id in page
    # While freezing, the page polls a progress fragment; when done, the fragment asks for a reload.
    Release.objects.filter(pk=draft.pk).update(status="freezing", progress_done=3, progress_total=9)
    page = client.get(reverse("releases:release_detail", args=[draft.version])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "3 / 9" in page
    fragment = client.get(reverse("releases:release_progress", args=[draft.version]), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode() and "3 / 9" in fragment.content.decode()
    Release.objects.filter(pk=draft.pk).update(status="draft")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("releases:release_freeze", args=[draft.version]), {"confirm": "on"})
    draft.refresh_from_db()
    assert draft.is_frozen and draft.retirements.count() == 1
    fragment = client.get(reverse("releases:release_progress", args=[draft.version]), HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true"


def test_create_and_edit_draft_pages(client, world, maintainer):
    client.force_login(maintainer)
    page = client.get(reverse("releases:release_create")).content.decode()
    assert 'name="version"' in page and releases.release_next_version() in page
    response = client.post(reverse("releases:release_create"), {
        "version": "v251124", "title": "周度", "taxonomy": "v251030", "parent": "none", "holdout_fraction": "0.2",
        "include_new": "on", "dimensions": ["legality"], "min_agreement": "0.4",
    })
    assert response.status_code == 302
    release = Release.objects.get(version="v251124")
    assert release.parent is None and release.filters["dimensions"] == ["legality"] and release.holdout_fraction == 0.2
    response = client.post(reverse("releases:release_create"), {"version": "v251124", "taxonomy": "v251030",
                                                                "parent": "latest", "holdout_fraction": "0"})
    assert response.status_code == 400 and "v251124" in response.content.decode()  # exists: error shown, nothing new
    response = client.post(reverse("releases:release_edit", args=["v251124"]), {
        "title": "改名", "parent": "v251121", "holdout_fraction": "0.1", "include_new": "on",
    })
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.title == "改名" and release.parent.version == "v251121"
    assert client.get(reverse("releases:release_edit", args=["v251121"])).status_code == 403
    client.post(reverse("releases:release_delete", args=["v251124"]), {"confirm": "on"})
    assert not Release.objects.filter(version="v251124").exists()


def test_admin_is_read_only_for_releases(client, world, admin):
    frozen = world["frozen"]
    item = frozen.items.first()
    client.force_login(admin)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    assert client.get(reverse("admin:releases_releaseitem_change", args=[item.pk])).status_code == 200
    response = client.post(reverse("admin:releases_releaseitem_change", args=[item.pk]), {"text": "篡改"})
    assert response.status_code == 403
    assert client.post(reverse("admin:releases_releaseitem_delete", args=[item.pk]), {"post": "yes"}).status_code == 403
    assert client.post(reverse("admin:releases_release_change", args=[frozen.pk]), {"title": "x"}).status_code == 403
    assert client.post(reverse("admin:releases_release_delete", args=[frozen.pk]), {"post": "yes"}).status_code == 403
    response = client.post(reverse("admin:releases_releaseitem_changelist"),
                           {"action": "delete_selected", "_selected_action": [item.pk], "post": "yes"})
    assert ReleaseItem.objects.filter(pk=item.pk, text=item.text).exists()
    assert ReleaseExport.objects.filter(release=frozen).count() == len(releases.EXPORT_FORMATS)
    assert releases.release_verify(version=frozen.version).ok


def test_release_pages_have_no_inline_event_handlers(client, world, maintainer):
    """Scripts come from static files and htmx attributes; the diff page's dimension select used an onchange."""
    import re

    client.force_login(maintainer)
    draft, frozen = world["draft"].version, world["frozen"].version
    urls = [reverse("releases:release_list"), reverse("releases:release_create"),
            reverse("releases:release_edit", args=[draft]), reverse("releases:release_freeze", args=[draft]),
            reverse("releases:release_delete", args=[draft])]
    for version in (draft, frozen):
        urls += [reverse("releases:release_detail", args=[version]), reverse("releases:release_diff", args=[version])]
    for url in urls:
        page = client.get(url).content.decode()
        assert not re.search(r"<[a-z]+\b[^>]*\son[a-z]+=", page), url
    diff = client.get(reverse("releases:release_diff", args=[frozen])).content.decode()
    assert 'hx-trigger="change"' in diff and "<noscript><button" in diff


def test_release_refusals_read_in_the_page_language(client, taxonomy, maintainer, media):
    approved_prompts(2, dimension="legality")
    draft = releases.release_create_draft(version="v251201", taxonomy="v251215")
    client.force_login(maintainer)
    url = reverse("releases:release_freeze", args=[draft.version])
    page = client.get(url).content.decode()
    assert "没有已通过的题目符合此版本：2 道已通过的题目在分类体系 v251030中，而不在 v251215 中" in page
    assert "approved" not in page.split('id="empty-reason"')[1].split("</div>")[0]
    client.cookies["django_language"] = "en"
    page = client.get(url).content.decode()
    assert "no approved prompt matches this release: the 2 approved prompts are in taxonomy v251030, not v251215" in page


def test_the_release_chart_names_dimensions_in_the_page_language(client, world, annotator):
    frozen = world["frozen"]
    client.force_login(annotator)
    url = reverse("releases:release_detail", args=[frozen.version])

    def chart() -> dict:
        page = client.get(url).content.decode()
        return json.loads(page.split('id="release-chart-data" type="application/json">')[1].split("</script>")[0])

    chinese = chart()
    assert "合法性" in chinese["labels"] and "伦理性" in chinese["labels"] and "Legality" not in chinese["labels"]
    assert (chinese["public_label"], chinese["holdout_label"]) == ("公开", "保留集")
    client.cookies["django_language"] = "en"
    english = chart()
    assert "Legality" in english["labels"] and "Ethics" in english["labels"] and "合法性" not in english["labels"]
    assert (english["public_label"], english["holdout_label"]) == ("Public", "Hold-out")
    taxonomy = frozen.taxonomy
    assert f"{taxonomy.code} · {taxonomy.name_en}" in client.get(url).content.decode()
    client.cookies["django_language"] = "zh-hans"
    assert f"{taxonomy.code} · {taxonomy.name_zh}" in client.get(url).content.decode()
