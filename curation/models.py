from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
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


# ---------------------------------------------------------------------------------------------------------------
# Releases: versioned, frozen copies of approved prompts. Once `frozen_at` is set, neither the release nor its
# items or retirements may change; the model layer refuses it here and, on PostgreSQL, triggers refuse it too
# (migration 0003), so raw SQL fails as well.
# ---------------------------------------------------------------------------------------------------------------

RELEASE_VERSION_RE = r"^v\d{6}(-[1-9]\d*)?$"


class FrozenReleaseError(PermissionError):
    """A write touched a frozen release, one of its items or retirements."""


class ReleaseQuerySet(models.QuerySet):
    def frozen(self):
        return self.filter(frozen_at__isnull=False)

    def drafts(self):
        return self.filter(frozen_at__isnull=True)

    def update(self, **kwargs):
        if self.filter(frozen_at__isnull=False).exists():
            raise FrozenReleaseError(gettext("a frozen release cannot change"))
        return super().update(**kwargs)

    def delete(self):
        if self.filter(frozen_at__isnull=False).exists():
            raise FrozenReleaseError(gettext("a frozen release cannot be deleted"))
        return super().delete()


class Release(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        FREEZING = "freezing", _("Freezing")
        FROZEN = "frozen", _("Frozen")

    version = models.CharField(_("Version"), max_length=20, unique=True)
    title = models.CharField(_("Title"), max_length=200, blank=True)
    notes = models.TextField(_("Notes"), blank=True)
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="releases")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("Parent release")
    )
    status = models.CharField(_("Status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Selection of new items: {"dimensions": [codes], "date_from": iso, "date_to": iso, "min_agreement": float,
    # "include_new": bool}. Carried items come from the parent minus retirements.
    filters = models.JSONField(_("Filters"), default=dict, blank=True)
    holdout_fraction = models.FloatField(_("Hold-out fraction"), default=0.0)
    # Freeze bookkeeping: phase, cursor and running counts, committed with each chunk so a retry resumes.
    freeze_state = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    freeze_error = models.TextField(blank=True)
    item_count = models.PositiveIntegerField(_("Items"), default=0)
    public_count = models.PositiveIntegerField(_("Public items"), default=0)
    digest = models.CharField(_("Digest"), max_length=64, blank=True)
    public_digest = models.CharField(_("Public digest"), max_length=64, blank=True)
    manifest = models.JSONField(_("Manifest"), default=dict, blank=True)
    contamination = models.JSONField(_("Contamination warnings"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    frozen_at = models.DateTimeField(_("Frozen at"), null=True, blank=True, db_index=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(version__regex=RELEASE_VERSION_RE), name="release_version_format"
            ),
            models.CheckConstraint(
                condition=models.Q(holdout_fraction__gte=0, holdout_fraction__lt=1), name="release_holdout_0_1"
            ),
            models.CheckConstraint(
                condition=models.Q(frozen_at__isnull=True) | models.Q(status="frozen"), name="release_frozen_status"
            ),
        ]
        verbose_name = _("Release")
        verbose_name_plural = _("Releases")

    def __str__(self) -> str:
        return self.version

    def save(self, *args, **kwargs):
        if self._frozen_in_db():
            raise FrozenReleaseError(gettext("release %(version)s is frozen") % {"version": self.version})
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self._frozen_in_db():
            raise FrozenReleaseError(gettext("release %(version)s is frozen") % {"version": self.version})
        return super().delete(*args, **kwargs)

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def _frozen_in_db(self) -> bool:
        return self.pk is not None and Release.objects.filter(pk=self.pk, frozen_at__isnull=False).exists()


class _ReleaseChildQuerySet(models.QuerySet):
    """Rows that belong to a release refuse every bulk write once that release is frozen."""

    def _touches_frozen(self) -> bool:
        return self.filter(release__frozen_at__isnull=False).exists()

    def update(self, **kwargs):
        target = kwargs.get("release_id", getattr(kwargs.get("release"), "pk", None))
        if self._touches_frozen() or (
            target is not None and Release.objects.filter(pk=target, frozen_at__isnull=False).exists()
        ):
            raise FrozenReleaseError(gettext("items of a frozen release cannot change"))
        return super().update(**kwargs)

    def delete(self):
        if self._touches_frozen():
            raise FrozenReleaseError(gettext("items of a frozen release cannot be deleted"))
        return super().delete()

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        release_ids = {o.release_id for o in objs}
        if release_ids and Release.objects.filter(pk__in=release_ids, frozen_at__isnull=False).exists():
            raise FrozenReleaseError(gettext("a frozen release takes no new rows"))
        return super().bulk_create(objs, *args, **kwargs)


class _ReleaseChild(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self._release_frozen():
            raise FrozenReleaseError("rows of a frozen release cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self._release_frozen():
            raise FrozenReleaseError("rows of a frozen release cannot be deleted")
        return super().delete(*args, **kwargs)

    def _release_frozen(self) -> bool:
        ids = {self.release_id}
        if self.pk is not None:
            old = type(self).objects.filter(pk=self.pk).values_list("release_id", flat=True).first()
            if old is not None:
                ids.add(old)
        return Release.objects.filter(pk__in=ids, frozen_at__isnull=False).exists()


class ReleaseItem(_ReleaseChild):
    """A frozen copy of one prompt: later edits of the prompt never reach it."""

    class Origin(models.TextChoices):
        ADDED = "added", _("Added")
        CARRIED = "carried", _("Carried over")

    # No index of its own: the unique (release, …) indexes below lead with it.
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items", db_index=False)
    public_id = models.CharField(_("Public id"), max_length=100)
    # Indexed through uniq_release_prompt, which leads with the prompt (protects prompt deletes, finds parents).
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="release_items", db_index=False)
    origin = models.CharField(_("Origin"), max_length=8, choices=Origin.choices)
    is_holdout = models.BooleanField(_("Hold-out"), default=False)
    text = models.TextField(_("Prompt"))
    language = models.CharField(_("Language"), max_length=16)
    taxonomy_code = models.CharField(_("Taxonomy"), max_length=32)
    dimension_code = models.CharField(_("Dimension"), max_length=64)
    dimension_name_zh = models.CharField(max_length=100)
    dimension_name_en = models.CharField(max_length=100)
    sub_dimension_code = models.CharField(_("Sub-dimensions"), max_length=64, blank=True)
    sub_dimension_name_zh = models.CharField(max_length=100, blank=True)
    sub_dimension_name_en = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(_("Labels"), default=dict)
    reference_answers = models.JSONField(_("Reference answers"), default=list)
    provenance = models.JSONField(_("Provenance"), default=dict)
    agreement = models.JSONField(_("Agreement"), default=dict)
    content_hash = models.CharField(_("Content hash"), max_length=64)

    objects = _ReleaseChildQuerySet.as_manager()

    class Meta:
        ordering = ["release", "id"]
        constraints = [
            models.UniqueConstraint(fields=["release", "public_id"], name="uniq_release_public_id"),
            models.UniqueConstraint(fields=["release", "content_hash"], name="uniq_release_content_hash"),
            models.UniqueConstraint(fields=["prompt", "release"], name="uniq_release_prompt"),
        ]
        verbose_name = _("Release item")
        verbose_name_plural = _("Release items")

    def __str__(self) -> str:
        return self.public_id


class ReleaseRetirement(_ReleaseChild):
    """A prompt left out of a release on purpose, with the reason.

    With `parent_item` it is a retirement of an item the parent published; without, a new approved prompt
    left out. Either way it stays out of later releases that descend from this one.
    """

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="retirements")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="release_retirements")
    parent_item = models.ForeignKey(
        ReleaseItem, on_delete=models.PROTECT, null=True, blank=True, related_name="retirements"
    )
    reason = models.TextField(_("Reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = _ReleaseChildQuerySet.as_manager()

    class Meta:
        ordering = ["release", "id"]
        constraints = [models.UniqueConstraint(fields=["release", "prompt"], name="uniq_release_retirement")]
        verbose_name = _("Retirement")
        verbose_name_plural = _("Retirements")

    def __str__(self) -> str:
        return f"{self.release_id}:{self.prompt_id}"


class ReleaseExport(models.Model):
    """One stored export file of a frozen release, with its sha256. Exports are derived and may be rebuilt."""

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSONL"
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"
        MANIFEST = "manifest", "manifest.json"
        README = "readme", "README.md"
        ZIP = "zip", "ZIP"

    class Scope(models.TextChoices):
        PUBLIC = "public", _("Public (without hold-out)")
        FULL = "full", _("Full (with hold-out)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(_("Format"), max_length=16, choices=Format.choices)
    scope = models.CharField(_("Scope"), max_length=8, choices=Scope.choices)
    status = models.CharField(_("Status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(max_length=500, blank=True)  # relative to MEDIA_ROOT
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # The worker writing this scope's files holds a lease on all of its rows (see releases.release_export_run):
    # a second delivery of the task, or a recovery, leaves the scope alone while the holder is alive.
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["release", "scope", "format"]
        constraints = [
            models.UniqueConstraint(fields=["release", "scope", "format"], name="uniq_release_export"),
        ]
        verbose_name = _("Release export")
        verbose_name_plural = _("Release exports")

    def __str__(self) -> str:
        return f"{self.release_id}:{self.scope}:{self.format}"


# --------------------------------------------------------------------------------------------------
# Generation: templates, events, runs and their batches.


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
    # Generated texts the quality gate kept from review (curation.quality_gate), in all and per reason code.
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


from .attack_models import AttackRun  # noqa: E402,F401  (its own module; part of this app)
