from django import forms
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension, Prompt
from llm.models import ModelEndpoint

from .attack_services import LIMITS


class AttackRunForm(forms.Form):
    seed_prompt = forms.IntegerField(label=_("Seed prompt id"), required=False, min_value=1,
                                     help_text=_("An approved item or a candidate; or write a seed text below."))
    seed_text = forms.CharField(label=_("Seed text"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                strip=False)
    dimension = forms.ModelChoiceField(label=_("Dimension"), required=False,
                                       queryset=Dimension.objects.select_related("taxonomy").order_by("taxonomy__code",
                                                                                                      "order", "code"))
    attacker = forms.ModelChoiceField(label=_("Attacker"), queryset=ModelEndpoint.objects.order_by("name"))
    target = forms.ModelChoiceField(label=_("Target"), queryset=ModelEndpoint.objects.order_by("name"))
    judge = forms.ModelChoiceField(label=_("Judge"), queryset=ModelEndpoint.objects.order_by("name"))
    streams = forms.IntegerField(label=_("Streams"), initial=3, min_value=LIMITS["streams"][0],
                                 max_value=LIMITS["streams"][1])
    iterations = forms.IntegerField(label=_("Iterations"), initial=4, min_value=LIMITS["iterations"][0],
                                    max_value=LIMITS["iterations"][1])
    branching = forms.IntegerField(label=_("Branching factor"), initial=1, min_value=LIMITS["branching"][0],
                                   max_value=LIMITS["branching"][1])
    width = forms.IntegerField(label=_("Width kept"), initial=1, min_value=LIMITS["width"][0],
                               max_value=LIMITS["width"][1])
    tap = forms.BooleanField(label=_("TAP pruning"), required=False)
    threshold = forms.IntegerField(label=_("Success score"), initial=10, min_value=1, max_value=10)
    mutation_rate = forms.FloatField(label=_("Offline mutation rate"), initial=0.2, min_value=0, max_value=1)
    seed = forms.IntegerField(label=_("Seed"), initial=0)
    max_calls = forms.IntegerField(label=_("Max calls"), initial=60, min_value=1, max_value=LIMITS["max_calls"][1])
    max_tokens = forms.IntegerField(label=_("Max tokens"), initial=200_000, min_value=1,
                                    max_value=LIMITS["max_tokens"][1])
    max_seconds = forms.IntegerField(label=_("Max seconds"), initial=600, min_value=1,
                                     max_value=LIMITS["max_seconds"][1])

    def clean(self):
        data = super().clean()
        pid = data.get("seed_prompt")
        if pid:
            prompt = Prompt.objects.filter(pk=pid).first()
            if prompt is None:
                self.add_error("seed_prompt", _("No prompt has this id."))
            data["seed_prompt"] = prompt
        elif not (data.get("seed_text") or "").strip():
            self.add_error("seed_text", _("Give a seed prompt id or a seed text."))
        elif data.get("dimension") is None:
            self.add_error("dimension", _("A seed text needs a dimension."))
        return data
