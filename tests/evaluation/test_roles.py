"""Who may do what on the evaluation pages and API: every route for anonymous users, users without a role,
annotators, maintainers and admins; annotators never start runs nor see hold-out items anywhere."""

import json
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from evaluation.models import EvalRun, HumanLabel, PointVerdict, Rubric
from evaluation.services import rubrics_seed_defaults, run_create
from tests.evaluation.pages_fixtures import *  # noqa: F403
from tests.evaluation.pages_fixtures import holdout_item
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(evaluated, targets, judge):
    rubrics_seed_defaults()
    release, run = evaluated["release"], evaluated["run"]
    other = run_create(release=release, targets=targets[:2], judge=judge, enqueue=False, mode="livesecbench")
    rubric = Rubric.objects.filter(kind="pairwise").order_by("pk").first()
    target = evaluated["targets"][0]
    v = release.version
    maintainer_pages = [
        reverse("evaluation:run_list"), reverse("evaluation:run_detail", args=[run.pk]),
        reverse("evaluation:run_detail", args=[other.pk]),
        reverse("evaluation:drilldown", args=[other.pk, other.targets.first().pk]),
        reverse("evaluation:calibrate", args=[run.pk]),
    ]
    any_role_pages = [
        reverse("evaluation:leaderboard_index"), reverse("evaluation:leaderboard", args=[v]),
        *(reverse("evaluation:leaderboard_export", args=[v, fmt]) for fmt in ("csv", "json", "md")),
        reverse("evaluation:drilldown", args=[run.pk, target.pk]), reverse("evaluation:rubric_list"),
        reverse("evaluation:rubric_detail", args=[rubric.pk]),
    ]
    posts = [
        (reverse("evaluation:run_start"), {"release": v, "targets": "sim-target-90\nsim-target-50",
                                           "judge": "sim-judge", "mode": "livesecbench", "seed": "0",
                                           "anchor_rating": "1500", "resamples": "1000"}),
        (reverse("evaluation:run_cancel", args=[other.pk]), {}),
        (reverse("evaluation:run_resume", args=[other.pk]), {}),
        (reverse("evaluation:run_publish", args=[run.pk]), {"confirm": "1"}),
        (reverse("evaluation:run_unpublish", args=[run.pk]), {}),
        (reverse("evaluation:rubrics_seed"), {}),
        (reverse("evaluation:calibrate", args=[run.pk]), {"verdict": "1", "label": "safe"}),
        (reverse("evaluation:rubric_detail", args=[rubric.pk]), {"text": rubric.text + "\n改", "notes": ""}),
    ]
    api_maintainer = [
        ("get", reverse("api-evaluations"), None),
        ("post", reverse("api-evaluations"), {"release": v, "targets": ["sim-target-90", "sim-target-50"],
                                              "judge": "sim-judge", "mode": "livesecbench"}),
        ("get", reverse("api-evaluation-detail", args=[run.pk]), None),
        ("post", reverse("api-evaluation-cancel", args=[other.pk]), None),
        ("post", reverse("api-evaluation-resume", args=[other.pk]), None),
        ("post", reverse("api-evaluation-publish", args=[run.pk]), None),
        ("post", reverse("api-evaluation-unpublish", args=[run.pk]), None),
        ("get", reverse("api-evaluation-drilldown", args=[other.pk, other.targets.first().pk]), None),
    ]
    api_any_role = [
        ("get", reverse("api-leaderboard", args=[v]), None),
        ("get", reverse("api-evaluation-drilldown", args=[run.pk, target.pk]), None),
    ]
    return {**evaluated, "other": other, "rubric": rubric, "maintainer_pages": maintainer_pages,
            "any_role_pages": any_role_pages, "posts": posts, "api_maintainer": api_maintainer,
            "api_any_role": api_any_role}


def _state(world):
    return (EvalRun.objects.count(), EvalRun.objects.get(pk=world["other"].pk).status,
            EvalRun.objects.get(pk=world["run"].pk).published_at, Rubric.objects.count(), HumanLabel.objects.count())


def _api(client, method, url, body):
    if method == "get":
        return client.get(url)
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_anonymous_users_are_sent_to_log_in_and_the_api_asks_for_credentials(client, world):
    before = _state(world)
    for url in world["maintainer_pages"] + world["any_role_pages"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login")), url
    for url, data in world["posts"]:
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login")), url
    for method, url, body in world["api_maintainer"] + world["api_any_role"]:
        assert _api(client, method, url, body).status_code == 401, url
    assert _state(world) == before


def test_a_user_without_a_role_gets_nothing(client, world):
    client.force_login(UserFactory(username="nobody"))
    for url in world["maintainer_pages"] + world["any_role_pages"]:
        assert client.get(url).status_code == 403, url
    for method, url, body in world["api_maintainer"] + world["api_any_role"]:
        assert _api(client, method, url, body).status_code == 403, url


def test_annotators_read_boards_and_public_answers_but_start_and_change_nothing(client, annotator, world):
    client.force_login(annotator)
    before = _state(world)
    for url in world["maintainer_pages"]:
        assert client.get(url).status_code in (403, 404), url
    assert client.get(world["maintainer_pages"][0]).status_code == 403
    for url in world["any_role_pages"]:
        assert client.get(url).status_code == 200, url
    for url, data in world["posts"]:
        assert client.post(url, data).status_code == 403, url
    for method, url, body in world["api_maintainer"]:
        response = _api(client, method, url, body)
        assert response.status_code in (403, 404), url
        assert response.status_code == 403 or "drilldown" in url or "/items/" in url, url
    for method, url, body in world["api_any_role"]:
        assert _api(client, method, url, body).status_code == 200, url
    assert _state(world) == before
    # The drill-down of a run that is not the board's is not found (neither page nor API) for them.
    other = world["other"]
    assert client.get(reverse("evaluation:drilldown", args=[other.pk, other.targets.first().pk])).status_code == 404
    # No link to the maintainers' pages; the rubric is shown, not offered for editing.
    page = client.get(reverse("home")).content.decode()
    nav = page.split('<nav class="nav"')[1].split("</nav>")[0]
    assert f'href="{reverse("evaluation:leaderboard_index")}"' in nav
    assert f'href="{reverse("evaluation:run_list")}"' not in page
    rubric_page = client.get(reverse("evaluation:rubric_detail", args=[world["rubric"].pk])).content.decode()
    assert 'id="rubric-form"' not in rubric_page and "rubric-text" in rubric_page


def test_annotators_never_see_a_held_out_item(client, annotator, maintainer, world):
    release, run, target = world["release"], world["run"], world["targets"][0]
    held = list(release.items.filter(is_holdout=True))
    assert held
    pages_url = reverse("evaluation:drilldown", args=[run.pk, target.pk])
    api_url = reverse("api-evaluation-drilldown", args=[run.pk, target.pk])
    client.force_login(annotator)
    texts = [client.get(pages_url, {"dimension": code}).content.decode()
             for code in ("", "legality", "ethics", "privacy")]
    texts += [client.get(reverse("evaluation:leaderboard_export", args=[release.version, fmt])).content.decode()
              for fmt in ("csv", "json", "md")]
    texts.append(client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode())
    api = client.get(api_url).json()
    texts.append(json.dumps(api, ensure_ascii=False))
    blob = "".join(texts)
    for item in held:
        assert item.public_id not in blob and escape(item.text) not in blob and item.text not in blob
    assert api["count"] == release.public_count and all("holdout" not in row for row in api["results"])
    # Maintainers and admins see them, marked.
    client.force_login(maintainer)
    api = client.get(api_url).json()
    assert api["count"] == release.item_count
    assert {row["public_id"] for row in api["results"] if row["holdout"]} == {i.public_id for i in held}
    assert holdout_item(release).public_id in client.get(pages_url).content.decode()


@pytest.mark.parametrize("role", ["Maintainer", "Admin"])
def test_maintainers_and_admins_open_every_page_and_endpoint(client, world, role):
    user = UserFactory(username=f"u-{role}", role=role)
    client.force_login(user)
    for url in world["maintainer_pages"] + world["any_role_pages"]:
        assert client.get(url).status_code == 200, url
    for method, url, _body in world["api_maintainer"] + world["api_any_role"]:
        if method == "get":
            assert client.get(url).status_code == 200, url
    response = _api(client, "post", *world["api_maintainer"][1][1:])
    assert response.status_code == 201 and response.json()["created_by"] == user.username
    response = client.post(*world["posts"][0])
    assert response.status_code == 302 and EvalRun.objects.filter(created_by=user).count() == 2
    home = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("evaluation:run_list")}"' in home and reverse("evaluation:leaderboard_index") in home


def test_the_maintainer_home_links_to_running_an_evaluation(client, maintainer, taxonomy):
    client.cookies["django_language"] = "en"
    client.force_login(maintainer)
    home = client.get(reverse("home")).content.decode()
    assert f'<a href="{reverse("evaluation:run_list")}">Run an evaluation</a>' in home
    nav = home.split('<nav class="nav"')[1].split("</nav>")[0]
    assert f'href="{reverse("evaluation:run_list")}"' in nav
    assert f'href="{reverse("evaluation:leaderboard_index")}">Leaderboards</a>' in nav


def test_only_maintainers_and_admins_label_answers_of_a_robust_run_hold_out_ones_included(
        client, annotator, frozen_release, evaluate):
    release = frozen_release(per_dimension=3, holdout_fraction=0.34)
    run = evaluate(release, mode="robust", resamples=20)
    url = reverse("evaluation:calibrate", args=[run.pk])
    verdict = PointVerdict.objects.filter(run=run, outcome__in=PointVerdict.LABELS).first()
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    assert client.post(url, {"verdict": verdict.pk, "label": "safe"}).status_code == 403
    assert not HumanLabel.objects.exists()
    held = PointVerdict.objects.filter(run=run, item__is_holdout=True, outcome__in=PointVerdict.LABELS).count()
    assert held
    for role in ("Maintainer", "Admin"):
        user = UserFactory(username=f"cal-{role.lower()}", role=role)
        client.force_login(user)
        assert client.get(url).status_code == 200
        seen = set()
        while True:
            page = client.get(url).content.decode()
            shown = re.search(r'data-shown-verdict="(\d+)"', page)
            if not shown:
                break
            seen.add(int(shown.group(1)))
            response = client.post(url, {"verdict": shown.group(1), "label": "unsafe"})
            assert response.status_code == 302
        # Every answer judged alone comes up once, hold-out items' included (the page is for maintainers only).
        judged = set(PointVerdict.objects.filter(run=run, outcome__in=PointVerdict.LABELS).values_list("pk", flat=True))
        assert seen == judged
        assert HumanLabel.objects.filter(labeled_by=user).count() == len(judged)
