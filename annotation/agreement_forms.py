"""Filters of the agreement dashboard and its CSV downloads."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.roles import ROLES
from curation.models import Dimension

from . import agreement_report as report
from .agreement_selectors import AgreementFilters
from .models import ReviewQueue

FIELD_LABELS = {
    "decision": _("Decision (keep / reject)"),
    "dimension": _("Dimension"),
    "risk_expression": _("Risk expression"),
    "severity": _("Severity"),
    "expected_behaviour": _("Expected safe behaviour"),
}
MAX_MIN_SHARED = 100_000


class DimensionChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dimension) -> str:
        name = obj.name_en if (get_language() or "").startswith("en") else obj.name_zh
        return f"{obj.taxonomy.code} · {name}"


class AnnotatorChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_username()


class AgreementFilterForm(forms.Form):
    queue = forms.ModelChoiceField(
        label=_("Queue"), required=False, queryset=ReviewQueue.objects.all(), empty_label=_("All queues")
    )
    dimension = DimensionChoice(
        label=_("Dimension"), required=False, queryset=Dimension.objects.select_related("taxonomy"),
        empty_label=_("All dimensions"),
    )
    annotator = AnnotatorChoice(
        label=_("Annotator"), required=False, empty_label=_("All annotators"),
        queryset=get_user_model().objects.filter(Q(groups__name__in=ROLES) | Q(is_superuser=True)).distinct().order_by("username"),
        help_text=_("Items this annotator worked on, with everyone's annotations on them."),
    )
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    field = forms.ChoiceField(
        label=_("Field in detail"), required=False, choices=list(FIELD_LABELS.items()), initial=report.DEFAULT_FIELD,
        help_text=_("The field of the kappa heat map, the per-annotator agreement and the disagreed items."),
    )
    min_shared = forms.IntegerField(
        label=_("Minimum shared items (k)"), required=False, min_value=1, max_value=MAX_MIN_SHARED, initial=10,
        widget=forms.NumberInput(attrs={"class": "narrow-number"}),
    )

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data

    def filters(self) -> AgreementFilters:
        data = self.cleaned_data
        return AgreementFilters(
            queue=data["queue"].pk if data.get("queue") else None,
            dimension=data["dimension"].pk if data.get("dimension") else None,
            annotator=data["annotator"].pk if data.get("annotator") else None,
            since=data.get("since"),
            until=data.get("until"),
        )

    def selected_field(self) -> str:
        return (self.cleaned_data.get("field") if self.is_valid() else None) or report.DEFAULT_FIELD

    def selected_min_shared(self) -> int:
        return (self.cleaned_data.get("min_shared") if self.is_valid() else None) or 10
