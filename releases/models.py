"""Releases: versioned, frozen copies of approved prompts."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from curation.models import Prompt, Taxonomy

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
