"""Release API. Reads: any role (frozen releases, public exports); drafts, writes and full exports: maintainers.
A frozen release answers every write with 409 Conflict."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMaintainer, ReadAnyRoleWriteMaintainer
from accounts.roles import is_maintainer

from . import selectors
from . import services as releases
from .models import FrozenReleaseError, Release, ReleaseExport


def _get(request, version: str) -> Release:
    try:
        return selectors.release_get(version=version, user=request.user)
    except Release.DoesNotExist:
        raise NotFound("no such release")


def _conflict(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_409_CONFLICT)


def _unknown_fields(data, serializer_class, nested: dict[str, type] | None = None) -> Response | None:
    """A 400 naming fields the API does not know: DRF drops them silently, and a dropped `dimensions` (sent beside
    `filters` instead of inside it) would cut a release of every dimension."""
    if not hasattr(data, "keys"):
        return None
    unknown = sorted(set(data.keys()) - set(serializer_class().fields))
    for name, inner in (nested or {}).items():
        value = data.get(name)
        if hasattr(value, "keys"):
            unknown += sorted(f"{name}.{key}" for key in set(value.keys()) - set(inner().fields))
    if not unknown:
        return None
    known = [*serializer_class().fields, *(f"{n}.{f}" for n, inner in (nested or {}).items() for f in inner().fields)]
    return Response(
        {"detail": f"unknown fields: {', '.join(unknown)} (known: {', '.join(known)})", "unknown_fields": unknown},
        status=status.HTTP_400_BAD_REQUEST,
    )


class ExportOutput(serializers.Serializer):
    format = serializers.CharField()
    scope = serializers.CharField()
    status = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    rows = serializers.IntegerField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    error = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, obj) -> str:
        request = self.context["request"]
        return request.build_absolute_uri(
            f"/api/releases/{obj.release.version}/export/?format={obj.format}&scope={obj.scope}"
        )


class ReleaseOutput(serializers.ModelSerializer):
    taxonomy = serializers.CharField(source="taxonomy.code")
    parent = serializers.CharField(source="parent.version", default=None, allow_null=True)
    frozen_by = serializers.CharField(source="frozen_by.username", default=None, allow_null=True)
    progress = serializers.SerializerMethodField()
    exports = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "version", "title", "notes", "status", "taxonomy", "parent", "holdout_fraction", "filters", "item_count",
            "public_count", "digest", "public_digest", "manifest", "contamination", "frozen_at", "frozen_by",
            "created_at", "freeze_error", "progress", "exports",
        ]

    def get_progress(self, obj) -> dict:
        return {"done": obj.progress_done, "total": obj.progress_total}

    def get_exports(self, obj) -> list[dict]:
        request = self.context["request"]
        rows = selectors.release_exports(release=obj).select_related("release")
        if not is_maintainer(request.user):
            rows = rows.filter(scope=ReleaseExport.Scope.PUBLIC)
        return ExportOutput(rows, many=True, context=self.context).data


class ReleaseSummaryOutput(serializers.ModelSerializer):
    taxonomy = serializers.CharField(source="taxonomy.code")
    parent = serializers.CharField(source="parent.version", default=None, allow_null=True)

    class Meta:
        model = Release
        fields = ["version", "title", "status", "taxonomy", "parent", "item_count", "public_count", "digest",
                  "public_digest", "frozen_at"]


class FiltersInput(serializers.Serializer):
    dimensions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    date_from = serializers.DateField(required=False, allow_null=True, default=None)
    date_to = serializers.DateField(required=False, allow_null=True, default=None)
    min_agreement = serializers.FloatField(required=False, allow_null=True, default=None)
    include_new = serializers.BooleanField(required=False, default=True)


class ReleaseListApi(APIView):
    permission_classes = [ReadAnyRoleWriteMaintainer]
    pagination_class = PageNumberPagination  # also what the schema documents: a page, not a bare list

    class ReleaseCreateInput(serializers.Serializer):
        version = serializers.CharField(required=False, allow_blank=True, max_length=20)
        title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
        notes = serializers.CharField(required=False, allow_blank=True, default="")
        taxonomy = serializers.CharField(required=False, allow_null=True, default=None,
                                         help_text="a taxonomy code; default: the one the approved prompts are in "
                                                   "(refused when they are in several)")
        parent = serializers.CharField(required=False, allow_null=True, default=releases.LATEST,
                                       help_text="a version, 'latest' (default) or null")
        holdout_fraction = serializers.FloatField(required=False, default=0.0)
        filters = FiltersInput(required=False)

    InputSerializer = ReleaseCreateInput

    @extend_schema(responses=ReleaseSummaryOutput(many=True))
    def get(self, request):
        rows = selectors.release_list(user=request.user, include_drafts=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ReleaseSummaryOutput(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ReleaseOutput})
    def post(self, request):
        refused = _unknown_fields(request.data, self.InputSerializer, {"filters": FiltersInput})
        if refused is not None:
            return refused
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            release = releases.release_create_draft(
                version=d.get("version") or None, title=d["title"], notes=d["notes"], taxonomy=d["taxonomy"],
                parent=None if d["parent"] in (None, "none") else d["parent"], holdout_fraction=d["holdout_fraction"],
                filters=dict(d.get("filters") or {}), actor=request.user, require_items=True,
            )
        except releases.ReleaseError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ReleaseOutput(release, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ReleaseDetailApi(APIView):
    permission_classes = [ReadAnyRoleWriteMaintainer]

    class ReleaseUpdateInput(serializers.Serializer):
        title = serializers.CharField(required=False, allow_blank=True, max_length=200)
        notes = serializers.CharField(required=False, allow_blank=True)
        parent = serializers.CharField(required=False, allow_null=True)
        holdout_fraction = serializers.FloatField(required=False)
        filters = FiltersInput(required=False)

    InputSerializer = ReleaseUpdateInput

    @extend_schema(responses=ReleaseOutput)
    def get(self, request, version: str):
        return Response(ReleaseOutput(_get(request, version), context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses={200: ReleaseOutput, 409: None})
    def patch(self, request, version: str):
        release = _get(request, version)
        if release.is_frozen:
            return _conflict(f"release {release.version} is frozen and cannot change")
        refused = _unknown_fields(request.data, self.InputSerializer, {"filters": FiltersInput})
        if refused is not None:
            return refused
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        if "parent" in d and d["parent"] in (None, "none"):
            d["parent"] = None
        if "filters" in d:
            d["filters"] = dict(d["filters"])
        try:
            release = releases.release_update_draft(release_id=release.pk, actor=request.user, **d)
        except FrozenReleaseError as exc:
            return _conflict(str(exc))
        except releases.ReleaseError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ReleaseOutput(release, context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses={200: ReleaseOutput, 409: None})
    def put(self, request, version: str):
        return self.patch(request, version)

    @extend_schema(responses={204: None, 409: None})
    def delete(self, request, version: str):
        release = _get(request, version)
        if release.is_frozen:
            return _conflict(f"release {release.version} is frozen and cannot be deleted")
        try:
            releases.release_delete_draft(release_id=release.pk, actor=request.user)
        except (FrozenReleaseError, releases.ReleaseError) as exc:
            return _conflict(str(exc))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReleaseFreezeApi(APIView):
    """Queue the freeze of a draft; poll the release for `progress` and `status`."""

    permission_classes = [IsMaintainer]

    @extend_schema(request=None, responses={202: ReleaseOutput, 409: None})
    def post(self, request, version: str):
        release = _get(request, version)
        try:
            release = releases.release_freeze_start(release_id=release.pk, actor=request.user)
        except FrozenReleaseError as exc:
            return _conflict(str(exc))
        except releases.ReleaseError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        release.refresh_from_db()
        return Response(ReleaseOutput(release, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ReleaseRetireApi(APIView):
    """Retire parent items from a draft, with the reason."""

    permission_classes = [IsMaintainer]

    class ReleaseRetireInput(serializers.Serializer):
        public_ids = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1)
        reason = serializers.CharField(max_length=2000)

    InputSerializer = ReleaseRetireInput

    @extend_schema(request=InputSerializer, responses={200: inline_serializer("Retired", {"retired": serializers.IntegerField()})})
    def post(self, request, version: str):
        release = _get(request, version)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            n = releases.release_retire(release_id=release.pk, actor=request.user, **data.validated_data)
        except FrozenReleaseError as exc:
            return _conflict(str(exc))
        except releases.ReleaseError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"retired": n})


class ReleaseDiffApi(APIView):
    """Added / retired / carried counts per dimension against the parent, and one page of one item list."""

    permission_classes = [ReadAnyRoleWriteMaintainer]
    page_size = 500

    @extend_schema(parameters=[
        OpenApiParameter("kind", str, enum=["added", "retired", "carried"]),
        OpenApiParameter("dimension", str), OpenApiParameter("page", int),
    ], responses=OpenApiTypes.OBJECT)
    def get(self, request, version: str):
        release = _get(request, version)
        summary = releases.release_diff(release)
        kind = request.query_params.get("kind")
        if kind is None:
            return Response(summary)
        if kind not in ("added", "retired", "carried"):
            return Response({"detail": "kind is added, retired or carried"}, status=status.HTTP_400_BAD_REQUEST)
        rows = releases.release_diff_items(release, kind=kind, dimension=request.query_params.get("dimension", ""))
        maintainer = is_maintainer(request.user)
        if not maintainer:
            rows = rows.filter(parent_item__is_holdout=False) if kind == "retired" else rows.filter(is_holdout=False)
        paginator = PageNumberPagination()
        paginator.page_size = self.page_size
        page = paginator.paginate_queryset(rows, request, view=self)
        items = [self._row(row, kind, release, maintainer) for row in page]
        return Response({
            **summary, "kind": kind, "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(), "previous": paginator.get_previous_link(), "items": items,
        })

    @staticmethod
    def _row(row, kind: str, release: Release, maintainer: bool) -> dict:
        if kind == "retired":
            item = row.parent_item
            return {"public_id": item.public_id, "dimension": item.dimension_code, "text": item.text, "reason": row.reason}
        if not release.is_frozen and kind == "added":
            return {"prompt_id": row.pk, "dimension": row.dimension.code, "text": row.text}
        out = {"public_id": row.public_id, "dimension": row.dimension_code, "text": row.text, "sha256": row.content_hash}
        if maintainer:
            out["holdout"] = row.is_holdout
        return out


class _FormatIsOurs(DefaultContentNegotiation):
    """`?format=` names the export here, not a DRF renderer: answer in JSON whatever it says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReleaseExportApi(APIView):
    """Download one export (`format`, `scope=public|full`). 202 with progress while it is being prepared."""

    permission_classes = [ReadAnyRoleWriteMaintainer]
    content_negotiation_class = _FormatIsOurs

    @extend_schema(parameters=[
        OpenApiParameter("format", str, enum=list(releases.EXPORT_FORMATS), required=True),
        OpenApiParameter("scope", str, enum=["public", "full"]),
    ], responses={200: bytes, 202: ExportOutput, 400: None, 403: None, 409: None})
    def get(self, request, version: str):
        release = _get(request, version)
        fmt = request.query_params.get("format", "")
        scope = request.query_params.get("scope", ReleaseExport.Scope.PUBLIC)
        if fmt not in releases.EXPORT_FORMATS:
            return Response({"detail": f"format must be one of {', '.join(releases.EXPORT_FORMATS)}"},
                            status=status.HTTP_400_BAD_REQUEST)
        if scope not in ReleaseExport.Scope.values:
            return Response({"detail": "scope is public or full"}, status=status.HTTP_400_BAD_REQUEST)
        if scope == ReleaseExport.Scope.FULL and not is_maintainer(request.user):
            raise PermissionDenied("the full export (with the hold-out) is for maintainers")
        if not release.is_frozen:
            return _conflict("only frozen releases are exported")
        export = ReleaseExport.objects.filter(release=release, scope=scope, format=fmt).first()
        if export is None or not releases.export_is_current(export):
            if export is None or export.status not in (ReleaseExport.Status.PENDING, ReleaseExport.Status.RUNNING):
                releases.release_export_start(release_id=release.pk, scope=scope, actor=request.user)
            export = ReleaseExport.objects.select_related("release").get(release=release, scope=scope, format=fmt)
            if not releases.export_is_current(export):
                return Response(ExportOutput(export, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)
        response = FileResponse(open(releases.export_path(export), "rb"), as_attachment=True,
                                filename=releases.export_file_name(release.version, scope, fmt))
        response["X-Content-SHA256"] = export.sha256
        return response
