"""The prompt pool's filters: choices, not free text; the dimension list follows the chosen taxonomy."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Prompt

# Options carry their taxonomy ("v251030:privacy"): both taxonomies have a `privacy`, and "v251215 · 隐私" must
# not also show v251030's items.
SEPARATOR = ":"


class _DimensionField(forms.ChoiceField):
    """Accepts any known dimension, offered or not, so that `PromptFilterForm.clean` can say which taxonomy a
    stray one belongs to; and, for old links (`?dimension=legality`), a bare code."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.known: set[str] = set()

    def valid_value(self, value) -> bool:
        return value in self.known or super().valid_value(value)


class PromptFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("All"))] + list(Prompt.Status.choices))
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("All"))] + list(Prompt.Source.choices))
    taxonomy = forms.ChoiceField(label=_("Taxonomy"), required=False)
    dimension = _DimensionField(label=_("Dimension"), required=False)

    def __init__(self, *args, taxonomies=(), dimensions=(), taxonomy_attrs=None, **kwargs):
        """`taxonomies`: (code, label); `dimensions`: (taxonomy code, dimension code, label), in display order.
        With a taxonomy chosen only its dimensions are offered; otherwise all, grouped by taxonomy."""
        super().__init__(*args, **kwargs)
        self.fields["taxonomy"].choices = [("", _("All"))] + [(code, label) for code, label in taxonomies]
        self.fields["taxonomy"].widget.attrs.update(taxonomy_attrs or {})
        chosen = self._raw("taxonomy")
        groups: dict[str, list[tuple[str, str]]] = {}
        for tax, code, label in dimensions:
            if not chosen or tax == chosen:
                groups.setdefault(tax, []).append((f"{tax}{SEPARATOR}{code}", label))
        field = self.fields["dimension"]
        field.known = {code for _, code, _ in dimensions} | {f"{tax}{SEPARATOR}{code}" for tax, code, _ in dimensions}
        if chosen:
            field.choices = [("", _("All"))] + groups.get(chosen, [])
        else:
            field.choices = [("", _("All"))] + [(tax, options) for tax, options in groups.items()]

    def _raw(self, name: str) -> str:
        if self.is_bound:
            return str(self.data.get(name) or "")
        return str(self.initial.get(name) or "")

    def clean(self):
        data = super().clean()
        owner, sep, code = (data.get("dimension") or "").rpartition(SEPARATOR)
        if sep:
            if data.get("taxonomy") and owner != data["taxonomy"]:
                self.add_error("dimension", _("This dimension belongs to taxonomy %(owner)s, not to %(taxonomy)s.")
                               % {"owner": owner, "taxonomy": data["taxonomy"]})
            data["taxonomy"] = data.get("taxonomy") or owner
        data["dimension"] = code
        return data

    def selector_filters(self) -> dict[str, str]:
        """Keyword arguments of `selectors.prompt_list` (empty filters left out)."""
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}
