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
