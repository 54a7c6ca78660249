"""Forms of the evaluation pages: they parse what a person typed; every rule lives in the services."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension
from curation.text import from_textarea
from llm.models import ModelEndpoint
from releases.models import Release

from .models import EvalRun

_NAME_SPLIT = re.compile(r"[\s,，、]+")


def dimension_label(name_zh: str, name_en: str) -> str:
    """A dimension's name in the language of the page."""
    return name_zh if (get_language() or "zh").startswith("zh") else (name_en or name_zh)


class EndpointChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelEndpoint) -> str:
        return f"{obj.name} ({obj.model})"


class ReleaseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Release) -> str:
        return f"{obj.version} · {obj.taxonomy.code} · {obj.item_count}" + (f" · {obj.title}" if obj.title else "")


def release_dimensions(release: Release | None) -> list[Dimension]:
    """The dimensions a release's items are in, in the taxonomy's order."""
    if release is None:
        return []
    codes = set(release.items.values_list("dimension_code", flat=True).distinct())
    return list(Dimension.objects.filter(taxonomy_id=release.taxonomy_id, code__in=codes).order_by("order", "code"))


class EvalRunForm(forms.Form):
    release = ReleaseChoiceField(label=_("Release"), queryset=Release.objects.none(), to_field_name="version",
                                 help_text=_("Only frozen releases are evaluated."))
    targets = forms.CharField(
        label=_("Target models, in order"), widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Endpoint names, one per line (or separated by commas). The order breaks rating ties."),
    )
    judge = EndpointChoiceField(label=_("Judge"), queryset=ModelEndpoint.objects.none(), to_field_name="name",
                                help_text=_("The judge of every dimension that has none of its own below."))
    mode = forms.ChoiceField(label=_("Mode"), choices=EvalRun.Mode.choices, initial=EvalRun.Mode.ROBUST)
    seed = forms.IntegerField(label=_("Seed"), initial=0)
    system_prompt = forms.CharField(label=_("System prompt"), required=False, strip=False,
                                    widget=forms.Textarea(attrs={"rows": 3}),
                                    help_text=_("Sent before every question (optional)."))
    temperature = forms.FloatField(label=_("Temperature"), required=False, min_value=0, max_value=2,
                                   help_text=_("Empty: the model's default."))
    max_tokens = forms.IntegerField(label=_("Max tokens"), required=False, min_value=1, max_value=200_000,
                                    help_text=_("Empty: the model's default."))
    # Robust mode only; the service ignores them in livesecbench mode.
    budget = forms.IntegerField(label=_("Judge-call budget"), required=False, min_value=2,
                                help_text=_("Robust mode: judge calls the comparisons may spend. Empty: twice what "
                                            "LiveSecBench mode would spend."))
    anchor = forms.CharField(label=_("Anchor model"), required=False, max_length=100,
                             help_text=_("Robust mode: a target held at the anchor rating, so ratings compare "
                                         "across releases (optional)."))
    anchor_rating = forms.FloatField(label=_("Anchor rating"), initial=1500.0, min_value=-10_000, max_value=10_000)
    resamples = forms.IntegerField(label=_("Bootstrap resamples"), min_value=1, max_value=10_000, initial=1000)
    also_livesecbench = forms.BooleanField(label=_("Also compute the LiveSecBench figures"), required=False,
                                           help_text=_("Robust mode: play the Swiss rounds on the same answers too."))

    ROBUST_FIELDS = ("budget", "anchor", "anchor_rating", "resamples", "also_livesecbench")

    def __init__(self, *args, release: Release | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["release"].queryset = Release.objects.frozen().select_related("taxonomy").order_by(
            "-frozen_at", "-pk")
        endpoints = ModelEndpoint.objects.order_by("name")
        self.fields["judge"].queryset = endpoints
        self.dimensions = release_dimensions(release)
        for dim in self.dimensions:
            self.fields[self.judge_field(dim.code)] = EndpointChoiceField(
                label=dimension_label(dim.name_zh, dim.name_en), queryset=endpoints, to_field_name="name",
                required=False, empty_label=_("Default judge"),
            )

    @staticmethod
    def judge_field(code: str) -> str:
        return f"judge__{code}"

    def judge_fields(self):
        return [self[self.judge_field(d.code)] for d in self.dimensions]

    def main_fields(self):
        return [f for f in self if not f.name.startswith("judge__") and f.name not in self.ROBUST_FIELDS]

    def robust_fields(self):
        return [self[name] for name in self.ROBUST_FIELDS]

    def robust_options(self) -> dict:
        d = self.cleaned_data
        return {"budget": d["budget"], "anchor": d["anchor"].strip(), "anchor_rating": d["anchor_rating"],
                "resamples": d["resamples"], "also_livesecbench": d["also_livesecbench"]}

    def clean_targets(self) -> list[ModelEndpoint]:
        names = [n for n in _NAME_SPLIT.split(self.cleaned_data["targets"]) if n]
        found = {ep.name: ep for ep in ModelEndpoint.objects.filter(name__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise forms.ValidationError(_("No endpoint named %(names)s.") % {"names": ", ".join(unknown)})
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise forms.ValidationError(_("Listed more than once: %(names)s.") % {"names": ", ".join(twice)})
        return [found[n] for n in names]

    def clean_system_prompt(self) -> str:
        return from_textarea(self.cleaned_data["system_prompt"])

    def judges(self) -> dict[str, ModelEndpoint]:
        return {d.code: self.cleaned_data[self.judge_field(d.code)] for d in self.dimensions
                if self.cleaned_data.get(self.judge_field(d.code))}


class RubricForm(forms.Form):
    text = forms.CharField(label=_("Rubric"), widget=forms.Textarea(attrs={"rows": 20}), strip=False)
    notes = forms.CharField(label=_("Change note"), required=False, max_length=300)

    # The text is kept as written; an untouched textarea gives back the shown text, line breaks included.
    def clean_text(self) -> str:
        return from_textarea(self.cleaned_data["text"], self.initial.get("text") or "")


class DrilldownFilterForm(forms.Form):
    dimension = forms.ChoiceField(label=_("Dimension"), required=False)

    def __init__(self, *args, dimensions: list[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dimension"].choices = [("", _("All"))] + list(dimensions)
