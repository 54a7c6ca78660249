"""Forms of the release pages. They parse; releases.services validates and writes."""

from django import forms
from django.utils.translation import gettext_lazy as _

# A dimension checkbox carries its taxonomy ("v251030:privacy"): two taxonomies share codes such as `privacy`,
# so a bare code ticked under one taxonomy would silently mean the other's dimension after a switch.
DIMENSION_SEPARATOR = ":"


def dimension_value(taxonomy_code: str, dimension_code: str) -> str:
    return f"{taxonomy_code}{DIMENSION_SEPARATOR}{dimension_code}"


class DimensionsField(forms.MultipleChoiceField):
    """Checkboxes of the chosen taxonomy's dimensions; any submitted value reaches `ReleaseDraftForm.clean`, which
    says which taxonomy a stray one belongs to instead of Django's generic "not one of the available choices"."""

    widget = forms.CheckboxSelectMultiple

    def valid_value(self, value) -> bool:
        return True


class ReleaseDraftForm(forms.Form):
    """Fields of a release draft; the service validates and writes (this form only parses)."""

    version = forms.CharField(label=_("Version"), max_length=20, help_text=_("vYYMMDD; a second release on the same day gets -2, -3, …"))
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    taxonomy = forms.ChoiceField(label=_("Taxonomy"), help_text=_("The dimensions below follow the taxonomy."))
    parent = forms.ChoiceField(label=_("Parent release"), required=False)
    holdout_fraction = forms.FloatField(
        label=_("Hold-out fraction"), min_value=0, max_value=0.95, initial=0.0,
        help_text=_("Share of items kept private (chosen by item hash; public exports leave them out)."),
    )
    include_new = forms.BooleanField(label=_("Add new approved items"), required=False, initial=True)
    dimensions = DimensionsField(
        label=_("Dimensions"), required=False, help_text=_("None ticked: every dimension of the taxonomy."),
    )
    date_from = forms.DateField(label=_("Created from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Created until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    min_agreement = forms.FloatField(
        label=_("Minimum agreement"), required=False, min_value=-1, max_value=1,
        help_text=_("Items with an agreement figure below this are left out; items without one stay in."),
    )

    def __init__(self, *args, taxonomies=(), parents=(), dimensions=(), editing=False, choose_taxonomy=False,
                 taxonomy_attrs=None, **kwargs):
        """`taxonomies`: (code, label); `dimensions`: (value, label) of the chosen taxonomy, values from
        `dimension_value`; `choose_taxonomy`: no default, so the list starts with an empty choice."""
        super().__init__(*args, **kwargs)
        taxonomy_choices = [(code, label) for code, label in taxonomies]
        if choose_taxonomy:
            taxonomy_choices.insert(0, ("", _("Choose a taxonomy")))
        self.fields["taxonomy"].choices = taxonomy_choices
        self.fields["taxonomy"].widget.attrs.update(taxonomy_attrs or {})
        self.fields["parent"].choices = [("latest", _("Latest frozen release of the taxonomy")), ("none", _("None"))] + [
            (v, v) for v in parents
        ]
        self.fields["dimensions"].choices = [(value, label) for value, label in dimensions]
        if editing:
            for name in ("version", "taxonomy"):
                self.fields[name].disabled = True

    def clean(self):
        data = super().clean()
        taxonomy = data.get("taxonomy")
        codes = []
        for value in data.get("dimensions") or []:
            owner, sep, code = str(value).rpartition(DIMENSION_SEPARATOR)
            if sep and taxonomy and owner != taxonomy:
                self.add_error("dimensions", _("Dimension %(code)s belongs to taxonomy %(owner)s, not to %(taxonomy)s.")
                               % {"code": code, "owner": owner, "taxonomy": taxonomy})
            codes.append(code)
        # Whether a bare code belongs to the taxonomy is the service's check (the same for the API and commands).
        data["dimensions"] = codes
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


class ConfirmForm(forms.Form):
    """The tick that stands between a maintainer and an action that cannot be undone (works without JS)."""

    confirm = forms.BooleanField(required=True, error_messages={"required": _("Tick the box to confirm.")})

    def __init__(self, *args, label="", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["confirm"].label = label
