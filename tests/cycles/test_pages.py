"""The cycle pages and API: who may see and act, what the maintainer sees before approving, escaping of every
text shown, both languages."""

import pytest
from django.urls import reverse

from cycles import services
from cycles.models import Cycle
from tests.cycles.conftest import review_all
from tests.cycles.test_services import advance

pytestmark = pytest.mark.django_db(transaction=True)


def test_only_maintainers_and_admins_reach_the_cycle_pages_and_api(plan, client, annotator, maintainer, admin):
    cycle = services.cycle_open(plan=plan, day=plan.created_at.date().replace(year=2030))
    pages = [reverse("cycles:cycle_list"), reverse("cycles:cycle_detail", args=[cycle.pk]),
             reverse("cycles:plan_new"), reverse("cycles:plan_edit", args=[plan.pk])]
    apis = [reverse("api-cycles"), reverse("api-cycle-detail", args=[cycle.pk]), reverse("api-cycle-plans")]
    for url in pages:
        assert client.get(url).status_code == 302  # to the login page
    for url in apis:
        assert client.get(url).status_code in (401, 403)
    client.force_login(annotator)
    for url in [*pages, *apis]:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("api-cycle-cancel", args=[cycle.pk])).status_code == 403
    assert client.post(reverse("cycles:cycle_cancel", args=[cycle.pk]), {"confirm": "1"}).status_code == 403
    assert Cycle.objects.get(pk=cycle.pk).is_open
    for user in (maintainer, admin):
        client.force_login(user)
        for url in [*pages, *apis]:
            assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_maintainer_follows_the_cycle_approves_the_cut_and_reads_the_report(
    plan, reviewers, maintainer, client, hostile_strings, language, sim
):
    from django.utils import timezone

    from generation import services as gen

    services.plan_update(plan=plan, name=hostile_strings[0][:100])
    for i, text in enumerate(hostile_strings[:4]):
        gen.event_create(title=text[:300] or f"事件{i}", date=timezone.localdate(), summary=text, actor=maintainer)
    client.cookies["django_language"] = language
    client.force_login(maintainer)
    cycle = advance(services.cycle_open(plan=plan))
    page = client.get(reverse("cycles:cycle_detail", args=[cycle.pk])).content.decode()
    assert ("道待审" if language == "zh-hans" else "candidates still open") in page
    assert ("审核员与截版日" if language == "zh-hans" else "waits for annotators and the cut date") in page
    assert "<script>alert" not in page

    review_all(reviewers)
    response = client.post(reverse("api-cycle-cut", args=[cycle.pk]))
    assert response.status_code == 200, response.content
    advance(cycle)
    assert cycle.step == Cycle.Step.APPROVE
    page = client.get(reverse("cycles:cycle_detail", args=[cycle.pk])).content.decode()
    assert 'id="approval"' in page and 'id="approval-counts"' in page and 'id="approval-agreement"' in page
    assert "<script>alert" not in page

    # Approving without the tick changes nothing; with it, the cycle runs to the end.
    client.post(reverse("cycles:cycle_approve", args=[cycle.pk]))
    assert Cycle.objects.get(pk=cycle.pk).approved_at is None
    client.post(reverse("cycles:cycle_approve", args=[cycle.pk]), {"confirm": "1"})
    advance(cycle)
    assert cycle.status == Cycle.Status.DONE, cycle.wait
    assert client.post(reverse("api-cycle-approve", args=[cycle.pk])).status_code == 409
    page = client.get(reverse("cycles:cycle_detail", args=[cycle.pk])).content.decode()
    assert 'id="report"' in page and "<script>alert" not in page
    listing = client.get(reverse("cycles:cycle_list")).content.decode()
    assert "<script>alert" not in listing and cycle.release.version in listing
    report = client.get(reverse("cycles:cycle_report", args=[cycle.pk]), {"lang": "en"})
    assert report["Content-Type"].startswith("text/markdown") and b"Leaderboard" in report.content
    body = client.get(reverse("api-cycle-detail", args=[cycle.pk])).json()
    assert body["status"] == "done" and [s["state"] for s in body["steps"]] == ["done"] * len(services.STEPS)
