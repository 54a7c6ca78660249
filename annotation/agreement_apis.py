"""`GET /api/agreement/`: the dashboard's numbers as JSON, every figure with its n."""

from __future__ import annotations

from typing import get_args

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMaintainer
from curation.models import Dimension

from . import agreement as ag
from . import agreement_report as report
from . import agreement_selectors as selectors
from .agreement_forms import MAX_MIN_SHARED
from .models import ReviewQueue


class AgreementQueryInput(serializers.Serializer):
    queue = serializers.IntegerField(required=False, min_value=1, help_text="Review queue id")
    dimension = serializers.CharField(required=False, max_length=100, help_text="Dimension id or code")
    annotator = serializers.CharField(required=False, max_length=150, help_text="User id or username")
    field = serializers.ChoiceField(choices=list(report.FIELDS), default=report.DEFAULT_FIELD)
    since = serializers.DateField(required=False, help_text="Items last annotated on or after this local date")
    until = serializers.DateField(required=False, help_text="Items last annotated on or before this local date")
    min_shared = serializers.IntegerField(default=10, min_value=1, max_value=MAX_MIN_SHARED)
    top = serializers.IntegerField(default=20, min_value=0, max_value=500)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise ValidationError({"until": "until is before since"})
        return attrs


class AlphaOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    band = serializers.ChoiceField(
        choices=list(get_args(ag.Band)), help_text="not_computable: alpha is undefined (value is null)"
    )
    n_items = serializers.IntegerField()
    n_annotations = serializers.IntegerField()


class AlphaCiOutput(serializers.Serializer):
    lo = serializers.FloatField(allow_null=True)
    hi = serializers.FloatField(allow_null=True)
    ci = serializers.FloatField()
    n_boot = serializers.IntegerField()
    seed = serializers.IntegerField()
    n_items = serializers.IntegerField()


class FleissOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n_items = serializers.IntegerField()
    raters_per_item = serializers.IntegerField(allow_null=True)


class PercentOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n_items = serializers.IntegerField()
    n_pairs = serializers.IntegerField()


class FieldOutput(serializers.Serializer):
    field = serializers.CharField()
    level = serializers.CharField()
    n_annotations = serializers.IntegerField()
    n_items = serializers.IntegerField()
    n_annotators = serializers.IntegerField()
    n_items_pairable = serializers.IntegerField()
    n_annotations_pairable = serializers.IntegerField()
    alpha = AlphaOutput()
    alpha_ci = AlphaCiOutput()
    fleiss_kappa = FleissOutput()
    percent_agreement = PercentOutput()


class KappaOutput(serializers.Serializer):
    annotators = serializers.ListField(child=serializers.IntegerField())
    usernames = serializers.ListField(child=serializers.CharField())
    kappa = serializers.ListField(child=serializers.ListField(child=serializers.FloatField(allow_null=True)))
    n = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    min_shared = serializers.IntegerField()
    n_pairs = serializers.IntegerField()


class WeeklySeriesOutput(serializers.Serializer):
    alpha = serializers.ListField(child=serializers.FloatField(allow_null=True))
    n_items = serializers.ListField(child=serializers.IntegerField())


class WeeklyOutput(serializers.Serializer):
    weeks = serializers.ListField(child=serializers.CharField())
    fields = serializers.DictField(child=WeeklySeriesOutput())


class ShareOutput(serializers.Serializer):
    share = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    n_agree = serializers.IntegerField()


class RejectionOutput(serializers.Serializer):
    share = serializers.FloatField(allow_null=True)
    n_rejected = serializers.IntegerField()
    n = serializers.IntegerField()


class WithOthersOutput(serializers.Serializer):
    share = serializers.FloatField(allow_null=True)
    n_pairs = serializers.IntegerField()


class AnnotatorOutput(serializers.Serializer):
    annotator = serializers.IntegerField()
    username = serializers.CharField()
    n_annotations = serializers.IntegerField()
    n_items = serializers.IntegerField()
    n_surplus = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    rejection_rate = RejectionOutput()
    with_others = WithOthersOutput()
    with_final = ShareOutput()
    with_final_adjudicated = ShareOutput()
    with_final_consensus = ShareOutput()


class ValueCountOutput(serializers.Serializer):
    value = serializers.JSONField()
    count = serializers.IntegerField()


class DisagreedOutput(serializers.Serializer):
    item = serializers.IntegerField()
    text = serializers.CharField()
    agreement = serializers.FloatField(allow_null=True)
    n_annotations = serializers.IntegerField()
    values = ValueCountOutput(many=True)


class TotalsOutput(serializers.Serializer):
    n_annotations = serializers.IntegerField()
    n_items = serializers.IntegerField()
    n_items_pairable = serializers.IntegerField()
    n_annotators = serializers.IntegerField()
    n_surplus = serializers.IntegerField()
    n_decided = serializers.IntegerField()
    n_adjudicated = serializers.IntegerField()


class FiltersOutput(serializers.Serializer):
    queue = serializers.IntegerField(allow_null=True)
    dimension = serializers.IntegerField(allow_null=True)
    annotator = serializers.IntegerField(allow_null=True)
    since = serializers.CharField(allow_null=True)
    until = serializers.CharField(allow_null=True)


class ParamsOutput(serializers.Serializer):
    n_boot = serializers.IntegerField()
    seed = serializers.IntegerField()
    ci = serializers.FloatField()
    min_shared = serializers.IntegerField()
    top_n = serializers.IntegerField()


class AgreementOutput(serializers.Serializer):
    filters = FiltersOutput()
    field = serializers.CharField()
    totals = TotalsOutput()
    fields = FieldOutput(many=True)
    kappa = KappaOutput()
    weekly = WeeklyOutput()
    annotators = AnnotatorOutput(many=True)
    disagreed = DisagreedOutput(many=True)
    n_disagreed = serializers.IntegerField()
    params = ParamsOutput()


def _dimension_id(value: str) -> int:
    if value.isdigit():
        if not Dimension.objects.filter(pk=int(value)).exists():
            raise ValidationError({"dimension": f"no dimension with id {value}"})
        return int(value)
    matches = list(Dimension.objects.filter(code=value).values_list("pk", "taxonomy__code"))
    if not matches:
        raise ValidationError({"dimension": f"no dimension with code {value!r}"})
    if len(matches) > 1:
        taxonomies = ", ".join(sorted(t for _, t in matches))
        raise ValidationError({"dimension": f"code {value!r} exists in taxonomies {taxonomies}; pass the id"})
    return matches[0][0]


def _user_id(value: str) -> int:
    User = get_user_model()
    found = User.objects.filter(**{User.USERNAME_FIELD: value}).values_list("pk", flat=True).first()
    if found is None and value.isdigit():
        found = User.objects.filter(pk=int(value)).values_list("pk", flat=True).first()
    if found is None:
        raise ValidationError({"annotator": f"no user {value!r}"})
    return found


class AgreementApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(
        parameters=[AgreementQueryInput],
        responses=AgreementOutput,
        description="Inter-annotator agreement for the filtered annotations: Krippendorff's alpha with a "
        "bootstrap 95% CI, Fleiss' kappa, percent agreement per field; pairwise Cohen's kappa, weekly alpha, "
        "per-annotator figures and the most disagreed items for `field`. Each figure carries its n.",
    )
    def get(self, request):
        query = AgreementQueryInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        if "queue" in q and not ReviewQueue.objects.filter(pk=q["queue"]).exists():
            raise ValidationError({"queue": f"no review queue with id {q['queue']}"})
        filters = selectors.AgreementFilters(
            queue=q.get("queue"),
            dimension=_dimension_id(q["dimension"]) if q.get("dimension") else None,
            annotator=_user_id(q["annotator"]) if q.get("annotator") else None,
            since=q.get("since"),
            until=q.get("until"),
        )
        data = selectors.agreement_dashboard(
            filters=filters, field=q["field"], min_shared=q["min_shared"], top_n=q["top"]
        )
        return Response(AgreementOutput(data).data)

