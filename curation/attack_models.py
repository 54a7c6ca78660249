"""The attack run table (imported by curation.models, so it belongs to the curation app)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AttackRun(models.Model):
    """An attacker model rewriting one seed prompt against a target, guided by a judge (PAIR / TAP)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    seed_prompt = models.ForeignKey("curation.Prompt", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="attack_runs", verbose_name=_("Seed prompt"))
    seed_text = models.TextField(_("Seed text"))  # the goal as the loop used it (a seed prompt's text is copied)
    dimension = models.ForeignKey("curation.Dimension", on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("Dimension"))
    attacker = models.ForeignKey("llm.ModelEndpoint", on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("Attacker"))
    target = models.ForeignKey("llm.ModelEndpoint", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("Target"))
    judge = models.ForeignKey("llm.ModelEndpoint", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("Judge"))
    streams = models.PositiveSmallIntegerField(_("Streams"), default=3)
    iterations = models.PositiveSmallIntegerField(_("Iterations"), default=4)
    branching = models.PositiveSmallIntegerField(_("Branching factor"), default=1)
    width = models.PositiveSmallIntegerField(_("Width kept"), default=1)
    tap = models.BooleanField(_("TAP pruning"), default=False)
    threshold = models.PositiveSmallIntegerField(_("Success score"), default=10)
    mutation_rate = models.FloatField(_("Offline mutation rate"), default=0.2)
    seed = models.BigIntegerField(_("Seed"), default=0)
    max_calls = models.PositiveIntegerField(_("Max calls"), default=60)
    max_tokens = models.PositiveIntegerField(_("Max tokens"), default=200_000)
    max_seconds = models.PositiveIntegerField(_("Max seconds"), default=600)
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    stop_reason = models.CharField(max_length=32, blank=True)
    calls = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)
    candidates_created = models.PositiveIntegerField(default=0)
    candidates_skipped = models.JSONField(default=list, blank=True)  # successes the gate or dedup kept out, and why
    error = models.TextField(blank=True)
    state = models.JSONField(default=dict, blank=True)  # curation.attack state: every node of every chain
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Attack run")
        verbose_name_plural = _("Attack runs")
        constraints = [
            models.CheckConstraint(condition=models.Q(streams__gte=1, iterations__gte=1, branching__gte=1,
                                                      width__gte=1), name="attack_run_shape"),
            models.CheckConstraint(condition=models.Q(threshold__gte=1, threshold__lte=10),
                                   name="attack_run_threshold"),
        ]

    def __str__(self) -> str:
        return f"attack run {self.pk} ({self.status})"
