"""A release defaults to the taxonomy its approved prompts are in; an empty release is never cut or frozen, and the
refusal says where the approved prompts are; a dimension of another taxonomy is refused everywhere; freezing and
deleting a draft ask for a tick first."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from curation.models import Prompt
from releases import services as releases
from releases.models import Release
from releases.tasks import release_freeze_task
from tests.factories import approved_prompts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(client):
    """These tests read the refusals' English wording: the pages, the API and the services all in English."""
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def pool(taxonomy, media):
    """Every approved prompt is in v251030 (the older taxonomy), as on a fresh LiveSecBench import."""
    approved_prompts(3, dimension="legality")
    approved_prompts(2, dimension="privacy")
    return 5


# --- the default taxonomy ----------------------------------------------------------------------------------------


def test_a_draft_without_a_taxonomy_uses_the_one_of_the_approved_prompts(pool):
    draft = releases.release_create_draft(version="v251201")
    assert draft.taxonomy.code == "v251030"
    assert releases.release_preview(draft).new == pool


def test_cut_release_without_taxonomy_freezes_the_approved_prompts(pool, capsys):
    call_command("cut_release", "v251201", "--parent", "none", "--freeze")
    release = Release.objects.get(version="v251201")
    assert release.is_frozen and release.taxonomy.code == "v251030" and release.item_count == pool
    assert "taxonomy v251030" in capsys.readouterr().out


def test_approved_prompts_in_two_taxonomies_make_the_maintainer_choose(pool, client, maintainer):
    approved_prompts(4, dimension="privacy", taxonomy="v251215")
    expected = "approved prompts are in several taxonomies: v251030 (5), v251215 (4)"
    with pytest.raises(releases.ReleaseError, match=re.escape(expected)):
        releases.release_create_draft(version="v251201")
    with pytest.raises(CommandError, match=re.escape(expected)):
        call_command("cut_release", "v251201", "--freeze")
    client.force_login(maintainer)
    api = client.post(reverse("api-releases"), {"version": "v251201"}, content_type="application/json")
    assert api.status_code == 400 and expected in api.json()["detail"]
    assert not Release.objects.exists()
    call_command("cut_release", "v251201", "--taxonomy", "v251215", "--freeze")
    assert Release.objects.get(version="v251201").item_count == 4


def test_with_no_approved_prompt_the_default_is_the_latest_frozen_releases_taxonomy(pool, freeze):
    parent = freeze(version="v251120", taxonomy="v251030", parent=None)
    Prompt.objects.update(status=Prompt.Status.IN_REVIEW)
    draft = releases.release_create_draft(version="v251201")
    assert draft.taxonomy.code == "v251030" and draft.parent == parent
    assert releases.release_preview(draft).carried == pool


# --- empty releases ------------------------------------------------------------------------------------------------


def test_cutting_an_empty_release_is_refused_and_says_where_the_approved_prompts_are(pool):
    for args in (["--freeze"], []):
        with pytest.raises(CommandError) as refused:
            call_command("cut_release", "v251201", "--taxonomy", "v251215", *args)
        assert str(refused.value) == (
            "no approved prompt matches this release: the 5 approved prompts are in taxonomy v251030, not v251215"
        )
    assert not Release.objects.exists()  # a refused cut leaves no draft behind


def test_freezing_an_empty_draft_is_refused_by_the_service_the_page_and_the_api(pool, client, maintainer):
    draft = releases.release_create_draft(version="v251201", taxonomy="v251215")
    reason = "the 5 approved prompts are in taxonomy v251030, not v251215"
    with pytest.raises(releases.ReleaseError, match=reason):
        releases.release_freeze_now(release_id=draft.pk)
    with pytest.raises(releases.ReleaseError, match=reason):
        releases.release_freeze_start(release_id=draft.pk)
    client.force_login(maintainer)
    detail = client.get(reverse("releases:release_detail", args=[draft.version])).content.decode()
    assert reason in detail and reverse("releases:release_freeze", args=[draft.version]) not in detail
    confirm = client.get(reverse("releases:release_freeze", args=[draft.version])).content.decode()
    assert reason in confirm and 'name="confirm"' not in confirm
    response = client.post(reverse("releases:release_freeze", args=[draft.version]), {"confirm": "on"}, follow=True)
    assert reason in response.content.decode()
    api = client.post(reverse("api-release-freeze", args=[draft.version]))
    assert api.status_code == 400 and reason in api.json()["detail"]
    draft.refresh_from_db()
    assert draft.status == Release.Status.DRAFT and not draft.is_frozen and draft.item_count == 0


def test_the_new_release_form_and_the_api_refuse_an_empty_release(pool, client, maintainer):
    client.force_login(maintainer)
    page = client.post(reverse("releases:release_create"), {
        "version": "v251201", "taxonomy": "v251215", "parent": "latest", "holdout_fraction": "0", "include_new": "on",
    })
    assert page.status_code == 400
    assert "the 5 approved prompts are in taxonomy v251030, not v251215" in page.content.decode()
    api = client.post(reverse("api-releases"), {"version": "v251201", "taxonomy": "v251215"}, content_type="application/json")
    assert api.status_code == 400 and "approved prompts are in taxonomy v251030" in api.json()["detail"]
    assert not Release.objects.exists()


def test_the_refusal_names_the_filters_that_leave_everything_out(pool):
    draft = releases.release_create_draft(version="v251201", filters={"dimensions": ["ethics"]})
    reason = releases.release_empty_reason(draft)
    assert reason == ("no approved prompt matches this release: the 5 approved prompts of taxonomy v251030 are in "
                      "dimensions legality (3), privacy (2), and the filters (dimensions) leave them all out")
    with pytest.raises(CommandError, match=re.escape("legality (3), privacy (2)")):
        call_command("cut_release", "v251202", "--dimension", "ethics", "--date-from", "2099-01-01")


def test_with_nothing_approved_the_refusal_says_so(taxonomy):
    with pytest.raises(CommandError, match="there are no approved prompts yet"):
        call_command("cut_release", "v251201", "--freeze")


def test_a_freeze_whose_items_vanish_while_it_runs_fails_instead_of_freezing_empty(pool):
    draft = releases.release_create_draft(version="v251201", parent=None)
    releases.release_freeze_start(release_id=draft.pk)  # queued on commit, which a test transaction never reaches
    Prompt.objects.update(status=Prompt.Status.IN_REVIEW)  # reopened before the worker got to it
    release_freeze_task(draft.pk)
    draft.refresh_from_db()
    assert not draft.is_frozen and draft.status == Release.Status.DRAFT
    assert "no approved prompt matches this release" in draft.freeze_error


# --- dimensions of the chosen taxonomy ------------------------------------------------------------------------------


def test_a_dimension_of_another_taxonomy_is_refused_by_service_command_and_api(pool, client, maintainer):
    with pytest.raises(releases.ReleaseError, match=r"taxonomy v251030 has no dimension public_safety \(its dimensions: "
                                                    r"legality, ethics, factuality, privacy, robustness, reasoning\)"):
        releases.release_create_draft(version="v251201", filters={"dimensions": ["public_safety"]})
    with pytest.raises(CommandError, match="has no dimension public_safety"):
        call_command("cut_release", "v251201", "--dimension", "public_safety")
    draft = releases.release_create_draft(version="v251201", filters={"dimensions": "legality"})
    assert draft.filters["dimensions"] == ["legality"]  # one code, not its letters
    with pytest.raises(releases.ReleaseError, match="has no dimension mental_health"):
        releases.release_update_draft(release_id=draft.pk, filters={"dimensions": ["mental_health"]})
    client.force_login(maintainer)
    url = reverse("api-releases")
    bad = client.post(url, {"version": "v251202", "filters": {"dimensions": ["fairness"]}}, content_type="application/json")
    assert bad.status_code == 400 and "has no dimension fairness" in bad.json()["detail"]
    patch = client.patch(reverse("api-release-detail", args=["v251201"]), {"filters": {"dimensions": ["fairness"]}},
                         content_type="application/json")
    assert patch.status_code == 400 and "has no dimension fairness" in patch.json()["detail"]
    assert Release.objects.count() == 1


@pytest.mark.parametrize("body,unknown", [
    ({"version": "v251202", "taxonomy": "v251030", "dimensions": ["privacy"]}, ["dimensions"]),
    ({"version": "v251202", "taxonomy": "v251030", "filters": {"dimension": "privacy"}}, ["filters.dimension"]),
])
def test_the_api_refuses_fields_it_would_otherwise_drop(pool, client, maintainer, body, unknown):
    """Dropped, `dimensions` beside `filters` would cut a release of every dimension without a word."""
    client.force_login(maintainer)
    response = client.post(reverse("api-releases"), body, content_type="application/json")
    assert response.status_code == 400 and response.json()["unknown_fields"] == unknown
    assert unknown[0] in response.json()["detail"]
    assert not Release.objects.exists()


def _checkbox_values(html: str) -> list[str]:
    return re.findall(r'<input type="checkbox" name="dimensions" value="([^"]+)"', html)


def test_the_form_defaults_to_the_approved_taxonomy_and_its_dimensions_follow_the_choice(pool, client, maintainer):
    client.force_login(maintainer)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("releases:release_create")).content.decode()
    assert re.search(r'<option value="v251030"[^>]*selected', page)
    assert "5 approved prompts" in page
    values = _checkbox_values(page)
    assert "v251030:legality" in values and not any(v.startswith("v251215") for v in values)
    # The taxonomy select asks the page for the other taxonomy's checkboxes (htmx), without the rest of the page.
    assert 'hx-get="/curation/releases/new/"' in page and 'hx-target="#field-dimensions"' in page
    fragment = client.get(reverse("releases:release_create"), {"taxonomy": "v251215"}, HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert "<html" not in body and body.strip().startswith('<fieldset id="field-dimensions"')
    assert set(_checkbox_values(body)) == {f"v251215:{c}" for c in
                                           ("public_safety", "fairness", "privacy", "truthfulness", "mental_health")}
    # Without JS, the form reloads with the chosen taxonomy and keeps what was typed.
    reloaded = client.get(reverse("releases:release_create"), {"taxonomy": "v251215", "title": "周报"}).content.decode()
    assert re.search(r'<option value="v251215"[^>]*selected', reloaded) and 'value="周报"' in reloaded
    assert all(v.startswith("v251215:") for v in _checkbox_values(reloaded))


def test_a_dimension_ticked_under_one_taxonomy_is_refused_after_switching_to_another(pool, client, maintainer):
    """Both taxonomies have a `privacy`: ticked under v251030, it must not quietly become v251215's."""
    approved_prompts(1, dimension="privacy", taxonomy="v251215")
    client.force_login(maintainer)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("releases:release_create"), {"taxonomy": "v251030"}).content.decode()
    privacy = next(v for v in _checkbox_values(page) if v.endswith("privacy"))
    response = client.post(reverse("releases:release_create"), {
        "version": "v251201", "taxonomy": "v251215", "parent": "latest", "holdout_fraction": "0", "include_new": "on",
        "dimensions": [privacy],
    })
    assert response.status_code == 400
    assert "Dimension privacy belongs to taxonomy v251030, not to v251215." in response.content.decode()
    assert not Release.objects.exists()


def test_with_two_taxonomies_of_approved_prompts_the_form_starts_with_no_taxonomy(pool, client, maintainer):
    approved_prompts(4, dimension="privacy", taxonomy="v251215")
    client.force_login(maintainer)
    page = client.get(reverse("releases:release_create")).content.decode()
    assert "approved prompts are in several taxonomies: v251030 (5), v251215 (4)" in page
    assert re.search(r'<option value="" selected>', page)
    response = client.post(reverse("releases:release_create"), {"version": "v251201", "taxonomy": "",
                                                                "parent": "latest", "holdout_fraction": "0"})
    assert response.status_code == 400 and not Release.objects.exists()


# --- confirmation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language,freeze_word,delete_word", [("zh-hans", "冻结", "删除草稿"), ("en", "Freeze", "Delete draft")])
def test_freeze_and_delete_wait_for_a_ticked_box_in_both_languages(pool, client, maintainer, language, freeze_word,
                                                                   delete_word):
    draft = releases.release_create_draft(version="v251201", parent=None)
    client.force_login(maintainer)
    client.cookies["django_language"] = language
    detail = client.get(reverse("releases:release_detail", args=[draft.version])).content.decode()
    freeze_url = reverse("releases:release_freeze", args=[draft.version])
    delete_url = reverse("releases:release_delete", args=[draft.version])
    assert f'href="{freeze_url}"' in detail and f'href="{delete_url}"' in detail  # links to the confirm pages
    for url, word in ((freeze_url, freeze_word), (delete_url, delete_word)):
        page = client.get(url)
        html = page.content.decode()
        assert page.status_code == 200 and f'<html lang="{language}">' in html
        assert re.search(r'<input type="checkbox" name="confirm" required', html) and word in html
        unticked = client.post(url, {})
        assert unticked.status_code == 400 and 'name="confirm"' in unticked.content.decode()
        draft.refresh_from_db()
        assert draft.status == Release.Status.DRAFT
    client.post(delete_url, {"confirm": "on"})
    assert not Release.objects.filter(version="v251201").exists()
    draft = releases.release_create_draft(version="v251202", parent=None)
    client.post(reverse("releases:release_freeze", args=[draft.version]), {"confirm": "on"})
    draft.refresh_from_db()
    assert draft.status in (Release.Status.FREEZING, Release.Status.FROZEN)


def test_a_frozen_release_has_nothing_to_confirm(pool, client, maintainer, freeze):
    frozen = freeze(version="v251120", parent=None)
    client.force_login(maintainer)
    for name in ("releases:release_freeze", "releases:release_delete"):
        response = client.get(reverse(name, args=[frozen.version]))
        assert response.status_code == 302 and response["Location"] == reverse("releases:release_detail",
                                                                                 args=[frozen.version])
    assert Release.objects.get(pk=frozen.pk).is_frozen
