import re

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# An endpoint stores the NAME of the variable that holds its key: a pasted key ("sk-...") must never be saved.
ENV_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
validate_env_name = RegexValidator(
    ENV_NAME_RE, _("Enter the NAME of an environment variable (letters, digits, _), not the key."), code="invalid"
)


class ModelEndpoint(models.Model):
    """An OpenAI-compatible model the project may call. The key stays in the environment."""

    name = models.SlugField(_("Name"), max_length=100, unique=True)
    base_url = models.URLField(_("Base URL"), max_length=500)
    model = models.CharField(_("Model"), max_length=200)
    api_key_env = models.CharField(
        _("API key variable"),
        max_length=100,
        blank=True,
        help_text=_("Name of the environment variable holding the key (never the key itself)."),
        validators=[validate_env_name],
    )
    max_concurrency = models.PositiveSmallIntegerField(
        _("Max concurrency"), default=4, validators=[MinValueValidator(1)]
    )
    requests_per_minute = models.PositiveIntegerField(_("Requests per minute"), default=600)
    timeout = models.FloatField(_("Timeout (s)"), default=60.0, validators=[MinValueValidator(0.1)])
    default_params = models.JSONField(_("Default parameters"), default=dict, blank=True)
    is_reasoning = models.BooleanField(_("Reasoning model"), default=False)
    notes = models.TextField(_("Notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Model endpoint")
        verbose_name_plural = _("Model endpoints")
        constraints = [
            models.CheckConstraint(condition=models.Q(max_concurrency__gte=1), name="endpoint_concurrency_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class LLMCall(models.Model):
    """One chat() of the client: what it cost and how it ended."""

    class Outcome(models.TextChoices):
        OK = "ok", _("OK")
        BLOCKED = "blocked", _("Blocked")
        TRUNCATED = "truncated", _("Truncated")
        EMPTY = "empty", _("Empty")
        ERROR = "error", _("Error")

    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.SET_NULL, null=True, related_name="calls")
    endpoint_name = models.CharField(_("Endpoint"), max_length=100)
    model = models.CharField(_("Model"), max_length=200)
    purpose = models.CharField(_("Purpose"), max_length=50, blank=True)
    latency_ms = models.FloatField(_("Latency (ms)"), default=0)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(_("Outcome"), max_length=16, choices=Outcome.choices)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "created_at"], name="llmcall_endpoint_time")]
        verbose_name = _("LLM call")
        verbose_name_plural = _("LLM calls")

    def __str__(self) -> str:
        return f"{self.endpoint_name} {self.outcome}"


class ResponseCacheEntry(models.Model):
    """A successful response, keyed by (endpoint fingerprint, messages, params): a re-run never pays twice."""

    cache_key = models.CharField(max_length=64, primary_key=True)
    endpoint_name = models.CharField(max_length=100)
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Cached response")
        verbose_name_plural = _("Cached responses")

    def __str__(self) -> str:
        return f"{self.endpoint_name} {self.cache_key[:12]}"
