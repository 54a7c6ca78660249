"""Forms of the event source pages and of the dimensions an event touches (they parse; services decide)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from curation.models import Dimension

from .models import EventSource


class EventSourceForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=EventSource.Kind.choices)
    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.URLField(label=_("Feed URL"), required=False, max_length=1000, assume_scheme="https",
                         help_text=_("For a feed source: an RSS 2.0 or Atom feed."))
    folder = forms.CharField(label=_("Folder"), required=False, max_length=300,
                             help_text=_("For a folder source: a folder under the event drop folder, "
                                         "where *.json and *.jsonl files are read and then moved to processed/."))
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    fetch_interval_minutes = forms.IntegerField(label=_("Fetch every (minutes)"), min_value=1, max_value=100000,
                                                initial=60)

    def __init__(self, *args, instance: EventSource | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {f: getattr(instance, f) for f in
                                 ("kind", "name", "url", "folder", "enabled", "fetch_interval_minutes")}
        super().__init__(*args, **kwargs)


class EventDimensionsForm(forms.Form):
    dimensions = forms.ModelMultipleChoiceField(
        label=_("Dimensions this event may touch"), required=False, widget=forms.CheckboxSelectMultiple,
        queryset=Dimension.objects.select_related("taxonomy"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dimensions"].label_from_instance = lambda d: f"{d.taxonomy.code} · {d.name_zh} ({d.name_en})"
