import pytest

from tests.factories import UserFactory


@pytest.fixture
def annotators(db):
    """Five annotators, ann1 … ann5 (no usable password: hashing five would slow every test)."""
    return [UserFactory(username=f"ann{i}", role="Annotator", password=None) for i in range(1, 6)]


def expire(claim) -> None:
    """Let a claim's lease run out, as if its annotator had walked away for longer than the lease."""
    from django.utils import timezone

    from annotation.models import Lease, QueueItem

    past = timezone.now() - timezone.timedelta(seconds=1)
    Lease.objects.filter(pk=claim.lease_id).update(expires_at=past)
    # The item's free_at is the earliest expiry of its leases, so time passing moves it too.
    QueueItem.objects.filter(pk=claim.item_id, free_at__gt=past).update(free_at=past)
