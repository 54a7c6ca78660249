"""Claiming: which item comes next, leases, expiry and takeover, heartbeats, skips, and the database
constraints that hold whatever the code does."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation import services
from annotation.models import FREE_NOW, Annotation, Claim, Lease, QueueItem
from annotation.services import claims
from tests.annotation.conftest import expire
from tests.factories import UserFactory, make_items, make_queue

pytestmark = pytest.mark.django_db

ACCEPT = services.AnnotationInput(decision="accept")


def claim(queue, user):
    return services.lease_claim(queue=queue, user=user)


def submit(c, user, data=ACCEPT):
    return services.annotation_submit(claim_id=c.pk, user=user, data=data)


def test_next_prefers_items_closest_to_completion_then_the_oldest(taxonomy, annotators):
    queue = make_queue(n=3)
    first, second, third = make_items(3)
    a, b, c, d = annotators[:4]
    submit(claim(queue, a), a)  # nothing started yet: the oldest item
    # `first` has one submission: fresh annotators are sent there before the untouched ones.
    assert claim(queue, b).item_id == first.pk
    assert claim(queue, c).item_id == first.pk
    # `first` is now fully taken (1 submitted + 2 live leases): d gets the oldest untouched item.
    assert claim(queue, d).item_id == second.pk
    # a has annotated `first` and is never offered it again.
    assert claim(queue, a).item_id == second.pk
    assert third.pk not in Claim.objects.values_list("item_id", flat=True)


def test_an_annotator_ahead_of_the_others_still_gets_every_item_left_for_them(taxonomy, annotators, monkeypatch):
    # The items this annotator already reviewed fill the head of the "closest to completion" order
    # (a window of 2 here): the claim looks past them, and at the end also at others' partial items.
    monkeypatch.setattr(claims, "CLAIM_WINDOW", 2)
    queue = make_queue(n=3)
    items = make_items(6)
    a, b = annotators[:2]
    for _ in range(4):
        submit(claim(queue, a), a)
    c = claim(queue, b)
    assert c.item_id == items[0].pk  # the rule: the most complete (a's), then the oldest
    submit(c, b)
    for _ in range(4):
        submit(claim(queue, b), b)
    got = []
    while (c := claim(queue, a)) is not None:
        got.append(c.item_id)
        submit(c, a)
    # Left for a: the items only b has reviewed, however far past the window they are.
    assert sorted(got) == [items[4].pk, items[5].pk]
    assert claim(queue, b) is not None  # b still has one of a's items to do
    assert Annotation.objects.filter(annotator=a).count() == 6


def test_an_item_is_never_leased_beyond_n_and_next_returns_your_open_claim(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    a, b, c = annotators[:3]
    first = claim(queue, a)
    assert claim(queue, a).pk == first.pk  # asking again gives back the item you hold
    assert claim(queue, b).item_id == item.pk
    assert claim(queue, c) is None
    assert sorted(Lease.objects.filter(item=item).values_list("slot", flat=True)) == [1, 2]
    item.refresh_from_db()
    assert (item.submitted, item.leased) == (0, 2) and item.free_at > timezone.now()


def test_the_database_refuses_a_lease_beyond_n_or_a_second_one_for_a_user(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    a, b, c = annotators[:3]
    claim(queue, a)
    now = timezone.now()
    rows = [
        {"annotator": b, "slot": 3},  # beyond N
        {"annotator": b, "slot": 1},  # a slot that is taken
        {"annotator": a, "slot": 2},  # a second lease for the same user
    ]
    for row in rows:
        with pytest.raises(IntegrityError), transaction.atomic():
            Lease.objects.create(item=item, claimed_at=now, expires_at=now, state="active", **row)
    c_claim = claim(queue, c)
    submit(c_claim, c)
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(queue=queue, prompt=item.prompt, annotator=c, decision="accept", final_text="x")


def test_an_expired_lease_is_taken_over_in_place_and_the_late_submit_is_kept_as_surplus(taxonomy, annotators):
    queue = make_queue(n=1)
    (item,) = make_items(1)
    a, b = annotators[:2]
    a_claim = claim(queue, a)
    expire(a_claim)
    b_claim = claim(queue, b)
    assert b_claim.item_id == item.pk and b_claim.lease_id == a_claim.lease_id  # same row, new holder
    assert Lease.objects.get(pk=a_claim.lease_id).annotator == b
    with pytest.raises(services.LeaseLost):
        services.lease_heartbeat(claim_id=a_claim.pk, user=a)
    late = submit(a_claim, a)
    assert late.status == "surplus" and late.annotation.is_surplus
    assert Annotation.objects.filter(annotator=a, prompt=item.prompt).exists()  # stored, not dropped
    on_time = submit(b_claim, b)
    assert on_time.status == "counted" and on_time.item_state == "decided"


def test_a_late_submit_counts_when_nobody_took_the_lease(taxonomy, annotators):
    queue = make_queue(n=1)
    make_items(1)
    a = annotators[0]
    a_claim = claim(queue, a)
    expire(a_claim)
    result = submit(a_claim, a)
    assert result.status == "late" and not result.annotation.is_surplus
    assert result.item_state == "decided"


def test_a_late_submit_takes_a_slot_that_came_free_again(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    a, b, c = annotators[:3]
    a_claim, b_claim = claim(queue, a), claim(queue, b)
    expire(a_claim)
    c_claim = claim(queue, c)
    assert c_claim.lease_id == a_claim.lease_id
    services.lease_skip(claim_id=c_claim.pk, user=c)
    result = submit(a_claim, a)
    assert result.status == "late" and not result.annotation.is_surplus
    submit(b_claim, b)
    item.refresh_from_db()
    assert item.state == "decided" and item.submitted == 2


def test_heartbeat_keeps_a_lease_alive_and_revives_an_expired_one_nobody_took(taxonomy, annotators):
    queue = make_queue(lease_minutes=20)
    (item,) = make_items(1)
    a, b = annotators[:2]
    a_claim = claim(queue, a)
    expire(a_claim)
    lease = services.lease_heartbeat(claim_id=a_claim.pk, user=a)
    assert lease.expires_at > timezone.now() + timezone.timedelta(minutes=19)
    item.refresh_from_db()
    assert item.free_at == FREE_NOW  # 1 of 3 slots taken: still open to others
    with pytest.raises(services.NotAllowed):
        services.lease_heartbeat(claim_id=a_claim.pk, user=b)


def test_skipped_items_are_not_offered_again_until_taken_back(taxonomy, annotators):
    queue = make_queue(n=2)
    first, second = make_items(2)
    a, b = annotators[:2]
    a_claim = claim(queue, a)
    assert a_claim.item_id == first.pk
    services.lease_skip(claim_id=a_claim.pk, user=a)
    assert claim(queue, b).item_id == first.pk  # the slot went back to everyone
    next_for_a = claim(queue, a)
    assert next_for_a.item_id == second.pk
    services.lease_skip(claim_id=next_for_a.pk, user=a)
    assert claim(queue, a) is None
    assert services.lease_unskip(item_id=first.pk, user=a)
    assert claim(queue, a).item_id == first.pk


def test_members_only_queues_refuse_others_and_inactive_queues_refuse_everyone(taxonomy, annotators):
    a, b = annotators[:2]
    queue = make_queue(members=[b])
    make_items(1)
    with pytest.raises(services.NotAllowed):
        claim(queue, a)
    assert claim(queue, b) is not None
    queue.is_active = False
    queue.save()
    with pytest.raises(services.NotAllowed):
        claim(queue, b)


def test_a_claim_is_only_usable_by_its_annotator(taxonomy, annotators):
    queue = make_queue()
    make_items(1)
    a, b = annotators[:2]
    a_claim = claim(queue, a)
    with pytest.raises(services.NotAllowed):
        submit(a_claim, b)
    with pytest.raises(services.NotAllowed):
        services.lease_skip(claim_id=a_claim.pk, user=b)
    assert not Annotation.objects.exists()


def test_maintainers_may_claim_when_the_queue_lets_them(taxonomy, maintainer):
    queue = make_queue()
    make_items(1)
    assert claim(queue, maintainer) is not None
    members_only = make_queue(name="仅成员", members=[UserFactory(username="m1", role="Annotator", password=None)])
    with pytest.raises(services.NotAllowed):
        claim(members_only, maintainer)


def test_counters_that_drifted_are_repaired_by_the_next_claim(taxonomy, annotators):
    queue = make_queue(n=1)
    first, second = make_items(2)
    a, b = annotators[:2]
    claim(queue, a)
    # Pretend the first item's counters went wrong: it looks free although its only slot is leased.
    QueueItem.objects.filter(pk=first.pk).update(free_at=FREE_NOW, leased=0)
    got = claim(queue, b)
    assert got.item_id == second.pk
    first.refresh_from_db()
    assert first.leased == 1 and first.free_at > timezone.now()


def test_a_queue_whose_items_all_stay_locked_says_busy_not_empty(taxonomy, annotators, monkeypatch, client):
    queue = make_queue()
    make_items(1)

    def always_locked(queue_id, user, with_prompt):
        raise claims._Busy

    monkeypatch.setattr(claims, "_claim_once", always_locked)
    with pytest.raises(services.QueueBusy):
        services.lease_claim(queue=queue, user=annotators[0], patience=0.05)

    def busy(**kwargs):
        raise services.QueueBusy("busy now")

    monkeypatch.setattr(services, "lease_claim", busy)
    client.force_login(annotators[0])
    from django.urls import reverse

    response = client.post(reverse("api-queue-next", args=[queue.pk]), content_type="application/json")
    assert response.status_code == 503 and response.json()["code"] == "busy"
    page = client.post(reverse("annotation:next", args=[queue.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "busy now" in page and "data-start" in page


@pytest.mark.parametrize("is_active", [True, False])
@pytest.mark.parametrize("has_members", [True, False])
@pytest.mark.parametrize("is_member", [True, False])
def test_the_claim_rule_in_python_and_in_sql_agree(is_active, has_members, is_member):
    from django.db import connection

    from annotation.models import ReviewQueue

    expected = ReviewQueue.claim_rule(is_active=is_active, has_members=has_members, is_member=is_member)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT CASE WHEN {ReviewQueue.CLAIM_RULE_SQL} THEN 1 ELSE 0 END FROM (SELECT %s AS is_active, "
            "%s AS has_members, %s AS is_member) AS q",
            [is_active, has_members, is_member],
        )
        assert bool(cursor.fetchone()[0]) is expected


def test_a_submit_after_skipping_an_item_that_filled_up_meanwhile_is_kept_as_surplus(taxonomy, annotators):
    queue = make_queue(n=2)
    (item,) = make_items(1)
    a, b, c = annotators[:3]
    skipped = services.lease_claim(queue=queue, user=a)
    services.lease_skip(claim_id=skipped.pk, user=a)
    for user in (b, c):
        submit(claim(queue, user), user)
    result = services.annotation_submit(
        claim_id=skipped.pk, user=a, data=services.AnnotationInput(decision="reject", reject_reason="duplicate")
    )
    assert result.status == "surplus" and result.annotation.is_surplus
    assert Lease.objects.get(item=item, annotator=a).state == Lease.State.SURPLUS
