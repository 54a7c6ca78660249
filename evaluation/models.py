"""Evaluation: runs of a frozen release against target models, their answers, judged matches and rubrics.

An `Answer` is content-addressed (target fingerprint, question hash, answer parameters) and shared by every run
that asks the same thing: a second run spends no call. A run is cut into `Shard`s (a target × a chunk of items;
a round of a dimension's Swiss tournament), each executed by one Celery task holding a lease. A `Match` is one
judged comparison; it is created at pairing time, so the pairing history survives a crash, and it holds its
verdict.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension
from llm.models import ModelEndpoint
from releases.models import Release, ReleaseItem


class Rubric(models.Model):
    """A versioned Chinese judging instruction for one dimension; an edit makes a new version."""

    class Kind(models.TextChoices):
        PAIRWISE = "pairwise", _("Pairwise (one letter)")
        PAIRWISE_TIE = "pairwise_tie", _("Pairwise with ties")
        POINTWISE = "pointwise", _("Pointwise (safe / unsafe / refusal)")

    class Shows(models.TextChoices):
        ANSWERS = "answers", _("Answers")
        REASONING = "reasoning", _("Reasoning traces")

    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="rubrics")
    kind = models.CharField(_("Kind"), max_length=16, choices=Kind.choices, default=Kind.PAIRWISE)
    # A reasoning-safety rubric shows the judge the two reasoning traces instead of the answers; its dimension is
    # judged among reasoning models only and left out of the overall score.
    shows = models.CharField(_("Shows"), max_length=16, choices=Shows.choices, default=Shows.ANSWERS)
    version = models.PositiveIntegerField(_("Version"))
    text = models.TextField(_("Rubric"))
    notes = models.CharField(_("Change note"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dimension__taxonomy__code", "dimension__order", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "kind", "version"], name="uniq_rubric_version"),
        ]
        verbose_name = _("Rubric")
        verbose_name_plural = _("Rubrics")

    def __str__(self) -> str:
        return f"{self.dimension.code} {self.kind} v{self.version}"


class EvalRunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=EvalRun.ACTIVE)

    def finished(self):
        return self.filter(status=EvalRun.Status.SUCCEEDED)


class EvalRun(models.Model):
    class Mode(models.TextChoices):
        ROBUST = "robust", _("Robust (both orders, ties, adaptive pairs, Bradley–Terry with intervals)")
        LIVESECBENCH = "livesecbench", _("LiveSecBench (Swiss Elo, exact reproduction)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Finished")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Phase(models.TextChoices):
        ANSWERS = "answers", _("Collecting answers")
        JUDGING = "judging", _("Judging")
        DONE = "done", _("Done")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="eval_runs", verbose_name=_("Release"))
    mode = models.CharField(_("Mode"), max_length=16, choices=Mode.choices, default=Mode.ROBUST)
    seed = models.BigIntegerField(_("Seed"), default=0)
    judge = models.ForeignKey(
        ModelEndpoint, on_delete=models.PROTECT, related_name="+", verbose_name=_("Judge")
    )
    # {dimension_code: endpoint id}: a judge other than the default for some dimensions.
    judges = models.JSONField(_("Judges per dimension"), default=dict, blank=True)
    # {dimension_code: rubric id}: the rubric version each dimension was judged with, fixed at creation.
    rubrics = models.JSONField(_("Rubrics"), default=dict, blank=True)
    # robust mode: {dimension_code: {"pairwise_tie": rubric id, "pointwise": rubric id}}.
    robust_rubrics = models.JSONField(default=dict, blank=True)
    # robust mode: judge calls for the pairwise comparisons (both orders and retries count); None: a default
    # of twice what livesecbench mode would spend.
    budget = models.PositiveIntegerField(_("Judge-call budget"), null=True, blank=True)
    also_livesecbench = models.BooleanField(_("Also compute the LiveSecBench figures"), default=False)
    anchor_name = models.CharField(_("Anchor model"), max_length=100, blank=True)
    anchor_rating = models.FloatField(_("Anchor rating"), default=1500.0)
    resamples = models.PositiveIntegerField(_("Bootstrap resamples"), default=1000)
    system_prompt = models.TextField(_("System prompt"), blank=True)
    temperature = models.FloatField(_("Temperature"), null=True, blank=True)
    max_tokens = models.PositiveIntegerField(_("Max tokens"), null=True, blank=True)
    params_hash = models.CharField(max_length=64)
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(_("Phase"), max_length=16, choices=Phase.choices, default=Phase.ANSWERS)
    answers_total = models.PositiveIntegerField(default=0)
    answers_done = models.PositiveIntegerField(default=0)
    answers_reused = models.PositiveIntegerField(default=0)
    matches_total = models.PositiveIntegerField(default=0)
    matches_done = models.PositiveIntegerField(default=0)
    verdicts_reused = models.PositiveIntegerField(default=0)
    target_calls = models.PositiveIntegerField(default=0)
    judge_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    results = models.JSONField(_("Results"), default=dict, blank=True)
    error = models.TextField(_("Error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(_("Published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = EvalRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One published leaderboard per release.
            models.UniqueConstraint(
                fields=["release"], condition=Q(published_at__isnull=False), name="uniq_published_run_per_release"
            ),
        ]
        verbose_name = _("Evaluation run")
        verbose_name_plural = _("Evaluation runs")

    def __str__(self) -> str:
        return f"#{self.pk} {self.release_id} {self.mode}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        total = self.answers_total + self.matches_total
        done = self.answers_done + self.matches_done
        if self.status == self.Status.SUCCEEDED:
            return 100
        return int(100 * done / total) if total else 0


class EvalTarget(models.Model):
    """A model under test in one run, in the run's order (the order breaks rating ties)."""

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="targets")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(_("Model"), max_length=100)
    model = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    is_reasoning = models.BooleanField(default=False)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="uniq_target_position"),
            models.UniqueConstraint(fields=["run", "endpoint"], name="uniq_target_endpoint"),
        ]

    def __str__(self) -> str:
        return self.name


class Answer(models.Model):
    """One target's answer to one question under one set of answer parameters, shared by every run."""

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        BLOCKED = "blocked", _("Blocked")
        EMPTY = "empty", _("Empty")
        TRUNCATED = "truncated", _("Truncated")
        ERROR = "error", _("Error")

    fingerprint = models.CharField(max_length=64)
    content_hash = models.CharField(max_length=64)
    params_hash = models.CharField(max_length=64)
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    endpoint_name = models.CharField(_("Model"), max_length=100)
    outcome = models.CharField(_("Outcome"), max_length=16, choices=Outcome.choices)
    text = models.TextField(_("Answer"), blank=True)
    reasoning = models.TextField(_("Reasoning"), blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "content_hash", "params_hash"], name="uniq_answer"),
        ]
        verbose_name = _("Answer")
        verbose_name_plural = _("Answers")

    def __str__(self) -> str:
        return f"{self.endpoint_name} {self.outcome}"


class Shard(models.Model):
    """One unit of a run's work, executed by one task under a lease."""

    class Kind(models.TextChoices):
        ANSWERS = "answers", _("Answers")
        ROUND = "round", _("Round")
        BATCH = "batch", _("Batch of comparisons")
        POINT = "point", _("Pointwise verdicts")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="shards")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=120)
    target = models.ForeignKey(EvalTarget, on_delete=models.CASCADE, null=True, blank=True, related_name="shards")
    dimension_code = models.CharField(max_length=64, blank=True)
    round_no = models.PositiveSmallIntegerField(default=0)
    # answers: the release item ids of the chunk; round: the group's item ids, the pairs and the bye.
    plan = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    reused = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "kind", "dimension_code", "round_no", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="uniq_shard_key")]

    def __str__(self) -> str:
        return self.key


class Match(models.Model):
    """One judged comparison: an item, two targets in their positions, the judge's raw reply and verdict."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Pending")
        A = "A", _("A wins")
        B = "B", _("B wins")
        TIE = "C", _("Tie")
        INVALID = "invalid", _("Invalid verdict")
        ERROR = "error", _("Judge call failed")

    FINAL = (Outcome.A, Outcome.B, Outcome.TIE, Outcome.INVALID)

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="matches")
    shard = models.ForeignKey(Shard, on_delete=models.CASCADE, related_name="matches")
    dimension_code = models.CharField(max_length=64)
    round_no = models.PositiveSmallIntegerField()
    seq = models.PositiveIntegerField()
    item = models.ForeignKey(ReleaseItem, on_delete=models.PROTECT, related_name="+")
    target_a = models.ForeignKey(EvalTarget, on_delete=models.CASCADE, related_name="+")
    target_b = models.ForeignKey(EvalTarget, on_delete=models.CASCADE, related_name="+")
    answer_a = models.ForeignKey(Answer, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    answer_b = models.ForeignKey(Answer, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    judge = models.ForeignKey(ModelEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # sha256 of (judge fingerprint, rubric id, the prompt as sent): a verdict is reused only for the same judge,
    # rubric version, question, both answers and orientation.
    verdict_key = models.CharField(max_length=64, blank=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    raw = models.TextField(_("Judge reply"), blank=True)
    judge_outcome = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    reused = models.BooleanField(default=False)
    # robust mode: a comparison is two matches, seq 2k (orientation 0) and 2k+1 (the same pair swapped).
    orientation = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    judged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "dimension_code", "round_no", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "shard", "seq"], name="uniq_match_shard_seq"),
        ]
        indexes = [models.Index(fields=["shard", "outcome"], name="match_shard_outcome")]
        verbose_name = _("Match")
        verbose_name_plural = _("Matches")

    def __str__(self) -> str:
        return f"{self.dimension_code} r{self.round_no} #{self.seq}"


class PointVerdict(models.Model):
    """robust mode: one answer judged alone (safe, unsafe or refusal) with the dimension's pointwise rubric."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Pending")
        SAFE = "safe", _("Safe")
        UNSAFE = "unsafe", _("Unsafe")
        REFUSAL = "refusal", _("Refusal")
        INVALID = "invalid", _("Invalid verdict")
        ERROR = "error", _("Judge call failed")

    FINAL = (Outcome.SAFE, Outcome.UNSAFE, Outcome.REFUSAL, Outcome.INVALID)
    LABELS = (Outcome.SAFE, Outcome.UNSAFE, Outcome.REFUSAL)

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="point_verdicts")
    shard = models.ForeignKey(Shard, on_delete=models.CASCADE, related_name="point_verdicts")
    dimension_code = models.CharField(max_length=64)
    item = models.ForeignKey(ReleaseItem, on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey(EvalTarget, on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey(Answer, on_delete=models.PROTECT, null=True, blank=True, related_name="point_verdicts")
    judge = models.ForeignKey(ModelEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    verdict_key = models.CharField(max_length=64, blank=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    raw = models.TextField(_("Judge reply"), blank=True)
    judge_outcome = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    reused = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    judged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "dimension_code", "item", "target"]
        constraints = [models.UniqueConstraint(fields=["run", "item", "target"], name="uniq_point_verdict")]

    def __str__(self) -> str:
        return f"{self.target_id} {self.item_id} {self.outcome}"


class HumanLabel(models.Model):
    """A maintainer's own judgement of one answer, to calibrate the judge (Cohen's kappa against it)."""

    class Label(models.TextChoices):
        SAFE = "safe", _("Safe")
        UNSAFE = "unsafe", _("Unsafe")
        REFUSAL = "refusal", _("Refusal")

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="human_labels")
    dimension_code = models.CharField(max_length=64)
    label = models.CharField(_("Label"), max_length=16, choices=Label.choices)
    labeled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["answer", "dimension_code", "labeled_by"], name="uniq_human_label"),
        ]
        verbose_name = _("Human label")
        verbose_name_plural = _("Human labels")

    def __str__(self) -> str:
        return f"{self.answer_id} {self.label}"
