from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMaintainer
from core.fields import MAX_INT

from . import selectors, services
from .models import ModelEndpoint


class EndpointOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelEndpoint
        fields = [
            "id", "name", "base_url", "model", "api_key_env", "max_concurrency", "requests_per_minute", "timeout",
            "default_params", "is_reasoning", "notes", "created_at", "updated_at",
        ]


class EndpointInput(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    base_url = serializers.URLField(max_length=500)
    model = serializers.CharField(max_length=200)
    api_key_env = serializers.RegexField(r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100, required=False, allow_blank=True)
    max_concurrency = serializers.IntegerField(min_value=1, max_value=256, required=False)
    requests_per_minute = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False)
    timeout = serializers.FloatField(min_value=0.1, required=False)
    default_params = serializers.DictField(required=False)
    is_reasoning = serializers.BooleanField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class EndpointListApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=EndpointOutput(many=True))
    def get(self, request):
        return Response(EndpointOutput(selectors.endpoint_list(), many=True).data)

    @extend_schema(request=EndpointInput, responses={201: EndpointOutput})
    def post(self, request):
        data = EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_create(**data.validated_data)
        except services.EndpointError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EndpointOutput(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=EndpointOutput)
    def get(self, request, pk: int):
        return Response(EndpointOutput(get_object_or_404(ModelEndpoint, pk=pk)).data)

    @extend_schema(request=EndpointInput(partial=True), responses=EndpointOutput)
    def patch(self, request, pk: int):
        endpoint = get_object_or_404(ModelEndpoint, pk=pk)
        data = EndpointInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_update(endpoint=endpoint, **data.validated_data)
        except services.EndpointError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EndpointOutput(endpoint).data)


class EndpointTestApi(APIView):
    """One tiny uncached call: does the endpoint answer?"""

    permission_classes = [IsMaintainer]

    class OutputSerializer(serializers.Serializer):
        outcome = serializers.CharField()
        content = serializers.CharField()
        latency_ms = serializers.FloatField()
        attempts = serializers.IntegerField()
        error = serializers.CharField(allow_null=True)

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request, pk: int):
        result = services.endpoint_test(endpoint=get_object_or_404(ModelEndpoint, pk=pk))
        return Response(self.OutputSerializer(result.to_dict()).data)
