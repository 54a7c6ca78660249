import json

from django import forms
from django.utils.translation import gettext_lazy as _

from core.parsers import first_unstorable_message, unstorable_errors

from .models import ModelEndpoint


class EndpointForm(forms.Form):
    name = forms.SlugField(label=_("Name"), max_length=100)
    base_url = forms.URLField(label=_("Base URL"), max_length=500, assume_scheme="http",
                              help_text=_("OpenAI-compatible API root, e.g. http://127.0.0.1:8765/v1"))
    model = forms.CharField(label=_("Model"), max_length=200)
    api_key_env = forms.RegexField(
        label=_("API key variable"), required=False, max_length=100, regex=r"^[A-Za-z_][A-Za-z0-9_]*$",
        help_text=_("Name of the environment variable holding the key (never the key itself)."),
        error_messages={"invalid": _("Enter the NAME of an environment variable (letters, digits, _), not the key.")},
    )
    max_concurrency = forms.IntegerField(label=_("Max concurrency"), min_value=1, max_value=256, initial=4)
    requests_per_minute = forms.IntegerField(label=_("Requests per minute"), min_value=0, initial=600,
                                             help_text=_("0 means no rate limit."))
    timeout = forms.FloatField(label=_("Timeout (s)"), min_value=0.1, initial=60)
    default_params = forms.CharField(label=_("Default parameters"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                     help_text=_('JSON object, e.g. {"top_p": 0.9}'), initial="{}")
    is_reasoning = forms.BooleanField(label=_("Reasoning model"), required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, instance: ModelEndpoint | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name, "base_url": instance.base_url, "model": instance.model,
                "api_key_env": instance.api_key_env, "max_concurrency": instance.max_concurrency,
                "requests_per_minute": instance.requests_per_minute, "timeout": instance.timeout,
                "default_params": json.dumps(instance.default_params, ensure_ascii=False),
                "is_reasoning": instance.is_reasoning, "notes": instance.notes,
            }
        super().__init__(*args, **kwargs)

    def clean_default_params(self):
        raw = (self.cleaned_data.get("default_params") or "").strip() or "{}"
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError(_("Enter a valid JSON object."))
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Enter a valid JSON object."))
        # JSON escapes let "\u0000" or a lone "\ud800" through the textarea: neither fits a JSON column.
        errors = unstorable_errors(value)
        if errors is not None:
            raise forms.ValidationError(first_unstorable_message(errors))
        return value
