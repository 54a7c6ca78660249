"""Generation: templates, events and their sources, runs and their batches, attack runs."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension, SubDimension, Taxonomy, Technique


class GeneratorTemplate(models.Model):
    """A versioned Chinese prompt for the generator model, for one dimension or one technique.

    Rows are never edited: saving a change adds the next version, so every candidate's provenance
    names the exact text that produced it.
    """

    class Scope(models.TextChoices):
        DIMENSION = "dimension", _("Dimension")
        TECHNIQUE = "technique", _("Technique")

    scope = models.CharField(_("Scope"), max_length=16, choices=Scope.choices)
    dimension = models.ForeignKey(
        Dimension, on_delete=models.PROTECT, null=True, blank=True, related_name="generator_templates"
    )
    technique = models.ForeignKey(
        Technique, on_delete=models.PROTECT, null=True, blank=True, related_name="generator_templates"
    )
    version = models.PositiveIntegerField(_("Version"))
    system_text = models.TextField(_("System message"), blank=True)
    body = models.TextField(_("Template"))
    notes = models.CharField(_("Change note"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scope", "dimension", "technique", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["dimension", "version"], condition=models.Q(scope="dimension"), name="uniq_template_dim_version"
            ),
            models.UniqueConstraint(
                fields=["technique", "version"], condition=models.Q(scope="technique"), name="uniq_template_tech_version"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="dimension", dimension__isnull=False, technique__isnull=True)
                    | models.Q(scope="technique", technique__isnull=False, dimension__isnull=True)
                ),
                name="template_scope_target",
            ),
        ]
        verbose_name = _("Generator template")
        verbose_name_plural = _("Generator templates")

    def __str__(self) -> str:
        target = self.dimension if self.scope == self.Scope.DIMENSION else self.technique
        return f"{target} v{self.version}"


class EventSource(models.Model):
    """Where events come from: a feed fetched on a schedule, a folder of JSON/JSONL files, or the API."""

    class Kind(models.TextChoices):
        FEED = "feed", _("RSS/Atom feed")
        FOLDER = "folder", _("Folder of JSON/JSONL files")
        API = "api", _("API")

    FETCHED = (Kind.FEED, Kind.FOLDER)

    kind = models.CharField(_("Kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("Name"), max_length=100, unique=True)
    url = models.URLField(_("Feed URL"), max_length=1000, blank=True)
    folder = models.CharField(_("Folder"), max_length=300, blank=True,
                              help_text=_("A folder under the event drop folder (EVENT_FOLDER_ROOT)."))
    enabled = models.BooleanField(_("Enabled"), default=True)
    fetch_interval_minutes = models.PositiveIntegerField(_("Fetch every (minutes)"), default=60)
    last_fetched_at = models.DateTimeField(_("Last fetched"), null=True, blank=True)
    last_ok_at = models.DateTimeField(_("Last fetched without error"), null=True, blank=True)
    last_error = models.TextField(_("Last error"), blank=True)
    last_created = models.PositiveIntegerField(default=0)
    last_duplicates = models.PositiveIntegerField(default=0)
    last_invalid = models.PositiveIntegerField(default=0)
    last_messages = models.JSONField(default=list, blank=True)  # the entries skipped on the last fetch, and why
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Event source")
        verbose_name_plural = _("Event sources")
        constraints = [
            models.CheckConstraint(condition=~models.Q(kind="feed") | ~models.Q(url=""), name="event_source_feed_url"),
            models.CheckConstraint(condition=~models.Q(kind="folder") | ~models.Q(folder=""),
                                   name="event_source_folder_path"),
        ]

    def __str__(self) -> str:
        return self.name

    def is_due(self, now) -> bool:
        return (self.enabled and self.kind in self.FETCHED and (
            self.last_fetched_at is None
            or self.last_fetched_at + timedelta(minutes=self.fetch_interval_minutes) <= now))


class Event(models.Model):
    """A news event that seeds event-driven generation."""

    title = models.CharField(_("Title"), max_length=300)
    date = models.DateField(_("Date"))
    summary = models.TextField(_("Summary"), blank=True)
    source_url = models.URLField(_("Source URL"), max_length=1000, blank=True)
    tags = models.JSONField(_("Tags"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.ForeignKey(EventSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="events",
                               verbose_name=_("Source"))
    # Dedup key of the title (curation.text.normalize): a traditional-script copy of a title is the same event.
    title_key = models.CharField(max_length=300, blank=True, db_index=True, editable=False)
    dimensions = models.ManyToManyField(Dimension, blank=True, related_name="events", verbose_name=_("Dimensions"))
    dimensions_confirmed = models.BooleanField(_("Dimensions confirmed"), default=False)
    dimensions_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dimensions_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["source_url"], name="event_source_url_idx")]
        # Fetched events are unique by link and by title key (the fetch service also skips matches among
        # events recorded by hand); two workers storing the same item cannot both win.
        constraints = [
            models.UniqueConstraint(fields=["title_key"],
                                    condition=models.Q(source__isnull=False) & ~models.Q(title_key=""),
                                    name="uniq_fetched_event_title"),
            models.UniqueConstraint(fields=["source_url"],
                                    condition=models.Q(source__isnull=False) & ~models.Q(source_url=""),
                                    name="uniq_fetched_event_url"),
        ]
        verbose_name = _("Event")
        verbose_name_plural = _("Events")

    def __str__(self) -> str:
        return f"{self.date} {self.title[:40]}"


class GenerationRun(models.Model):
    class Mode(models.TextChoices):
        LLM = "llm", _("LLM generation")
        MUTATION = "mutation", _("Offline mutation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    mode = models.CharField(_("Mode"), max_length=16, choices=Mode.choices, default=Mode.LLM)
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    sub_dimension = models.ForeignKey(
        SubDimension, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    techniques = models.ManyToManyField(Technique, blank=True, related_name="+")
    seed_topics = models.JSONField(_("Seed topics"), default=list, blank=True)
    events = models.ManyToManyField(Event, blank=True, related_name="runs")
    count = models.PositiveIntegerField(_("Count"))
    batch_size = models.PositiveSmallIntegerField(_("Batch size"), default=10)
    endpoint = models.ForeignKey(
        "llm.ModelEndpoint", on_delete=models.PROTECT, null=True, blank=True, related_name="generation_runs"
    )
    temperature = models.FloatField(_("Temperature"), default=0.9)
    # Offline mutations: the strategy chain [{"strategy": name, "params": {...}}], its seed, and
    # which prompts it mutates.
    strategies = models.JSONField(_("Strategies"), default=list, blank=True)
    seed = models.BigIntegerField(_("Seed"), default=0)
    source_statuses = models.JSONField(_("Source statuses"), default=list, blank=True)
    # What the run was built from (template ids and versions, model, params): copied into provenance.
    params = models.JSONField(_("Parameters"), default=dict, blank=True)
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    batches_total = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    batches_failed = models.PositiveIntegerField(default=0)
    candidates_created = models.PositiveIntegerField(default=0)
    exact_duplicates = models.PositiveIntegerField(default=0)
    near_duplicates = models.PositiveIntegerField(default=0)
    # Generated texts the quality gate kept from review (generation.quality_gate), in all and per reason code.
    gated = models.PositiveIntegerField(default=0)
    gate_reasons = models.JSONField(default=dict, blank=True)
    topup_rounds = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(_("Error"), blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1), name="run_count_positive"),
            models.CheckConstraint(condition=models.Q(batch_size__gte=1), name="run_batch_size_positive"),
        ]
        verbose_name = _("Generation run")
        verbose_name_plural = _("Generation runs")

    def __str__(self) -> str:
        return f"run {self.pk} ({self.mode}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def progress_percent(self) -> int:
        if not self.batches_total:
            return 0
        return min(100, round(100 * (self.batches_done + self.batches_failed) / self.batches_total))


class GenerationBatch(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    requested = models.PositiveSmallIntegerField()
    # Mutation batches: the source prompt ids, fixed when the run is planned.
    sources = models.JSONField(default=list, blank=True)
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    llm_outcome = models.CharField(max_length=16, blank=True)
    raw_output = models.TextField(_("Raw output"), blank=True)
    reason = models.TextField(_("Reason"), blank=True)
    parsed_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    exact_duplicates = models.PositiveIntegerField(default=0)
    near_duplicates = models.PositiveIntegerField(default=0)
    # What the quality gate dropped: how many, per reason code, and the texts ([{"text", "reason", "detail"}])
    # so a maintainer can check the gate's judgement.
    gated_count = models.PositiveIntegerField(default=0)
    gate_reasons = models.JSONField(default=dict, blank=True)
    gated_items = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="uniq_batch_run_index")]
        indexes = [models.Index(fields=["run", "status"], name="batch_run_status")]
        verbose_name = _("Generation batch")
        verbose_name_plural = _("Generation batches")

    def __str__(self) -> str:
        return f"run {self.run_id} batch {self.index}"


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
    state = models.JSONField(default=dict, blank=True)  # generation.attack state: every node of every chain
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
