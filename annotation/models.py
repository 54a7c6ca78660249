from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension, Prompt, SubDimension, Taxonomy, Technique


class ReviewQueue(models.Model):
    class ConsensusRule(models.TextChoices):
        UNANIMOUS = "unanimous", _("Unanimous: approve only when decision, text and labels are identical")
        MAJORITY_LABELS = "majority_labels", _("Approve when decisions agree and labels have a majority")

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

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(annotators_per_item__gte=1, annotators_per_item__lte=20),
                name="queue_n_between_1_20",
            ),
            models.CheckConstraint(condition=models.Q(lease_minutes__gte=1), name="queue_lease_positive"),
        ]
        verbose_name = _("Review queue")
        verbose_name_plural = _("Review queue")

    def __str__(self) -> str:
        return self.name


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

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "annotator"], name="one_annotation_per_user_prompt"),
            models.CheckConstraint(
                condition=models.Q(severity__isnull=True) | models.Q(severity__gte=1, severity__lte=5),
                name="annotation_severity_1_5",
            ),
        ]
        indexes = [models.Index(fields=["queue", "submitted_at"], name="annotation_queue_time")]
        verbose_name = _("Annotation")
        verbose_name_plural = _("Annotation")

    def __str__(self) -> str:
        return f"{self.annotator_id}:{self.prompt_id}:{self.decision}"

    @property
    def keeps(self) -> bool:
        return self.decision != self.Decision.REJECT
