from django import forms
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension, Taxonomy
from evaluation.models import EvalRun
from llm.models import ModelEndpoint

from .models import CyclePlan


class PlanForm(forms.Form):
    """A plan's fields; the candidates per dimension are one number field per dimension of the taxonomy."""

    name = forms.CharField(label=_("Name"), max_length=100)
    taxonomy = forms.ModelChoiceField(label=_("Taxonomy"), queryset=Taxonomy.objects.all(), to_field_name="code")
    enabled = forms.BooleanField(label=_("Open a cycle every period on schedule"), required=False, initial=True)
    period = forms.ChoiceField(label=_("Period"), choices=CyclePlan.Period.choices)
    generate_day = forms.IntegerField(label=_("Generation starts on day"), min_value=1, max_value=28, initial=1,
                                      help_text=_("Day of the period (1–28 for a month, 1–7 for a week)."))
    cut_day = forms.IntegerField(label=_("Release is cut on day"), min_value=1, max_value=28, initial=25)
    generation_mode = forms.ChoiceField(label=_("Generation"), choices=CyclePlan.GenerationMode.choices)
    generator = forms.ModelChoiceField(label=_("Generator endpoint"), queryset=ModelEndpoint.objects.all(),
                                       required=False)
    event_lookback_days = forms.IntegerField(label=_("Events of the last N days"), min_value=0, max_value=366,
                                             initial=45)
    targets = forms.ModelMultipleChoiceField(label=_("Targets"), queryset=ModelEndpoint.objects.all(),
                                             widget=forms.CheckboxSelectMultiple)
    judge = forms.ModelChoiceField(label=_("Judge"), queryset=ModelEndpoint.objects.all())
    eval_mode = forms.ChoiceField(label=_("Evaluation mode"), choices=EvalRun.Mode.choices,
                                  initial=EvalRun.Mode.LIVESECBENCH)
    seed = forms.IntegerField(label=_("Seed"), initial=0, min_value=-(2**31), max_value=2**31 - 1)
    holdout_fraction = forms.FloatField(label=_("Hold-out fraction"), min_value=0, max_value=0.99, initial=0.0)

    def __init__(self, *args, taxonomy: Taxonomy | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if taxonomy is None:
            # The count fields are those of the taxonomy chosen (a new plan's POST names it), else the newest.
            chosen = self.data.get("taxonomy") if self.is_bound else None
            taxonomy = (Taxonomy.objects.filter(code=chosen).first() if chosen else None) or \
                Taxonomy.objects.order_by("-id").first()
            if taxonomy is not None:
                self.fields["taxonomy"].initial = taxonomy.code
        self.dimensions = list(Dimension.objects.filter(taxonomy=taxonomy).order_by("order", "code")) if taxonomy else []
        for dim in self.dimensions:
            self.fields[f"count_{dim.code}"] = forms.IntegerField(
                label=dim.name_zh if self.is_zh() else dim.name_en or dim.name_zh, min_value=0, max_value=5000,
                initial=0, required=False)

    @staticmethod
    def is_zh() -> bool:
        from django.utils.translation import get_language

        return (get_language() or "").startswith("zh")

    def count_fields(self):
        return [self[f"count_{d.code}"] for d in self.dimensions]

    def main_fields(self):
        return [self[name] for name in self.fields if not name.startswith("count_")]

    def counts(self) -> dict[str, int]:
        return {d.code: self.cleaned_data.get(f"count_{d.code}") or 0 for d in self.dimensions}
