"""API of generation: runs (create, list, detail with progress, cancel, resume), events, templates."""

from django.db import transaction
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView, get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMaintainer
from core.fields import MAX_BIGINT, id_field
from curation.models import Dimension, Prompt, SubDimension, Technique
from curation.text import error_message
from llm.models import ModelEndpoint

from . import selectors
from . import services as gen
from .models import Event, GenerationBatch, GenerationRun, GeneratorTemplate


class BatchOutput(serializers.ModelSerializer):
    class Meta:
        model = GenerationBatch
        fields = ["index", "status", "requested", "parsed_count", "created_count", "exact_duplicates",
                  "near_duplicates", "gated_count", "gate_reasons", "gated_items", "attempts", "llm_outcome",
                  "reason", "raw_output"]


class RunOutput(serializers.ModelSerializer):
    taxonomy = serializers.CharField(source="taxonomy.code", default=None, allow_null=True, read_only=True)
    dimension = serializers.CharField(source="dimension.code", default=None, allow_null=True, read_only=True)
    sub_dimension = serializers.CharField(source="sub_dimension.code", default=None, allow_null=True, read_only=True)
    endpoint = serializers.CharField(source="endpoint.name", default=None, allow_null=True, read_only=True)
    techniques = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")
    events = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    progress = serializers.IntegerField(source="progress_percent", read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = GenerationRun
        fields = [
            "id", "mode", "status", "progress", "taxonomy", "dimension", "sub_dimension", "techniques", "seed_topics",
            "events", "count", "batch_size", "endpoint", "temperature", "strategies", "seed", "source_statuses",
            "batches_total", "batches_done", "batches_failed", "candidates_created", "exact_duplicates",
            "near_duplicates", "gated", "gate_reasons", "error", "created_by", "created_at", "started_at",
            "finished_at",
        ]


class RunDetailOutput(RunOutput):
    failed_batches = serializers.SerializerMethodField()
    gated_batches = serializers.SerializerMethodField()
    params = serializers.JSONField(read_only=True)

    class Meta(RunOutput.Meta):
        fields = [*RunOutput.Meta.fields, "params", "failed_batches", "gated_batches"]

    def get_failed_batches(self, run) -> list[dict]:
        return BatchOutput(selectors.run_failed_batches(run=run), many=True).data

    def get_gated_batches(self, run) -> list[dict]:
        """The batches whose quality gate dropped texts, with those texts."""
        return BatchOutput(run.batches.filter(gated_count__gt=0).order_by("index"), many=True).data


class RunInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=GenerationRun.Mode.choices, default=GenerationRun.Mode.LLM)
    count = serializers.IntegerField(min_value=1, max_value=gen.MAX_COUNT)
    taxonomy = serializers.CharField(required=False)
    dimension = serializers.CharField(required=False)
    sub_dimension = serializers.CharField(required=False)
    techniques = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    seed_topics = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    events = serializers.ListField(child=id_field(), required=False, default=list)
    endpoint = serializers.CharField(required=False)
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.9)
    batch_size = serializers.IntegerField(min_value=1, max_value=gen.MAX_BATCH_SIZE, required=False)
    strategies = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
    seed = serializers.IntegerField(default=0, min_value=-MAX_BIGINT, max_value=MAX_BIGINT)
    source_statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=[Prompt.Status.APPROVED, Prompt.Status.CANDIDATE, Prompt.Status.IN_REVIEW]),
        required=False, default=list,
    )


def _resolve(data: dict) -> dict:
    """Codes and names from the request to objects; a bad one raises RunError naming it."""
    dimension = sub = endpoint = None
    if data.get("dimension"):
        dims = Dimension.objects.select_related("taxonomy").filter(code=data["dimension"])
        if data.get("taxonomy"):
            dims = dims.filter(taxonomy__code=data["taxonomy"])
        dims = list(dims)
        if len(dims) != 1:
            message = (gettext("dimension %(code)s not found") if not dims
                       else gettext("dimension %(code)s exists in several taxonomies; give the taxonomy"))
            raise gen.RunError(message % {"code": repr(data["dimension"])})
        dimension = dims[0]
    if data.get("sub_dimension"):
        sub = SubDimension.objects.filter(dimension=dimension, code=data["sub_dimension"]).first()
        if sub is None:
            raise gen.RunError(gettext("sub-dimension %(code)s not found in that dimension") % {
                "code": repr(data["sub_dimension"])})
    techniques = list(Technique.objects.filter(code__in=data["techniques"]))
    missing = set(data["techniques"]) - {t.code for t in techniques}
    if missing:
        raise gen.RunError(gettext("unknown technique(s): %(codes)s") % {"codes": ", ".join(sorted(missing))})
    events = list(Event.objects.filter(pk__in=data["events"]))
    if len(events) != len(set(data["events"])):
        raise gen.RunError(gettext("unknown event id(s)"))
    if data.get("endpoint"):
        endpoint = ModelEndpoint.objects.filter(name=data["endpoint"]).first()
        if endpoint is None:
            raise gen.RunError(gettext("no endpoint named %(name)s") % {"name": repr(data["endpoint"])})
    taxonomy = None
    if data.get("taxonomy") and dimension is None:
        from curation.models import Taxonomy

        taxonomy = Taxonomy.objects.filter(code=data["taxonomy"]).first()
        if taxonomy is None:
            raise gen.RunError(gettext("taxonomy %(code)s not found") % {"code": repr(data["taxonomy"])})
    return {"dimension": dimension, "sub_dimension": sub, "techniques": techniques, "events": events,
            "endpoint": endpoint, "taxonomy": taxonomy}


class RunListApi(ListAPIView):
    permission_classes = [IsMaintainer]
    serializer_class = RunOutput

    def get_queryset(self):
        return selectors.run_list().prefetch_related("techniques", "events")

    @extend_schema(request=RunInput, responses={201: RunDetailOutput})
    def post(self, request):
        data = RunInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            objects = _resolve(v)
            with transaction.atomic():
                run = gen.run_create(
                    mode=v["mode"], count=v["count"], temperature=v["temperature"], batch_size=v.get("batch_size"),
                    seed_topics=v["seed_topics"], strategies=v["strategies"], seed=v["seed"],
                    source_statuses=v["source_statuses"] or [Prompt.Status.APPROVED], actor=request.user, **objects,
                )
        except gen.RunError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(RunDetailOutput(selectors.run_get(pk=run.pk)).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=RunDetailOutput)
    def get(self, request, pk: int):
        return Response(RunDetailOutput(get_object_or_404(selectors.run_list(), pk=pk)).data)


class RunCancelApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(request=None, responses=RunOutput)
    def post(self, request, pk: int):
        run = get_object_or_404(GenerationRun, pk=pk)
        try:
            run = gen.run_cancel(run=run, actor=request.user)
        except gen.RunError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(RunOutput(run).data)


class RunResumeApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(request=None, responses=RunOutput)
    def post(self, request, pk: int):
        run = get_object_or_404(GenerationRun, pk=pk)
        try:
            run = gen.run_resume(run=run, actor=request.user)
        except gen.RunError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(RunOutput(run).data)


class EventOutput(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name", default=None, allow_null=True, read_only=True)
    dimensions = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Event
        fields = ["id", "title", "date", "summary", "source_url", "tags", "source", "dimensions",
                  "dimensions_confirmed", "created_at", "updated_at"]


class EventInput(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    date = serializers.DateField()
    summary = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    source_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=1000)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)


class EventListApi(ListAPIView):
    permission_classes = [IsMaintainer]
    serializer_class = EventOutput

    def get_queryset(self):
        return selectors.event_list()

    @extend_schema(request=EventInput, responses={201: EventOutput})
    def post(self, request):
        data = EventInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            event = gen.event_create(**data.validated_data, actor=request.user)
        except (ValueError, gen.RunError) as exc:
            return Response({"detail": error_message(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EventOutput(event).data, status=status.HTTP_201_CREATED)


class EventDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=EventOutput)
    def get(self, request, pk: int):
        return Response(EventOutput(get_object_or_404(Event, pk=pk)).data)

    @extend_schema(request=EventInput(partial=True), responses=EventOutput)
    def patch(self, request, pk: int):
        event = get_object_or_404(Event, pk=pk)
        data = EventInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in request.data}
        try:
            event = gen.event_update(event=event, **fields)
        except (ValueError, gen.RunError) as exc:
            return Response({"detail": error_message(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EventOutput(event).data)


class TemplateOutput(serializers.ModelSerializer):
    dimension = serializers.CharField(source="dimension.code", default=None, allow_null=True, read_only=True)
    taxonomy = serializers.CharField(source="dimension.taxonomy.code", default=None, allow_null=True, read_only=True)
    technique = serializers.CharField(source="technique.code", default=None, allow_null=True, read_only=True)

    class Meta:
        model = GeneratorTemplate
        fields = ["id", "scope", "taxonomy", "dimension", "technique", "version", "system_text", "body", "notes",
                  "created_at"]


class TemplateListApi(APIView):
    """The current version of every generator template."""

    permission_classes = [IsMaintainer]

    @extend_schema(responses=TemplateOutput(many=True))
    def get(self, request):
        return Response(TemplateOutput(selectors.template_current_list(), many=True).data)
