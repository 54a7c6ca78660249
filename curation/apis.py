from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAnyRole, IsMaintainer

from . import selectors, services
from .importers import FORMATS, ImportRejected
from .models import Dimension, Prompt, SubDimension, Taxonomy, Technique


class SubDimensionOutput(serializers.ModelSerializer):
    class Meta:
        model = SubDimension
        fields = ["id", "code", "name_zh", "name_en"]


class DimensionOutput(serializers.ModelSerializer):
    sub_dimensions = SubDimensionOutput(many=True, read_only=True)

    class Meta:
        model = Dimension
        fields = ["id", "code", "name_zh", "name_en", "description", "uses_reference_answers", "sub_dimensions"]


class TaxonomyOutput(serializers.ModelSerializer):
    dimensions = DimensionOutput(many=True, read_only=True)

    class Meta:
        model = Taxonomy
        fields = ["id", "code", "name_zh", "name_en", "description", "released_on", "dimensions"]


class TechniqueOutput(serializers.ModelSerializer):
    class Meta:
        model = Technique
        fields = ["id", "code", "name_zh", "name_en", "description_zh", "description_en"]


class PromptOutput(serializers.ModelSerializer):
    taxonomy = serializers.CharField(source="dimension.taxonomy.code", read_only=True)
    dimension = serializers.CharField(source="dimension.code", read_only=True)
    sub_dimension = serializers.CharField(source="sub_dimension.code", read_only=True, default=None, allow_null=True)
    techniques = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")

    class Meta:
        model = Prompt
        fields = [
            "id", "text", "language", "taxonomy", "dimension", "sub_dimension", "techniques", "risk_expression",
            "severity", "expected_behaviour", "reference_answers", "source", "provenance", "metadata",
            "external_id", "normalized_hash", "near_duplicate_of", "near_duplicate_score", "status",
            "agreement", "created_at", "updated_at",
        ]


class PromptFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Prompt.Status.choices)
    source = filters.ChoiceFilter(choices=Prompt.Source.choices)
    dimension = filters.CharFilter(field_name="dimension__code")
    taxonomy = filters.CharFilter(field_name="dimension__taxonomy__code")

    class Meta:
        model = Prompt
        fields = ["status", "source", "dimension", "taxonomy"]


class TaxonomyListApi(generics.ListAPIView):
    permission_classes = [IsAnyRole]
    serializer_class = TaxonomyOutput
    pagination_class = None

    def get_queryset(self):
        return selectors.taxonomy_list()


class TechniqueListApi(generics.ListAPIView):
    permission_classes = [IsAnyRole]
    serializer_class = TechniqueOutput
    pagination_class = None

    def get_queryset(self):
        return selectors.technique_list()


class PromptListApi(generics.ListAPIView):
    permission_classes = [IsMaintainer]
    serializer_class = PromptOutput
    filterset_class = PromptFilter

    def get_queryset(self):
        return selectors.prompt_list()


class PromptDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsMaintainer]
    serializer_class = PromptOutput

    def get_queryset(self):
        return selectors.prompt_list()


class PromptImportApi(APIView):
    """Upload a LiveSecBench JSON / JSONL / CSV file. Every row imports, or none does."""

    permission_classes = [IsMaintainer]
    parser_classes = [MultiPartParser, FormParser]

    class PromptImportInput(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(choices=FORMATS, required=False)
        taxonomy = serializers.SlugRelatedField(slug_field="code", queryset=Taxonomy.objects.all(), required=False)
        status = serializers.ChoiceField(
            choices=[Prompt.Status.CANDIDATE, Prompt.Status.APPROVED], default=Prompt.Status.CANDIDATE
        )
        skip_existing_ids = serializers.BooleanField(default=False)

    InputSerializer = PromptImportInput

    @extend_schema(
        request=InputSerializer,
        responses={
            201: inline_serializer(
                "ImportReport",
                {"created": serializers.IntegerField(), "duplicates": serializers.ListField(child=serializers.IntegerField()),
                 "duplicate_rows": serializers.ListField(child=inline_serializer(
                     "ImportRowRef", {"line": serializers.IntegerField(), "question_id": serializers.CharField()})),
                 "skipped_existing": serializers.ListField(child=inline_serializer(
                     "ImportSkippedRow", {"line": serializers.IntegerField(), "question_id": serializers.CharField()})),
                 "total_rows": serializers.IntegerField()},
            ),
            # Bad rows of a readable upload, or (before any row is read) the form's own errors by field.
            400: OpenApiResponse(response={"oneOf": [
                {"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array", "items": {
                    "type": "object", "required": ["line", "message"],
                    "properties": {"line": {"type": "integer"}, "message": {"type": "string"}}}}}},
                {"type": "object", "minProperties": 1,
                 "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            ]}, description="Rows refused (every bad row by line; nothing imported), or fields refused (by name)"),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        taxonomy = data.validated_data.get("taxonomy")
        try:
            report = services.prompts_import(
                content=upload.read(),
                filename=upload.name,
                fmt=data.validated_data.get("format"),
                status=data.validated_data["status"],
                taxonomy_code=taxonomy.code if taxonomy else None,
                actor=request.user,
                skip_existing_ids=data.validated_data["skip_existing_ids"],
            )
        except ImportRejected as exc:
            return Response(
                {"errors": [{"line": e.line, "message": e.message} for e in exc.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        rows = {"duplicate_rows": report.duplicate_rows, "skipped_existing": report.skipped_existing}
        return Response(
            {"created": report.created, "duplicates": report.duplicates, "total_rows": report.total_rows,
             **{key: [{"line": r.line, "question_id": r.question_id} for r in refs] for key, refs in rows.items()}},
            status=status.HTTP_201_CREATED,
        )
