"""Every annotation page and API checks the role on the server; annotators review blind, cannot
adjudicate, and cannot claim from a queue whose members they are not."""

import pytest
from django.urls import reverse

from annotation import services
from annotation.models import Claim
from tests.factories import UserFactory, make_items, make_queue

pytestmark = pytest.mark.django_db

ROLES = ["Annotator", "Maintainer", "Admin"]
ALL = set(ROLES)
MAINTAINERS = {"Maintainer", "Admin"}

# (url name, which object the kwarg is, roles that may GET it)
PAGES = [
    ("annotation:queue_list", None, ALL),
    ("annotation:my_work", None, ALL),
    ("annotation:review", "queue", ALL),
    ("annotation:queue_create", None, MAINTAINERS),
    ("annotation:queue_detail", "queue", MAINTAINERS),
    ("annotation:queue_edit", "queue", MAINTAINERS),
    ("annotation:adjudication_list", None, MAINTAINERS),
    ("annotation:adjudication_detail", "item", MAINTAINERS),
    # Agreement is for maintainers and admins (docs/agreement.md, README's role table, the header menu).
    ("agreement:dashboard", None, MAINTAINERS),
    ("agreement:export_matrix", None, MAINTAINERS),
    ("agreement:export_metrics", None, MAINTAINERS),
]
POST_PAGES = [
    ("annotation:next", "queue", ALL),
    ("annotation:submit", "claim", ALL),
    ("annotation:skip", "claim", ALL),
    ("annotation:heartbeat", "claim", ALL),
    ("annotation:unskip", "item", ALL),
    ("annotation:queue_route", "queue", MAINTAINERS),
    ("annotation:reopen", "item", MAINTAINERS),
]
APIS = [
    ("api-queues", None, ALL),
    ("api-my-annotations", None, ALL),
    ("api-adjudications", None, MAINTAINERS),
    ("api-adjudication-detail", "item", MAINTAINERS),
    ("api-agreement", None, MAINTAINERS),
]
POST_APIS = [
    ("api-queues", None, MAINTAINERS),
    ("api-queue-next", "queue", ALL),
    ("api-claim-heartbeat", "claim", ALL),
    ("api-claim-submit", "claim", ALL),
    ("api-claim-skip", "claim", ALL),
    ("api-annotation-revise", "annotation", ALL),
    ("api-adjudication-decide", "item", MAINTAINERS),
    ("api-adjudication-reopen", "item", MAINTAINERS),
]


@pytest.fixture
def objects(taxonomy):
    queue = make_queue()
    (item,) = make_items(1)
    owner = UserFactory(username="owner", role="Annotator", password=None)
    claim = services.lease_claim(queue=queue, user=owner)
    return {"queue": queue, "item": item, "claim": claim, "annotation": None}


def url(name, kind, objects):
    if kind is None:
        return reverse(name)
    obj = objects[kind]
    return reverse(name, args=[obj.pk if obj is not None else 999999])


@pytest.mark.parametrize("name,kind,allowed", PAGES + POST_PAGES)
def test_pages_send_anonymous_users_to_login(client, objects, name, kind, allowed):
    method = client.post if (name, kind, allowed) in POST_PAGES else client.get
    response = method(url(name, kind, objects))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name,kind,allowed", PAGES)
@pytest.mark.parametrize("role", ROLES + [None])
def test_pages_answer_by_role(client, objects, name, kind, allowed, role):
    client.force_login(UserFactory(username=f"u-{role}", role=role, password=None))
    response = client.get(url(name, kind, objects))
    assert response.status_code == (200 if role in allowed else 403)


@pytest.mark.parametrize("name,kind,allowed", [p for p in POST_PAGES if p[2] == MAINTAINERS])
def test_maintainer_actions_refuse_annotators(client, objects, name, kind, allowed):
    client.force_login(UserFactory(username="plain", role="Annotator", password=None))
    assert client.post(url(name, kind, objects)).status_code == 403


@pytest.mark.parametrize("name,kind,allowed", POST_PAGES)
def test_post_pages_refuse_users_without_a_role(client, objects, name, kind, allowed):
    client.force_login(UserFactory(username="norole", password=None))
    assert client.post(url(name, kind, objects)).status_code == 403


@pytest.mark.parametrize("name,kind,allowed", APIS + POST_APIS)
def test_apis_refuse_anonymous_callers_with_401(client, objects, name, kind, allowed):
    method = client.post if (name, kind, allowed) in POST_APIS else client.get
    assert method(url(name, kind, objects), content_type="application/json").status_code == 401


@pytest.mark.parametrize("name,kind,allowed", APIS)
@pytest.mark.parametrize("role", ROLES + [None])
def test_apis_answer_by_role(client, objects, name, kind, allowed, role):
    client.force_login(UserFactory(username=f"u-{role}", role=role, password=None))
    assert client.get(url(name, kind, objects)).status_code == (200 if role in allowed else 403)


@pytest.mark.parametrize("name,kind,allowed", POST_APIS)
@pytest.mark.parametrize("role", ["Annotator", None])
def test_post_apis_refuse_the_wrong_role(client, objects, name, kind, allowed, role):
    client.force_login(UserFactory(username=f"u-{role}", role=role, password=None))
    status = client.post(url(name, kind, objects), {}, content_type="application/json").status_code
    if role is None or role not in allowed:
        assert status == 403
    else:
        assert status != 403 and status != 401


def test_annotators_never_see_other_annotations(taxonomy, client):
    queue = make_queue(n=3)
    (item,) = make_items(1)
    a, b = (UserFactory(username=u, role="Annotator", password=None) for u in ("blind-a", "blind-b"))
    secret = "甲的私密批注：这题应当拒绝"
    a_claim = services.lease_claim(queue=queue, user=a)
    result = services.annotation_submit(
        claim_id=a_claim.pk, user=a,
        data=services.AnnotationInput(decision="reject", reject_reason="other", note=secret),
    )
    client.force_login(b)
    client.post(reverse("annotation:next", args=[queue.pk]))
    b_claim = Claim.objects.get(annotator=b)
    assert b_claim.item_id == item.pk
    for page in (
        reverse("annotation:claim", args=[b_claim.pk]),
        reverse("annotation:my_work"),
        reverse("annotation:queue_list"),
    ):
        body = client.get(page).content.decode()
        assert secret not in body and "blind-a" not in body
    api_claim = client.post(reverse("api-queue-next", args=[queue.pk]), content_type="application/json")
    assert secret not in api_claim.content.decode() and "blind-a" not in api_claim.content.decode()
    assert client.get(reverse("api-my-annotations")).json()["count"] == 0
    assert client.get(reverse("annotation:revise", args=[result.annotation.pk])).status_code == 404
    assert client.post(reverse("api-annotation-revise", args=[result.annotation.pk]), {"decision": "accept"},
                       content_type="application/json").status_code == 404
    assert client.get(reverse("annotation:adjudication_detail", args=[item.pk])).status_code == 403
    assert client.get(reverse("api-adjudication-detail", args=[item.pk])).status_code == 403
    assert client.get(reverse("api-adjudications")).status_code == 403
    assert client.get(reverse("annotation:claim", args=[a_claim.pk])).status_code == 404


def test_annotators_cannot_adjudicate(taxonomy, client):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    users = [UserFactory(username=f"adj{i}", role="Annotator", password=None) for i in range(2)]
    for user, decision in zip(users, ["accept", "reject"], strict=True):
        c = services.lease_claim(queue=queue, user=user)
        services.annotation_submit(claim_id=c.pk, user=user, data=services.AnnotationInput(decision=decision, reject_reason="unclear"))
    item.refresh_from_db()
    assert item.state == "adjudication"
    client.force_login(users[0])
    page = client.post(reverse("annotation:adjudication_detail", args=[item.pk]), {"decision": "approved", "reason": "x"})
    api = client.post(reverse("api-adjudication-decide", args=[item.pk]), {"decision": "approved", "reason": "x"},
                      content_type="application/json")
    assert page.status_code == 403 and api.status_code == 403
    item.refresh_from_db()
    assert item.state == "adjudication" and item.prompt.status == "in_review"


def test_annotators_cannot_claim_from_a_queue_they_are_not_members_of(taxonomy, client):
    member, outsider = (UserFactory(username=u, role="Annotator", password=None) for u in ("member", "outsider"))
    queue = make_queue(name="专属成员的名单", members=[member])
    make_items(1)
    client.force_login(outsider)
    assert client.get(reverse("annotation:review", args=[queue.pk])).status_code == 403
    assert client.post(reverse("annotation:next", args=[queue.pk])).status_code == 403
    assert client.post(reverse("api-queue-next", args=[queue.pk]), content_type="application/json").status_code == 403
    assert queue.name not in client.get(reverse("annotation:queue_list")).content.decode()
    assert not Claim.objects.exists()
    client.force_login(member)
    assert client.post(reverse("api-queue-next", args=[queue.pk]), content_type="application/json").status_code == 200


OWN_PAGES = [("annotation:claim", "claim"), ("annotation:twin", "claim"), ("annotation:revise", "annotation")]


@pytest.mark.parametrize("name,kind", OWN_PAGES)
def test_pages_of_ones_own_work_check_login_role_and_owner(client, objects, name, kind):
    target = url(name, kind, objects)
    anonymous = client.get(target)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("accounts:login"))
    client.force_login(UserFactory(username="norole", password=None))
    assert client.get(target).status_code == 403
    client.force_login(UserFactory(username="someone-else", role="Annotator", password=None))
    assert client.get(target).status_code == 404
