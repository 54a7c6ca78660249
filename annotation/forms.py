from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.roles import ROLES
from curation.models import Dimension, Taxonomy

from .models import MAX_ANNOTATORS_PER_ITEM, ReviewQueue


class DimensionChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.taxonomy.code} · {obj.name_zh} / {obj.name_en}"


class MemberChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.get_username()


class QueueForm(forms.Form):
    """Parses the queue page; the rules (taxonomy match, N only grows once started) live in the service."""

    name = forms.CharField(label=_("Name"), max_length=200)
    taxonomy = forms.ModelChoiceField(label=_("Taxonomy"), queryset=Taxonomy.objects.all())
    dimensions = DimensionChoiceField(
        label=_("Dimensions"),
        queryset=Dimension.objects.select_related("taxonomy"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every dimension of the taxonomy."),
    )
    annotators_per_item = forms.IntegerField(label=_("Annotators per item"), min_value=1, max_value=MAX_ANNOTATORS_PER_ITEM, initial=3)
    lease_minutes = forms.IntegerField(label=_("Lease minutes"), min_value=1, max_value=24 * 60, initial=20)
    consensus_rule = forms.ChoiceField(
        label=_("Consensus rule"), choices=ReviewQueue.ConsensusRule.choices, initial=ReviewQueue.ConsensusRule.UNANIMOUS
    )
    guidelines = forms.CharField(
        label=_("Guidelines (Markdown)"), required=False, widget=forms.Textarea(attrs={"rows": 10}), strip=False
    )
    members = MemberChoiceField(
        label=_("Members"),
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every annotator may review this queue."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True)
        self.fields["members"].queryset = (
            users.filter(Q(groups__name__in=ROLES) | Q(is_superuser=True)).distinct().order_by("username")
        )

    @classmethod
    def initial_for(cls, queue: ReviewQueue) -> dict:
        return {
            "name": queue.name,
            "taxonomy": queue.taxonomy_id,
            "dimensions": [d.pk for d in queue.dimensions.all()],
            "annotators_per_item": queue.annotators_per_item,
            "lease_minutes": queue.lease_minutes,
            "consensus_rule": queue.consensus_rule,
            "guidelines": queue.guidelines,
            "members": [u.pk for u in queue.members.all()],
            "is_active": queue.is_active,
        }
