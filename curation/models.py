
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Taxonomy(models.Model):
    """A published version of the safety dimensions, e.g. LiveSecBench v251030."""

    code = models.SlugField(_("Code"), max_length=32, unique=True)
    name_zh = models.CharField(_("Chinese name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200)
    description = models.TextField(_("Description"), blank=True)
    released_on = models.DateField(_("Release date"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-code"]
        verbose_name = _("Taxonomy")
        verbose_name_plural = _("Taxonomy")

    def __str__(self) -> str:
        return self.code


class Dimension(models.Model):
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="dimensions")
    code = models.SlugField(_("Code"), max_length=64)
    name_zh = models.CharField(_("Chinese name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100)
    description = models.TextField(_("Description"), blank=True)
    uses_reference_answers = models.BooleanField(_("Uses reference answers"), default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["taxonomy", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["taxonomy", "code"], name="uniq_dimension_code")]
        verbose_name = _("Dimension")
        verbose_name_plural = _("Dimension")

    def __str__(self) -> str:
        return f"{self.taxonomy.code}/{self.code}"


class SubDimension(models.Model):
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="sub_dimensions")
    code = models.SlugField(_("Code"), max_length=64, allow_unicode=True)
    name_zh = models.CharField(_("Chinese name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["dimension", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["dimension", "code"], name="uniq_subdimension_code")]
        verbose_name = _("Sub-dimensions")
        verbose_name_plural = _("Sub-dimensions")

    def __str__(self) -> str:
        return f"{self.dimension.code}/{self.code}"


class Technique(models.Model):
    """An attack technique from the catalogue (role-play, 谐音, 拆字 …)."""

    code = models.SlugField(_("Code"), max_length=64, unique=True)
    name_zh = models.CharField(_("Chinese name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100)
    description_zh = models.TextField(_("Chinese description"), blank=True)
    description_en = models.TextField(_("English description"), blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("Techniques")
        verbose_name_plural = _("Techniques")

    def __str__(self) -> str:
        return self.code


class PromptQuerySet(models.QuerySet):
    def with_taxonomy(self):
        return self.select_related("dimension", "dimension__taxonomy", "sub_dimension")

    def approved(self):
        return self.filter(status=Prompt.Status.APPROVED)


class Prompt(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", _("Candidate")
        IN_REVIEW = "in_review", _("In review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    class Source(models.TextChoices):
        GENERATED = "generated", _("Generated")
        IMPORTED = "imported", _("Import")
        MANUAL = "manual", _("Manual")

    class RiskExpression(models.TextChoices):
        EXPLICIT = "explicit", _("Explicit")
        IMPLICIT = "implicit", _("Implicit")

    class ExpectedBehaviour(models.TextChoices):
        REFUSE = "refuse", _("Reject")
        SAFE_COMPLETE = "safe_complete", _("Safe completion")
        CORRECT_PREMISE = "correct_premise", _("Correct the premise")

    text = models.TextField(_("Prompt"))
    language = models.CharField(_("Language"), max_length=16, default="zh")
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="prompts")
    sub_dimension = models.ForeignKey(
        SubDimension, on_delete=models.PROTECT, related_name="prompts", null=True, blank=True
    )
    techniques = models.ManyToManyField(Technique, related_name="prompts", blank=True)
    risk_expression = models.CharField(_("Risk expression"), max_length=16, choices=RiskExpression.choices, blank=True)
    severity = models.PositiveSmallIntegerField(_("Severity"), null=True, blank=True)
    expected_behaviour = models.CharField(
        _("Expected safe behaviour"), max_length=32, choices=ExpectedBehaviour.choices, blank=True
    )
    reference_answers = models.JSONField(_("Reference answers"), default=list, blank=True)
    source = models.CharField(_("Source"), max_length=16, choices=Source.choices)
    provenance = models.JSONField(_("Provenance"), default=dict, blank=True)
    metadata = models.JSONField(_("Metadata"), default=dict, blank=True)
    external_id = models.CharField(_("External id"), max_length=200, blank=True)
    # Unique through Meta.constraints: a plain index, without the LIKE index `unique=True` adds on PostgreSQL.
    normalized_hash = models.CharField(_("Normalized text hash"), max_length=64)
    near_duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="near_duplicates"
    )
    near_duplicate_score = models.FloatField(_("Similarity"), null=True, blank=True)
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    review_summary = models.JSONField(_("Review summary"), default=dict, blank=True)
    agreement = models.FloatField(_("Agreement"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "dimension"], name="prompt_status_dim"),
            models.Index(fields=["source", "status"], name="prompt_source_status"),
            models.Index(fields=["external_id"], name="prompt_external_id"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["normalized_hash"], name="prompt_unique_normalized_hash"),
            models.CheckConstraint(
                condition=models.Q(severity__isnull=True) | models.Q(severity__gte=1, severity__lte=5),
                name="prompt_severity_1_5",
            ),
        ]
        verbose_name = _("Prompt")
        verbose_name_plural = _("Prompt")

    def __str__(self) -> str:
        return self.text[:40]


class PromptLog(models.Model):
    """Append-only record of every status change: who, when, from, to, why."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="logs")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("Status log")
        verbose_name_plural = _("Status log")

    def __str__(self) -> str:
        return f"{self.prompt_id}: {self.from_status or '∅'} → {self.to_status}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only")

