from django import forms
from django.utils.translation import gettext_lazy as _

from .importers import FORMATS
from .models import Prompt, Taxonomy

MAX_UPLOAD = 200 * 1024 * 1024


class ImportForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("LiveSecBench item JSON, JSONL or CSV (UTF-8)"))
    format = forms.ChoiceField(
        label=_("Format"), required=False, choices=[("", _("Detect from the file name"))] + [(f, f.upper()) for f in FORMATS]
    )
    taxonomy = forms.ModelChoiceField(
        label=_("Taxonomy"), required=False, queryset=Taxonomy.objects.all(), to_field_name="code",
        empty_label=_("Automatic (match by version or name)"),
    )
    status = forms.ChoiceField(
        label=_("Status after import"),
        choices=[(Prompt.Status.CANDIDATE, _("Candidate (goes to review)")), (Prompt.Status.APPROVED, _("Approved directly (trusted source; logged)"))],
        initial=Prompt.Status.CANDIDATE,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is too large (200 MB at most)"))
        return upload


class PromptFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("All"))] + list(Prompt.Status.choices))
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("All"))] + list(Prompt.Source.choices))
    taxonomy = forms.CharField(label=_("Taxonomy"), required=False)
    dimension = forms.CharField(label=_("Dimension"), required=False)


class ReleaseDraftForm(forms.Form):
    """Fields of a release draft; the service validates and writes (this form only parses)."""

    version = forms.CharField(label=_("Version"), max_length=20, help_text=_("vYYMMDD; a second release on the same day gets -2, -3, …"))
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    taxonomy = forms.ModelChoiceField(label=_("Taxonomy"), queryset=Taxonomy.objects.all(), to_field_name="code", empty_label=None)
    parent = forms.ChoiceField(label=_("Parent release"), required=False)
    holdout_fraction = forms.FloatField(
        label=_("Hold-out fraction"), min_value=0, max_value=0.95, initial=0.0,
        help_text=_("Share of items kept private (chosen by item hash; public exports leave them out)."),
    )
    include_new = forms.BooleanField(label=_("Add new approved items"), required=False, initial=True)
    dimensions = forms.MultipleChoiceField(
        label=_("Dimensions"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every dimension of the taxonomy."),
    )
    date_from = forms.DateField(label=_("Created from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Created until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    min_agreement = forms.FloatField(
        label=_("Minimum agreement"), required=False, min_value=-1, max_value=1,
        help_text=_("Items with an agreement figure below this are left out; items without one stay in."),
    )

    def __init__(self, *args, parents=(), dimensions=(), editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = [("latest", _("Latest frozen release of the taxonomy")), ("none", _("None"))] + [
            (v, v) for v in parents
        ]
        self.fields["dimensions"].choices = [(code, label) for code, label in dimensions]
        if editing:
            for name in ("version", "taxonomy"):
                self.fields[name].disabled = True

    def clean(self):
        data = super().clean()
        for name in ("version", "title", "notes"):
            if "\x00" in (data.get(name) or ""):
                self.add_error(name, _("This field contains a NUL character (\\u0000), which cannot be stored."))
        return data

    def filters(self) -> dict:
        d = self.cleaned_data
        return {
            "dimensions": d.get("dimensions") or [],
            "date_from": d.get("date_from"),
            "date_to": d.get("date_to"),
            "min_agreement": d.get("min_agreement"),
            "include_new": d.get("include_new", False),
        }


class RetireForm(forms.Form):
    public_id = forms.CharField(max_length=100)
    reason = forms.CharField(label=_("Reason"), max_length=2000)

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if "\x00" in reason:
            raise forms.ValidationError(_("The reason contains a NUL character (\\u0000), which cannot be stored."))
        return reason
