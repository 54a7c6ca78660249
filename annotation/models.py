import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension, Prompt, SubDimension, Taxonomy, Technique

# Annotators per item (N) and so lease slot numbers run from 1 to at most this.
MAX_ANNOTATORS_PER_ITEM = 20


class ReviewQueue(models.Model):
    class ConsensusRule(models.TextChoices):
        UNANIMOUS = "unanimous", _("Unanimous: approve only when decision, text and labels are identical")
        MAJORITY_LABELS = "majority_labels", _("Approve when decisions agree and labels have a majority")
        MAJORITY = "majority", _("Majority decision; text and labels by majority of those who accepted")

    name = models.CharField(_("Name"), max_length=200, unique=True)
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="queues")
    dimensions = models.ManyToManyField(Dimension, related_name="queues", blank=True)
    annotators_per_item = models.PositiveSmallIntegerField(_("Annotators per item"), default=3)
    lease_minutes = models.PositiveSmallIntegerField(_("Lease minutes"), default=20)
    guidelines = models.TextField(_("Guidelines (Markdown)"), blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_queues", blank=True)
    consensus_rule = models.CharField(
        _("Consensus rule"), max_length=32, choices=ConsensusRule.choices, default=ConsensusRule.UNANIMOUS
    )
    is_active = models.BooleanField(_("Active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(annotators_per_item__gte=1, annotators_per_item__lte=MAX_ANNOTATORS_PER_ITEM),
                name="queue_n_between_1_20",
            ),
            models.CheckConstraint(condition=models.Q(lease_minutes__gte=1), name="queue_lease_positive"),
        ]
        verbose_name = _("Review queue")
        verbose_name_plural = _("Review queue")

    def __str__(self) -> str:
        return self.name

    # Who may claim from a queue, the one rule: an active queue, open to everyone while it has no members and
    # to its members alone (whatever their role) once it has. The claim statement on PostgreSQL applies it as
    # SQL over the same three facts (columns of its queue row), and tests/annotation/test_claims.py checks the
    # two agree on every combination.
    CLAIM_RULE_SQL = "(is_active AND (is_member OR NOT has_members))"

    @staticmethod
    def claim_rule(*, is_active: bool, has_members: bool, is_member: bool) -> bool:
        return bool(is_active and (is_member or not has_members))


class Annotation(models.Model):
    """One annotator's review of one prompt: a decision and the labels they gave."""

    class Decision(models.TextChoices):
        ACCEPT = "accept", _("Accept")
        EDIT = "edit", _("Edit & accept")
        REJECT = "reject", _("Reject")

    class RejectReason(models.TextChoices):
        NOT_ADVERSARIAL = "not_adversarial", _("Not adversarial")
        DUPLICATE = "duplicate", _("Duplicate")
        WRONG_DIMENSION = "wrong_dimension", _("Wrong dimension")
        UNCLEAR = "unclear", _("Unclear")
        NOT_CHINESE_CONTEXT = "not_chinese_context", _("Not a Chinese context")
        OTHER = "other", _("Other")

    queue = models.ForeignKey(ReviewQueue, on_delete=models.PROTECT, related_name="annotations")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    decision = models.CharField(_("Decision"), max_length=16, choices=Decision.choices)
    final_text = models.TextField(_("Final text"))
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    sub_dimension = models.ForeignKey(SubDimension, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    techniques = models.ManyToManyField(Technique, related_name="+", blank=True)
    risk_expression = models.CharField(
        _("Risk expression"), max_length=16, choices=Prompt.RiskExpression.choices, blank=True
    )
    severity = models.PositiveSmallIntegerField(_("Severity"), null=True, blank=True)
    expected_behaviour = models.CharField(
        _("Expected safe behaviour"), max_length=32, choices=Prompt.ExpectedBehaviour.choices, blank=True
    )
    reference_answer = models.TextField(_("Reference answers"), blank=True)
    reject_reason = models.CharField(_("Reject reason"), max_length=32, choices=RejectReason.choices, blank=True)
    note = models.TextField(_("Note"), blank=True)
    seconds_spent = models.FloatField(_("Seconds spent"), default=0)
    is_surplus = models.BooleanField(_("Surplus"), default=False)
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    revisions = models.PositiveSmallIntegerField(_("Revisions"), default=0)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "annotator"], name="one_annotation_per_user_prompt"),
            models.CheckConstraint(
                condition=models.Q(severity__isnull=True) | models.Q(severity__gte=1, severity__lte=5),
                name="annotation_severity_1_5",
            ),
        ]
        indexes = [
            models.Index(fields=["queue", "submitted_at"], name="annotation_queue_time"),
            models.Index(fields=["annotator", "-submitted_at"], name="annotation_user_recent"),
        ]
        verbose_name = _("Annotation")
        verbose_name_plural = _("Annotation")

    def __str__(self) -> str:
        return f"{self.annotator_id}:{self.prompt_id}:{self.decision}"

    @property
    def keeps(self) -> bool:
        return self.decision != self.Decision.REJECT


# A slot-holding lease that is free "now" gets this instant, so one `free_at <= now` test covers both
# "has an unused slot" and "has an expired lease to take over".
FREE_NOW = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class SubmitStatus(models.TextChoices):
    """What became of a submit (not stored: the services' answer, shown by pages and the API)."""

    COUNTED = "counted"
    LATE = "late"  # the lease had expired, but the item still needed the review: it counts
    SURPLUS = "surplus"  # the lease had expired and the item had its N reviews: kept, not counted
    REVISED = "revised"  # a second submit for the same item revises the first


class ClaimStatus(models.TextChoices):
    """Where a claim stands, as the review page shows it (not stored)."""

    LIVE = "live"
    EXPIRED = "expired"  # still held: a late submit counts
    LOST = "lost"  # someone else took the slot
    DONE = "done"


class QueueItem(models.Model):
    """A prompt's place in a review queue, with counters kept in step with its leases.

    `submitted` and `leased` count lease rows (slots) holding a submission or a lease; `free_at` is the
    earliest moment a slot is claimable (FREE_NOW when one is free already, the first expiry when all
    N slots are taken, NULL when all N are submitted). They let the claim query read one index.
    """

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ADJUDICATION = "adjudication", _("Adjudication")
        DECIDED = "decided", _("Decided")

    class AdjudicationReason(models.TextChoices):
        DISAGREEMENT = "disagreement", _("Annotators disagree")
        REOPENED = "reopened", _("Reopened")
        DECIDE_FAILED = "decide_failed", _("The consensus could not be applied")

    queue = models.ForeignKey(ReviewQueue, on_delete=models.PROTECT, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="queue_items")
    state = models.CharField(_("State"), max_length=16, choices=State.choices, default=State.OPEN)
    adjudication_reason = models.CharField(
        _("Why adjudication"), max_length=16, choices=AdjudicationReason.choices, blank=True
    )
    adjudication_note = models.TextField(_("Adjudication note"), blank=True)
    submitted = models.PositiveSmallIntegerField(_("Submitted"), default=0)
    leased = models.PositiveSmallIntegerField(_("Leased"), default=0)
    free_at = models.DateTimeField(null=True, blank=True, default=FREE_NOW)
    outcome = models.CharField(
        _("Outcome"),
        max_length=16,
        blank=True,
        choices=[(Prompt.Status.APPROVED, Prompt.Status.APPROVED.label), (Prompt.Status.REJECTED, Prompt.Status.REJECTED.label)],
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("Decided at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One queue per prompt: two queues reaching two decisions on one prompt would contradict each other.
            models.UniqueConstraint(fields=["prompt"], name="one_queue_item_per_prompt"),
        ]
        indexes = [
            # The claim: open items of a queue, closest to completion first, then oldest.
            models.Index(fields=["queue", "-submitted", "id"], condition=models.Q(state="open"), name="queueitem_claim"),
            models.Index(fields=["queue", "state"], name="queueitem_queue_state"),
            models.Index(fields=["state", "updated_at"], name="queueitem_state_time"),
        ]
        verbose_name = _("Queue item")
        verbose_name_plural = _("Queue items")

    def __str__(self) -> str:
        return f"{self.queue_id}:{self.prompt_id}"


class Lease(models.Model):
    """One annotator's hold on one item: a claim (slot 1..N) or what became of it.

    A row holds a slot while `active` (claimed, maybe expired) or `submitted`; `skipped` and `surplus` rows
    hold none but still mark that the user has dealt with the item, so one (item, annotator) lookup tells
    the claim query what to leave out. An expired active row is taken over in place by the next claimer.
    """

    class State(models.TextChoices):
        ACTIVE = "active", _("Claimed")
        SUBMITTED = "submitted", _("Submitted")
        SKIPPED = "skipped", _("Skipped")
        SURPLUS = "surplus", _("Surplus")

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="leases")
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    state = models.CharField(_("State"), max_length=16, choices=State.choices, default=State.ACTIVE)
    claimed_at = models.DateTimeField(_("Claimed at"))
    expires_at = models.DateTimeField(_("Expires at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "slot"], name="lease_one_per_slot"),
            models.UniqueConstraint(fields=["item", "annotator"], name="lease_one_per_user_item"),
            models.CheckConstraint(
                condition=(models.Q(state__in=["active", "submitted"], slot__gte=1, slot__lte=MAX_ANNOTATORS_PER_ITEM))
                | (models.Q(state__in=["skipped", "surplus"], slot__isnull=True)),
                name="lease_slot_matches_state",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="active") | models.Q(expires_at__isnull=False),
                name="lease_active_expires",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator"], condition=models.Q(state="active"), name="lease_active_by_user"),
            models.Index(fields=["annotator", "state"], name="lease_user_state"),
        ]
        verbose_name = _("Lease")
        verbose_name_plural = _("Leases")

    def __str__(self) -> str:
        return f"{self.item_id}#{self.slot}:{self.annotator_id}:{self.state}"

    @property
    def holds_slot(self) -> bool:
        return self.slot is not None


class Claim(models.Model):
    """One "next item" handed to one annotator: the id clients heartbeat and submit against.

    Leases are reused in place when they expire, so a lease id alone cannot tell an annotator's late
    submit from someone else's; the claim proves who was given which item, and when.
    """

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="claims")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="claims")
    lease = models.ForeignKey(Lease, on_delete=models.SET_NULL, null=True, blank=True, related_name="claims")
    created_at = models.DateTimeField(_("Claimed at"))

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["lease", "annotator"], name="claim_lease_user")]
        verbose_name = _("Claim")
        verbose_name_plural = _("Claims")

    def __str__(self) -> str:
        return f"claim {self.pk}: {self.annotator_id} → {self.item_id}"
