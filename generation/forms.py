from django import forms
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension, Prompt, SubDimension, Technique
from curation.templatetags.livesec_text import display_name
from curation.text import from_textarea
from llm.models import ModelEndpoint

from . import mutations
from .models import Event, GenerationRun


class DimensionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dimension) -> str:
        return f"{obj.taxonomy.code} · {obj.name_zh} ({obj.name_en})"


class SubDimensionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SubDimension) -> str:
        return f"{obj.dimension.taxonomy.code} · {obj.dimension.name_zh} / {obj.name_zh}"


class TechniqueChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Technique) -> str:
        return f"{obj.name_zh} ({obj.name_en})"


class TechniqueFilterField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Technique) -> str:
        # Labels are built when the form renders, so they follow the request's language.
        return display_name(obj)


def _dimensions():
    return Dimension.objects.select_related("taxonomy").order_by("taxonomy__code", "order")


class LLMRunForm(forms.Form):
    endpoint = forms.ModelChoiceField(label=_("Generator endpoint"), queryset=ModelEndpoint.objects.all(),
                                      to_field_name="name")
    dimension = DimensionChoiceField(label=_("Dimension"), queryset=_dimensions())
    sub_dimension = SubDimensionChoiceField(
        label=_("Sub-dimension"), required=False, empty_label=_("Any"),
        queryset=SubDimension.objects.select_related("dimension__taxonomy").order_by("dimension__taxonomy__code",
                                                                                    "dimension__order", "order"),
    )
    techniques = TechniqueChoiceField(label=_("Techniques"), required=False, queryset=Technique.objects.all(),
                                      widget=forms.CheckboxSelectMultiple)
    seed_topics = forms.CharField(label=_("Seed topics"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text=_("One per line (optional)."))
    events = forms.ModelMultipleChoiceField(label=_("Events"), required=False, queryset=Event.objects.all(),
                                            widget=forms.SelectMultiple(attrs={"size": 4}))
    count = forms.IntegerField(label=_("Count"), min_value=1, max_value=5000, initial=50)
    batch_size = forms.IntegerField(label=_("Batch size"), min_value=1, max_value=50, initial=10)
    temperature = forms.FloatField(label=_("Temperature"), min_value=0, max_value=2, initial=0.9)

    def clean_seed_topics(self):
        return [line.strip() for line in self.cleaned_data["seed_topics"].splitlines() if line.strip()]


def strategy_choices():
    return [("", "—")] + [(s["name"], f"{s['label_zh']} ({s['label_en']})") for s in mutations.list_strategies()]


class MutationRunForm(forms.Form):
    step1 = forms.ChoiceField(label=_("Strategy 1"), choices=strategy_choices)
    step2 = forms.ChoiceField(label=_("Strategy 2"), choices=strategy_choices, required=False)
    step3 = forms.ChoiceField(label=_("Strategy 3"), choices=strategy_choices, required=False)
    count = forms.IntegerField(label=_("Count"), min_value=1, max_value=5000, initial=20)
    seed = forms.IntegerField(label=_("Seed"), initial=0, help_text=_("The same seed gives the same variants."))
    dimension = DimensionChoiceField(label=_("Dimension"), queryset=_dimensions(), required=False,
                                     empty_label=_("All dimensions"))
    source_statuses = forms.MultipleChoiceField(
        label=_("Mutate prompts that are"), widget=forms.CheckboxSelectMultiple, initial=[Prompt.Status.APPROVED],
        choices=[(Prompt.Status.APPROVED, _("Approved")), (Prompt.Status.CANDIDATE, _("Candidate")),
                 (Prompt.Status.IN_REVIEW, _("In review"))],
    )

    def strategies(self) -> list[str]:
        return [self.cleaned_data[k] for k in ("step1", "step2", "step3") if self.cleaned_data.get(k)]


class EventForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=300)
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    summary = forms.CharField(label=_("Summary"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
                              strip=False)
    source_url = forms.URLField(label=_("Source URL"), required=False, max_length=1000, assume_scheme="https")
    tags = forms.CharField(label=_("Tags"), required=False, help_text=_("Comma-separated."))

    def __init__(self, *args, instance: Event | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {"title": instance.title, "date": instance.date, "summary": instance.summary,
                                 "source_url": instance.source_url, "tags": ", ".join(instance.tags)}
        super().__init__(*args, **kwargs)

    def clean_summary(self):
        return from_textarea(self.cleaned_data["summary"], self.initial.get("summary") or "")


class TemplateForm(forms.Form):
    system_text = forms.CharField(label=_("System message"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  strip=False)
    body = forms.CharField(label=_("Template"), widget=forms.Textarea(attrs={"rows": 14}), strip=False)
    notes = forms.CharField(label=_("Change note"), required=False, max_length=300)

    # Texts are kept as written; an untouched textarea gives back the shown text, line breaks included.
    def clean_system_text(self):
        return from_textarea(self.cleaned_data["system_text"], self.initial.get("system_text") or "")

    def clean_body(self):
        return from_textarea(self.cleaned_data["body"], self.initial.get("body") or "")


class CandidateFilterForm(forms.Form):
    run = forms.IntegerField(label=_("Run"), required=False, min_value=1)
    dimension = DimensionChoiceField(label=_("Dimension"), queryset=_dimensions(), required=False,
                                     empty_label=_("All"))
    technique = TechniqueFilterField(label=_("Technique"), queryset=Technique.objects.all(), required=False,
                                     to_field_name="code", empty_label=_("All"))
    technique_match = forms.ChoiceField(label=_("Technique as"), required=False, choices=[
        ("", _("Confirmed or requested")), ("confirmed", _("Confirmed only")),
        ("requested", _("Requested of the generator only")),
    ])
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All"))] + list(Prompt.Status.choices))
    source = forms.ChoiceField(label=_("Source"), required=False,
                               choices=[("", _("All"))] + list(Prompt.Source.choices))
    near_duplicate = forms.ChoiceField(label=_("Near duplicate"), required=False,
                                       choices=[("", _("All")), ("yes", _("Flagged")), ("no", _("Not flagged"))])


RUN_STATUS_CHOICES = GenerationRun.Status.choices
