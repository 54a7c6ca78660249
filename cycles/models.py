"""The live cycle: a standing plan, and one cycle per period that walks events → generation → review → cut →
approval → freeze → exports → evaluation → leaderboard → report, one step at a time."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CyclePlan(models.Model):
    """What every cycle of a series does: how many candidates per dimension, from which events, which models
    evaluate the cut, and when in the period generation starts and the release is cut."""

    class Period(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        WEEKLY = "weekly", _("Weekly")

    class GenerationMode(models.TextChoices):
        LLM = "llm", _("LLM generation")
        MUTATION = "mutation", _("Offline mutation")

    name = models.CharField(_("Name"), max_length=100, unique=True)
    taxonomy = models.ForeignKey("curation.Taxonomy", on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("Taxonomy"))
    enabled = models.BooleanField(_("Opens cycles on schedule"), default=True)
    period = models.CharField(_("Period"), max_length=16, choices=Period.choices, default=Period.MONTHLY)
    generate_day = models.PositiveSmallIntegerField(_("Generation starts on day"), default=1)
    cut_day = models.PositiveSmallIntegerField(_("Release is cut on day"), default=25)
    # {dimension code: candidates to generate}; a dimension left out gets none.
    counts = models.JSONField(_("Candidates per dimension"), default=dict)
    generation_mode = models.CharField(_("Generation"), max_length=16, choices=GenerationMode.choices,
                                       default=GenerationMode.LLM)
    generator = models.ForeignKey("llm.ModelEndpoint", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", verbose_name=_("Generator endpoint"))
    event_lookback_days = models.PositiveSmallIntegerField(_("Events of the last N days"), default=45)
    targets = models.ManyToManyField("llm.ModelEndpoint", related_name="+", verbose_name=_("Targets"))
    judge = models.ForeignKey("llm.ModelEndpoint", on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("Judge"))
    eval_mode = models.CharField(_("Evaluation mode"), max_length=16, default="livesecbench")
    seed = models.IntegerField(_("Seed"), default=0)
    holdout_fraction = models.FloatField(_("Hold-out fraction"), default=0.0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Cycle(models.Model):
    """One period of a plan. `step` is where it stands; the plan is copied into `plan_copy` when it opens, so editing
    the plan later changes the next cycle, not this one."""

    class Step(models.TextChoices):
        EVENTS = "events", _("Collect events")
        GENERATE = "generate", _("Generate candidates")
        REVIEW = "review", _("Review")
        DRAFT = "draft", _("Draft the release")
        APPROVE = "approve", _("Approve the cut")
        FREEZE = "freeze", _("Freeze")
        EXPORT = "export", _("Export")
        EVALUATE = "evaluate", _("Evaluate")
        PUBLISH = "publish", _("Publish the leaderboard")
        REPORT = "report", _("Write the report")
        DONE = "done", _("Done")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Running")
        WAITING = "waiting", _("Waiting")
        FAILED = "failed", _("Failed")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    plan = models.ForeignKey(CyclePlan, on_delete=models.PROTECT, related_name="cycles", verbose_name=_("Plan"))
    label = models.CharField(_("Period"), max_length=16)
    period_start = models.DateField(_("Starts"))
    period_end = models.DateField(_("Ends"))
    generate_at = models.DateTimeField(_("Generation starts"))
    cut_at = models.DateTimeField(_("Cut"))
    plan_copy = models.JSONField(default=dict)  # the plan as it was when the cycle opened
    step = models.CharField(_("Step"), max_length=16, choices=Step.choices, default=Step.EVENTS)
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # What the step waits for, or why it failed: {"code": …, "params": {…}} (worded in the reader's language).
    wait = models.JSONField(default=dict, blank=True)
    error = models.TextField(_("Error"), blank=True)
    attempts = models.PositiveIntegerField(default=0)  # failed tries of the current step
    retry_at = models.DateTimeField(null=True, blank=True)
    events = models.ManyToManyField("generation.Event", blank=True, related_name="cycles")
    generation_runs = models.ManyToManyField("generation.GenerationRun", blank=True, related_name="cycles")
    release = models.OneToOneField("releases.Release", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="cycle")
    eval_run = models.OneToOneField("evaluation.EvalRun", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="cycle")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    report_zh = models.TextField(blank=True)
    report_en = models.TextField(blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [models.UniqueConstraint(fields=["plan", "period_start"], name="cycle_one_per_period")]

    def __str__(self) -> str:
        return f"{self.plan.name} {self.label}"

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.DONE, self.Status.CANCELLED)


class CycleLog(models.Model):
    """What happened to a cycle, step by step (append-only): the page's history."""

    class Kind(models.TextChoices):
        STARTED = "started", _("started")
        DONE = "done", _("done")
        WAITING = "waiting", _("waiting")
        FAILED = "failed", _("failed")
        RETRIED = "retried", _("retried")
        ACTION = "action", _("action")

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="log")
    step = models.CharField(max_length=16, choices=Cycle.Step.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.CharField(max_length=40, blank=True)  # a code, worded by cycles.selectors
    params = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.cycle_id} {self.step} {self.kind} {self.message}"
