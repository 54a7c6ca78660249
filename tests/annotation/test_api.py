"""The review API end to end: queues, next / heartbeat / submit / skip, revisions, adjudication."""

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import Annotation, Lease, QueueItem
from curation.models import Prompt
from tests.annotation.conftest import expire
from tests.factories import make_items, make_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def post(client, name, pk=None, data=None):
    url = reverse(name, args=[pk] if pk is not None else [])
    return client.post(url, data or {}, content_type="application/json")


def test_queue_list_shows_only_queues_the_annotator_may_claim_from(taxonomy, annotators, api):
    a, b = annotators[:2]
    open_queue = make_queue(name="公开")
    make_queue(name="仅限乙", members=[b])
    make_items(2)
    body = api(a).get(reverse("api-queues")).json()
    assert [q["name"] for q in body] == ["公开"]
    assert body[0]["counts"]["open"] == 2 and body[0]["id"] == open_queue.pk
    assert {q["name"] for q in api(b).get(reverse("api-queues")).json()} == {"公开", "仅限乙"}


def test_next_heartbeat_submit_until_the_queue_is_empty(taxonomy, annotators, api):
    queue = make_queue(n=1)
    items = make_items(2)
    client = api(annotators[0])
    seen = []
    while True:
        response = post(client, "api-queue-next", queue.pk)
        if response.status_code == 204:
            break
        assert response.status_code == 200
        claim = response.json()
        seen.append(claim["item"])
        assert claim["prompt"]["text"] and "annotations" not in claim
        beat = post(client, "api-claim-heartbeat", claim["id"])
        assert beat.status_code == 200 and beat.json()["expires_at"]
        result = post(client, "api-claim-submit", claim["id"], {"decision": "accept", "severity": 2, "seconds_spent": 1.5})
        assert result.status_code == 201, result.content
        assert result.json()["status"] == "counted" and result.json()["item_state"] == "decided"
    assert seen == [i.pk for i in items]
    assert set(Prompt.objects.values_list("status", flat=True)) == {"approved"}
    assert set(Prompt.objects.values_list("severity", flat=True)) == {2}


def test_missing_labels_keep_the_prompts_current_ones(taxonomy, annotators, api):
    queue = make_queue(n=1)
    make_items(1, severity=4, risk_expression="explicit")
    client = api(annotators[0])
    claim = post(client, "api-queue-next", queue.pk).json()
    post(client, "api-claim-submit", claim["id"], {"decision": "accept"})
    ann = Annotation.objects.get()
    assert (ann.severity, ann.risk_expression, ann.dimension.code) == (4, "explicit", "legality")


def test_bad_submissions_get_400_with_field_errors(taxonomy, annotators, api):
    queue = make_queue()
    make_items(1)
    client = api(annotators[0])
    claim = post(client, "api-queue-next", queue.pk).json()
    response = post(client, "api-claim-submit", claim["id"], {"decision": "reject"})
    assert response.status_code == 400 and "reject_reason" in response.json()["errors"]
    response = post(client, "api-claim-submit", claim["id"], {"decision": "edit", "final_text": "坏\u0000字"})
    assert response.status_code == 400
    response = post(client, "api-claim-submit", claim["id"], {"decision": "accept", "severity": 7})
    assert response.status_code == 400 and "severity" in response.json()
    assert not Annotation.objects.exists()


def test_lease_expiry_and_a_late_submit_through_the_api(taxonomy, annotators, api, client):
    queue = make_queue(n=1)
    make_items(1)
    a, b = annotators[:2]
    a_claim = post(api(a), "api-queue-next", queue.pk).json()
    assert post(api(b), "api-queue-next", queue.pk).status_code == 204  # leased to a
    expire(Lease.objects.get().claims.get())
    b_claim = post(api(b), "api-queue-next", queue.pk).json()
    assert b_claim["item"] == a_claim["item"]
    lost = post(api(a), "api-claim-heartbeat", a_claim["id"])
    assert lost.status_code == 409 and lost.json()["code"] == "lease_lost"
    late = post(api(a), "api-claim-submit", a_claim["id"], {"decision": "accept"})
    assert late.status_code == 201 and late.json()["status"] == "surplus" and late.json()["surplus"] is True
    assert "surplus" in late.json()["message"].lower() or "超额" in late.json()["message"]
    assert post(api(b), "api-claim-submit", b_claim["id"], {"decision": "accept"}).json()["status"] == "counted"
    assert Annotation.objects.count() == 2


def test_skip_and_revise_through_the_api(taxonomy, annotators, api):
    queue = make_queue(n=2)
    first, second = make_items(2)
    client = api(annotators[0])
    claim = post(client, "api-queue-next", queue.pk).json()
    assert post(client, "api-claim-skip", claim["id"]).status_code == 204
    claim = post(client, "api-queue-next", queue.pk).json()
    assert claim["item"] == second.pk
    result = post(client, "api-claim-submit", claim["id"], {"decision": "accept"}).json()
    revised = post(client, "api-annotation-revise", result["annotation"]["id"], {"decision": "reject", "reject_reason": "unclear"})
    assert revised.status_code == 200 and revised.json()["status"] == "revised"
    mine = client.get(reverse("api-my-annotations")).json()
    assert mine["count"] == 1 and mine["results"][0]["decision"] == "reject"
    assert mine["results"][0]["item_state"] == "open"


def test_adjudication_list_decide_and_reopen_through_the_api(taxonomy, annotators, api, maintainer):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    for user, data in zip(annotators[:2], [{"decision": "accept"}, {"decision": "reject", "reject_reason": "unclear"}], strict=True):
        c = post(api(user), "api-queue-next", queue.pk).json()
        post(api(user), "api-claim-submit", c["id"], data)
    client = api(maintainer)
    listing = client.get(reverse("api-adjudications")).json()
    assert listing["count"] == 1
    entry = listing["results"][0]
    assert entry["id"] == item.pk and {a["annotator"] for a in entry["annotations"]} == {"ann1", "ann2"}
    keep = next(a for a in entry["annotations"] if a["decision"] == "accept")
    bad = post(client, "api-adjudication-decide", item.pk, {"decision": "approved"})
    assert bad.status_code == 400
    decided = post(client, "api-adjudication-decide", item.pk,
                   {"decision": "approved", "reason": "接受者的理由充分", "from_annotation": keep["id"], "severity": 3})
    assert decided.status_code == 200, decided.content
    assert decided.json()["state"] == "decided"
    prompt = Prompt.objects.get(pk=item.prompt_id)
    assert prompt.status == "approved" and prompt.severity == 3
    assert post(client, "api-adjudication-decide", item.pk, {"decision": "rejected", "reason": "x"}).status_code == 409
    reopened = post(client, "api-adjudication-reopen", item.pk, {"reason": "再看看"})
    assert reopened.status_code == 200 and reopened.json()["state"] == "adjudication"
    assert Prompt.objects.get(pk=item.prompt_id).status == "in_review"
    assert QueueItem.objects.get(pk=item.pk).adjudication_reason == "reopened"
    assert client.get(reverse("api-adjudications") + "?state=decided").json()["count"] == 0


def test_maintainers_create_queues_through_the_api(taxonomy, maintainer, annotators, api):
    from curation.models import Taxonomy

    tax = Taxonomy.objects.get(code="v251030")
    response = post(api(maintainer), "api-queues", data={"name": "接口队列", "taxonomy": tax.pk, "members": [annotators[0].pk]})
    assert response.status_code == 201 and response.json()["annotators_per_item"] == 3
    assert post(api(annotators[0]), "api-queues", data={"name": "x", "taxonomy": tax.pk}).status_code == 403
    dup = post(api(maintainer), "api-queues", data={"name": "接口队列", "taxonomy": tax.pk})
    assert dup.status_code == 400 and "name" in dup.json()["errors"]


def test_a_queue_of_an_unknown_taxonomy_or_member_is_refused_with_400_and_not_created(taxonomy, maintainer, annotators, api):
    """Unknown ids used to reach the database as dangling foreign keys: a 500 on PostgreSQL at commit."""
    from annotation.models import ReviewQueue
    from curation.models import Taxonomy

    client = api(maintainer)
    missing = Taxonomy.objects.order_by("-pk").first().pk + 1000
    response = post(client, "api-queues", data={"name": "无此体系", "taxonomy": missing})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"taxonomy"}
    tax = Taxonomy.objects.get(code="v251030")
    response = post(client, "api-queues", data={"name": "无此成员", "taxonomy": tax.pk,
                                                  "members": [annotators[0].pk, 987654]})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"members"}
    assert not ReviewQueue.objects.exists()


def test_ids_beyond_64_bits_are_refused_with_400_naming_the_field(taxonomy, maintainer, api):
    """SQLite cannot even look such an id up (OverflowError): it was a 500."""
    from curation.models import Taxonomy

    tax = Taxonomy.objects.get(code="v251030")
    response = post(api(maintainer), "api-queues", data={"name": "大数", "taxonomy": tax.pk, "dimensions": [2**64]})
    assert response.status_code == 400 and set(response.json()) == {"dimensions"}
    response = post(api(maintainer), "api-queues", data={"name": "大数", "taxonomy": 2**63})
    assert response.status_code == 400 and set(response.json()) == {"taxonomy"}


def test_claims_of_others_are_not_found(taxonomy, annotators, api):
    queue = make_queue()
    make_items(1)
    claim = post(api(annotators[0]), "api-queue-next", queue.pk).json()
    other = api(annotators[1])
    assert post(other, "api-claim-heartbeat", claim["id"]).status_code == 404
    assert post(other, "api-claim-submit", claim["id"], {"decision": "accept"}).status_code == 404
    assert post(other, "api-claim-skip", claim["id"]).status_code == 404
    assert Lease.objects.get().expires_at > timezone.now()


def test_ownership_is_checked_before_the_body(taxonomy, annotators, api, maintainer):
    """Someone else's claim or annotation is 404 whatever the body (empty, invalid, malformed or valid); the
    owner gets 400 for a bad body. An unknown adjudication item is 404 before its body is read too."""
    queue = make_queue(n=2)
    (item,) = make_items(1)
    owner = api(annotators[0])
    claim = post(owner, "api-queue-next", queue.pk).json()["id"]
    other = api(annotators[1])
    bodies = [{}, {"decision": "不存在的选项"}, {"decision": "accept"}]
    for body in bodies:
        assert post(other, "api-claim-submit", claim, body).status_code == 404, body
    malformed = other.post(reverse("api-claim-submit", args=[claim]), "{not json", content_type="application/json")
    assert malformed.status_code == 404
    assert not Annotation.objects.exists()
    owner = api(annotators[0])
    assert post(owner, "api-claim-submit", claim, {}).status_code == 400
    assert post(owner, "api-claim-submit", claim, {"decision": "不存在的选项"}).status_code == 400
    annotation = post(owner, "api-claim-submit", claim, {"decision": "accept"}).json()["annotation"]["id"]

    other = api(annotators[1])
    for body in [*bodies, {"decision": "reject", "reject_reason": "unclear"}]:
        assert post(other, "api-annotation-revise", annotation, body).status_code == 404, body
    assert Annotation.objects.get().decision == "accept"
    owner = api(annotators[0])
    assert post(owner, "api-annotation-revise", annotation, {}).status_code == 400
    assert post(owner, "api-annotation-revise", annotation, {"decision": "reject", "reject_reason": "unclear"}).status_code == 200

    staff = api(maintainer)
    missing = item.pk + 1000
    assert post(staff, "api-adjudication-decide", missing, {}).status_code == 404
    assert post(staff, "api-adjudication-reopen", missing, {}).status_code == 404
    assert post(staff, "api-adjudication-decide", item.pk, {}).status_code == 400


def test_the_claim_answers_with_the_prompt_its_labels_techniques_twin_and_lease(taxonomy, annotators, api, hostile_strings):
    from curation.models import Dimension, Technique

    queue = make_queue(n=2)
    dimension = Dimension.objects.get(taxonomy__code="v251030", code="legality")
    sub = dimension.sub_dimensions.order_by("id").first()
    techniques = list(Technique.objects.order_by("order", "code")[:3])
    text = next(s for s in hostile_strings if "<script>" in s)
    twin = make_items(1)[0].prompt
    item = make_items(
        1, text=text, sub_dimension=sub, severity=4, risk_expression="implicit", expected_behaviour="refuse",
        reference_answers=["参考答案"], near_duplicate_of=twin, near_duplicate_score=0.91,
    )[0]
    item.prompt.techniques.set([t.pk for t in reversed(techniques)])
    client = api(annotators[0])
    first = post(client, "api-queue-next", queue.pk).json()  # the older item first
    post(client, "api-claim-submit", first["id"], {"decision": "accept"})
    response = post(client, "api-queue-next", queue.pk)
    assert response.status_code == 200
    claim = response.json()
    lease = Lease.objects.get(item=item, annotator=annotators[0])
    assert claim["id"] != first["id"] and claim["item"] == item.pk and claim["queue"] == queue.pk
    assert claim["expires_at"] and timezone.datetime.fromisoformat(claim["expires_at"]) == lease.expires_at
    prompt = claim["prompt"]
    assert prompt["text"] == text  # JSON carries the text as it is; pages escape it
    assert prompt["dimension"] == {"id": dimension.pk, "code": dimension.code, "name_zh": dimension.name_zh, "name_en": dimension.name_en}
    assert prompt["sub_dimension"] == {"id": sub.pk, "code": sub.code, "name_zh": sub.name_zh, "name_en": sub.name_en}
    assert prompt["techniques"] == [{"id": t.pk, "code": t.code} for t in techniques]  # in the taxonomy's order
    assert (prompt["severity"], prompt["risk_expression"], prompt["expected_behaviour"]) == (4, "implicit", "refuse")
    assert prompt["reference_answers"] == ["参考答案"]
    assert (prompt["near_duplicate_of"], prompt["near_duplicate_score"]) == (twin.pk, 0.91)
    # Asking again while holding it gives back the same claim, read afresh: the same answer, lease renewed.
    again = post(client, "api-queue-next", queue.pk).json()
    assert again.pop("expires_at") >= claim.pop("expires_at") and again == claim
    # An unlabelled prompt answers with empty labels, not missing ones.
    other = post(api(annotators[1]), "api-queue-next", queue.pk).json()["prompt"]
    assert other["id"] == twin.pk and other["sub_dimension"] is None and other["techniques"] == []


def test_a_review_over_the_api_costs_the_same_statements_whatever_the_queue_or_n(taxonomy, annotators, client, hostile_strings):
    """What a claim and a submit ask the database must not grow with the queue's N; on PostgreSQL a claim
    is the token check and one claim statement, and neither reads what the review does not show (the
    queue's guidelines, the prompt's provenance), however long."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from curation.models import Dimension, Technique

    tokens = {a.pk: Token.objects.create(user=a).key for a in annotators}
    texts = [s for s in hostile_strings if "\x00" not in s]
    costs: dict[str, set[int]] = {"claim": set(), "submit": set(), "final": set()}
    unshown: list[str] = []

    def counted(kind, annotator, name, pk, data=None):
        with CaptureQueriesContext(connection) as ctx:
            response = client.post(
                reverse(name, args=[pk]), data or {}, content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {tokens[annotator.pk]}",
            )
        # Savepoints are this test's transaction showing through, not the review's own statements.
        statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
        costs[kind].add(len(statements))
        if kind != "final":  # the decision itself reads and writes the whole prompt
            unshown.extend(sql for sql in statements if '"guidelines"' in sql or '"provenance"' in sql)
        return response

    for n, code in ((2, "legality"), (4, "ethics")):
        queue = make_queue(name=f"N={n}", n=n, dimensions=[code], guidelines="\n".join(texts) * 20)
        dimension = Dimension.objects.get(taxonomy__code="v251030", code=code)
        item = make_items(
            1, text=next(s for s in texts if "<script>" in s) + f" {n}", dimension=dimension,
            sub_dimension=dimension.sub_dimensions.first(), severity=4, risk_expression="implicit",
            reference_answers=["参考"], provenance={"notes": texts * 10},
        )[0]
        item.prompt.techniques.set(Technique.objects.order_by("id")[:2])
        for k, annotator in enumerate(annotators[:n]):
            claim = counted("claim", annotator, "api-queue-next", queue.pk)
            assert claim.status_code == 200 and claim.json()["item"] == item.pk
            kind = "final" if k == n - 1 else "submit"
            result = counted(kind, annotator, "api-claim-submit", claim.json()["id"], {"decision": "accept", "severity": 3})
            assert result.status_code == 201, result.content
        assert result.json()["item_state"] == "decided"
    assert all(len(c) == 1 for c in costs.values()), costs
    if connection.vendor == "postgresql":
        assert costs["claim"] == {2}
        assert unshown == []


def test_a_submit_for_an_item_the_client_did_not_show_is_refused_with_409(taxonomy, annotators, api):
    queue = make_queue(n=1)
    first, second = make_items(2)
    client = api(annotators[0])
    claim = post(client, "api-queue-next", queue.pk).json()
    assert (claim["item"], claim["prompt"]["id"]) == (first.pk, first.prompt_id)
    for body, shown in (({"shown_prompt": second.prompt_id}, second.prompt_id), ({"shown_item": second.pk}, second.pk)):
        refused = post(client, "api-claim-submit", claim["id"], {"decision": "accept", **body})
        assert refused.status_code == 409, refused.content
        assert refused.json()["code"] == "shown_mismatch" and f"#{shown}" in refused.json()["detail"]
    assert post(client, "api-claim-submit", claim["id"], {"decision": "accept", "shown_prompt": "二"}).status_code == 400
    assert not Annotation.objects.exists()
    assert Lease.objects.get(annotator=annotators[0]).state == "active"
    ok = post(client, "api-claim-submit", claim["id"],
              {"decision": "accept", "shown_prompt": claim["prompt"]["id"], "shown_item": claim["item"]})
    assert ok.status_code == 201 and ok.json()["annotation"]["prompt"] == first.prompt_id
