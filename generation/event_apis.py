"""API of event sources: list and create, detail and edit, fetch now, push events into an API source; and the
confirmation of an event's dimensions. Maintainers and admins only."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMaintainer
from curation.models import Dimension
from curation.text import error_message

from . import event_services as evs
from .models import Event, EventSource


class EventSourceOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = EventSource
        fields = ["id", "kind", "name", "url", "folder", "enabled", "fetch_interval_minutes", "last_fetched_at",
                  "last_ok_at", "last_error", "last_created", "last_duplicates", "last_invalid", "last_messages",
                  "created_by", "created_at"]


class EventSourceInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EventSource.Kind.choices)
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(required=False, allow_blank=True, default="", max_length=1000)
    folder = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    enabled = serializers.BooleanField(required=False, default=True)
    fetch_interval_minutes = serializers.IntegerField(required=False, default=60, min_value=1, max_value=100000)


class EventSourceListApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=EventSourceOutput(many=True))
    def get(self, request):
        return Response(EventSourceOutput(EventSource.objects.select_related("created_by"), many=True).data)

    @extend_schema(request=EventSourceInput, responses={201: EventSourceOutput})
    def post(self, request):
        data = EventSourceInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            source = evs.event_source_create(**data.validated_data, actor=request.user)
        except (evs.SourceError, ValueError) as exc:
            return Response({"detail": error_message(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EventSourceOutput(source).data, status=status.HTTP_201_CREATED)


class EventSourceDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=EventSourceOutput)
    def get(self, request, pk: int):
        return Response(EventSourceOutput(get_object_or_404(EventSource, pk=pk)).data)

    @extend_schema(request=EventSourceInput(partial=True), responses=EventSourceOutput)
    def patch(self, request, pk: int):
        source = get_object_or_404(EventSource, pk=pk)
        data = EventSourceInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in request.data}
        try:
            source = evs.event_source_update(source=source, **fields)
        except (evs.SourceError, ValueError) as exc:
            return Response({"detail": error_message(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EventSourceOutput(source).data)


class EventSourceFetchApi(APIView):
    """Queue a fetch of a feed or folder source now (202); the source shows the result once it ran."""

    permission_classes = [IsMaintainer]

    @extend_schema(request=None, responses={202: EventSourceOutput})
    def post(self, request, pk: int):
        source = get_object_or_404(EventSource, pk=pk)
        if source.kind not in EventSource.FETCHED:
            return Response({"detail": "an API source has nothing to fetch; post its events instead"},
                            status=status.HTTP_400_BAD_REQUEST)
        evs.event_source_enqueue(source=source)
        return Response(EventSourceOutput(source).data, status=status.HTTP_202_ACCEPTED)


class PushedEvent(serializers.Serializer):
    title = serializers.CharField(max_length=300, trim_whitespace=False)
    date = serializers.CharField(required=False, allow_blank=True, default="")
    summary = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    url = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)


class PushInput(serializers.Serializer):
    events = PushedEvent(many=True, allow_empty=False, max_length=1000)


class PushOutput(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    invalid = serializers.IntegerField()
    messages = serializers.ListField(child=serializers.CharField())


class EventSourcePushApi(APIView):
    """Events sent to an API source: stored like fetched ones (dedup, suggested dimensions)."""

    permission_classes = [IsMaintainer]

    @extend_schema(request=PushInput, responses=PushOutput)
    def post(self, request, pk: int):
        source = get_object_or_404(EventSource, pk=pk)
        if source.kind != EventSource.Kind.API:
            return Response({"detail": "events are pushed only to an API source"}, status=status.HTTP_400_BAD_REQUEST)
        data = PushInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = evs.event_source_push(source=source, rows=data.validated_data["events"])
        return Response(PushOutput(report).data)


class EventDimensionsInput(serializers.Serializer):
    dimensions = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
                                       allow_empty=True, max_length=100)


class EventDimensionsApi(APIView):
    """Confirm (or correct) the dimensions an event may touch: ids of dimensions; an empty list is "none"."""

    permission_classes = [IsMaintainer]

    @extend_schema(request=EventDimensionsInput, responses={200: None})
    def post(self, request, pk: int):
        event = get_object_or_404(Event, pk=pk)
        data = EventDimensionsInput(data=request.data)
        data.is_valid(raise_exception=True)
        ids = set(data.validated_data["dimensions"])
        dims = list(Dimension.objects.filter(pk__in=ids))
        if len(dims) != len(ids):
            return Response({"detail": "unknown dimension id(s)"}, status=status.HTTP_400_BAD_REQUEST)
        evs.event_dimensions_confirm(event=event, dimensions=dims, actor=request.user)
        return Response({"id": event.pk, "dimensions": sorted(ids), "dimensions_confirmed": True})

