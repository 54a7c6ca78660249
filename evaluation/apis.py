"""Evaluation API: runs (list, start, detail with progress and results, cancel, resume, publish, unpublish) for
maintainers; leaderboards and the drill-down of the run a leaderboard shows for every role. Hold-out items are
in a drill-down for maintainers and admins only."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAnyRole, IsMaintainer
from accounts.roles import is_maintainer
from core.apis import ActionApi
from core.fields import MAX_BIGINT, MAX_INT
from llm.models import ModelEndpoint
from releases import selectors as release_selectors
from releases.models import Release

from . import exports, selectors
from . import services as svc
from .models import EvalRun, EvalTarget, Rubric
from .views import match_view


class EvalTargetOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    model = serializers.CharField()
    position = serializers.IntegerField()
    is_reasoning = serializers.BooleanField()


class EvalRunOutput(serializers.ModelSerializer):
    release = serializers.CharField(source="release.version", read_only=True)
    judge = serializers.CharField(source="judge.name", read_only=True)
    judges = serializers.SerializerMethodField(help_text="{dimension code: endpoint name}: judges other than the "
                                                         "default")
    targets = EvalTargetOutput(many=True, read_only=True)
    status = serializers.CharField(read_only=True)
    phase = serializers.CharField(read_only=True)
    mode = serializers.CharField(read_only=True)
    percent = serializers.IntegerField(read_only=True)
    published = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = EvalRun
        fields = [
            "id", "release", "mode", "status", "phase", "percent", "published", "seed", "judge", "judges",
            "targets", "system_prompt", "temperature", "max_tokens", "answers_total", "answers_done",
            "answers_reused", "matches_total", "matches_done", "verdicts_reused", "target_calls", "judge_calls",
            "prompt_tokens", "completion_tokens", "errors", "error", "created_by", "created_at", "started_at",
            "finished_at", "published_at",
        ]

    def _endpoint_names(self) -> dict[int, str]:
        names = self.context.get("endpoint_names")
        if names is None:
            names = self.context["endpoint_names"] = dict(ModelEndpoint.objects.values_list("pk", "name"))
        return names

    def get_judges(self, run) -> dict[str, str]:
        names = self._endpoint_names()
        return {code: names.get(pk, str(pk)) for code, pk in (run.judges or {}).items()}

    def get_published(self, run) -> bool:
        return run.published_at is not None


class EvalRunDetailOutput(EvalRunOutput):
    rubrics = serializers.SerializerMethodField(help_text="{dimension code: {id, version}}: the rubric versions used")
    results = serializers.JSONField(read_only=True, help_text="scores, ranks and counts once the run has finished")

    class Meta(EvalRunOutput.Meta):
        fields = [*EvalRunOutput.Meta.fields, "rubrics", "results"]

    def get_rubrics(self, run) -> dict[str, dict]:
        versions = dict(Rubric.objects.filter(pk__in=list(run.rubrics.values())).values_list("pk", "version"))
        return {code: {"id": pk, "version": versions.get(pk)} for code, pk in run.rubrics.items()}


class EvalRunInput(serializers.Serializer):
    release = serializers.CharField(max_length=20, help_text="a frozen release's version, e.g. v251030")
    targets = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False,
                                    help_text="endpoint names in order (the order breaks rating ties)")
    judge = serializers.CharField(max_length=100, help_text="the default judge's endpoint name")
    judges = serializers.DictField(child=serializers.CharField(max_length=100), required=False, default=dict,
                                   help_text="{dimension code: endpoint name}: another judge for some dimensions")
    seed = serializers.IntegerField(default=0, min_value=-MAX_BIGINT, max_value=MAX_BIGINT)
    mode = serializers.ChoiceField(choices=EvalRun.Mode.values, default=EvalRun.Mode.ROBUST,
                                   help_text="robust (the default) or livesecbench")
    system_prompt = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    temperature = serializers.FloatField(required=False, allow_null=True, default=None)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, default=None)
    budget = serializers.IntegerField(required=False, allow_null=True, min_value=2, max_value=MAX_INT,
                                      help_text="robust mode: judge calls the comparisons may spend (default: "
                                                "twice what livesecbench mode would spend)")
    anchor = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                   help_text="robust mode: a target held at anchor_rating")
    anchor_rating = serializers.FloatField(required=False, min_value=-10_000, max_value=10_000)
    resamples = serializers.IntegerField(required=False, min_value=1, max_value=10_000,
                                         help_text="robust mode: bootstrap resamples (default 1000)")
    also_livesecbench = serializers.BooleanField(required=False,
                                                 help_text="robust mode: play the Swiss rounds on the same answers too")

    OPTIONAL = ("budget", "anchor", "anchor_rating", "resamples", "also_livesecbench")


def _endpoints(names: list[str]) -> dict[str, ModelEndpoint]:
    found = {ep.name: ep for ep in ModelEndpoint.objects.filter(name__in=set(names))}
    unknown = [n for n in dict.fromkeys(names) if n not in found]
    if unknown:
        raise svc.EvalError(gettext("no endpoint named %(names)s") % {"names": ", ".join(repr(n) for n in unknown)})
    return found


def _run(pk: int) -> EvalRun:
    try:
        return selectors.runs_list().prefetch_related("targets").get(pk=pk)
    except EvalRun.DoesNotExist:
        raise NotFound("no such evaluation run")


class EvalRunListApi(APIView):
    permission_classes = [IsMaintainer]
    pagination_class = PageNumberPagination  # also what the schema documents: a page, not a bare list

    @extend_schema(responses=EvalRunOutput(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.runs_list().prefetch_related("targets"), request, view=self)
        return paginator.get_paginated_response(EvalRunOutput(page, many=True).data)

    @extend_schema(request=EvalRunInput, responses={201: EvalRunDetailOutput, 400: None})
    def post(self, request):
        data = EvalRunInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        release = Release.objects.filter(version=v["release"]).first()
        if release is None:
            return Response({"detail": gettext("no release %(version)s") % {"version": repr(v["release"])}},
                            status=status.HTTP_400_BAD_REQUEST)
        try:
            endpoints = _endpoints([*v["targets"], v["judge"], *v["judges"].values()])
            # Left out, an option takes the service's default.
            options = {k: v[k] for k in EvalRunInput.OPTIONAL if k in v and v[k] not in (None, "")}
            with transaction.atomic():
                run = svc.run_create(
                    release=release, targets=[endpoints[n] for n in v["targets"]], judge=endpoints[v["judge"]],
                    judges={code: endpoints[n] for code, n in v["judges"].items()}, mode=v["mode"], seed=v["seed"],
                    system_prompt=v["system_prompt"], temperature=v["temperature"], max_tokens=v["max_tokens"],
                    actor=request.user, enqueue=True, **options,
                )
        except svc.EvalError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(EvalRunDetailOutput(_run(run.pk)).data, status=status.HTTP_201_CREATED)


class EvalRunDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=EvalRunDetailOutput)
    def get(self, request, pk: int):
        return Response(EvalRunDetailOutput(_run(pk)).data)


class _EvalRunActionApi(ActionApi):
    """POST with no body: one service call; a run in the wrong state answers 409 with the reason."""

    permission_classes = [IsMaintainer]
    lookup = staticmethod(lambda pk: _run(pk))
    keyword = "run"
    refusal = svc.EvalError
    output = EvalRunOutput


class EvalRunCancelApi(_EvalRunActionApi):
    service = svc.run_cancel


class EvalRunResumeApi(_EvalRunActionApi):
    service = svc.run_resume


class EvalRunPublishApi(_EvalRunActionApi):
    service = svc.run_publish


class EvalRunUnpublishApi(_EvalRunActionApi):
    service = svc.run_unpublish


class LeaderboardDimensionOutput(serializers.Serializer):
    code = serializers.CharField()
    name_zh = serializers.CharField()
    name_en = serializers.CharField()
    reasoning = serializers.BooleanField()
    skipped = serializers.CharField()
    matches = serializers.IntegerField()
    invalid = serializers.IntegerField()


class LeaderboardRowOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    model = serializers.CharField()
    overall = serializers.FloatField()
    scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
    rank_change = serializers.IntegerField(allow_null=True, help_text="positive: up against the parent release")
    blocked = serializers.IntegerField()
    empty = serializers.IntegerField()
    answer_errors = serializers.IntegerField()
    invalid_verdicts = serializers.IntegerField()
    holdout_gap = serializers.FloatField(allow_null=True, help_text="public − hold-out win rate, points")


class LeaderboardOutput(serializers.Serializer):
    release = serializers.CharField()
    taxonomy = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    mode = serializers.CharField(allow_null=True)
    seed = serializers.IntegerField(allow_null=True)
    published = serializers.BooleanField()
    finished_at = serializers.DateTimeField(allow_null=True)
    parent_release = serializers.CharField(allow_null=True)
    dimensions = LeaderboardDimensionOutput(many=True)
    rows = LeaderboardRowOutput(many=True)


class LeaderboardApi(APIView):
    """The published run's board, else the latest finished run's (`published` says which); `run` null: none."""

    permission_classes = [IsAnyRole]

    @extend_schema(responses=LeaderboardOutput)
    def get(self, request, version: str):
        try:
            release = release_selectors.release_get(version=version, user=request.user)
        except Release.DoesNotExist:
            raise NotFound("no such release")
        return Response(exports.leaderboard_dict(selectors.leaderboard(release=release)))


class EvalAnswerOutput(serializers.Serializer):
    outcome = serializers.CharField()
    text = serializers.CharField()
    reasoning = serializers.CharField()
    error = serializers.CharField()


class EvalVerdictOutput(serializers.Serializer):
    dimension = serializers.CharField()
    round = serializers.IntegerField()
    position = serializers.CharField(help_text="A or B: the side the model was shown on")
    opponent = serializers.CharField()
    result = serializers.CharField(help_text="win, loss, tie, invalid, error or pending")
    outcome = serializers.CharField(help_text="the match outcome as stored: A, B, invalid, error, pending")
    raw = serializers.CharField(help_text="the judge's reply as received")
    judge = serializers.CharField()
    reused = serializers.BooleanField()


class EvalPointVerdictOutput(serializers.Serializer):
    dimension = serializers.CharField()
    outcome = serializers.CharField(help_text="safe, unsafe, refusal, invalid, error or pending")
    raw = serializers.CharField(help_text="the judge's reply as received")
    judge = serializers.CharField()
    reused = serializers.BooleanField()


class DrillItemOutput(serializers.Serializer):
    public_id = serializers.CharField()
    dimension = serializers.CharField()
    text = serializers.CharField()
    holdout = serializers.BooleanField(required=False, help_text="maintainers and admins only")
    answer = EvalAnswerOutput(allow_null=True)
    verdicts = EvalVerdictOutput(many=True)
    point_verdicts = EvalPointVerdictOutput(many=True, help_text="robust mode: the answer judged alone")


class DrillPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    model = serializers.CharField()
    results = DrillItemOutput(many=True)


class DrillPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 200


class DrilldownApi(APIView):
    """A model's answers and verdicts item by item. Others than maintainers see the leaderboard's run only, and
    public items only."""

    permission_classes = [IsAnyRole]

    @extend_schema(parameters=[OpenApiParameter("dimension", str), OpenApiParameter("page", int),
                               OpenApiParameter("page_size", int)], responses=DrillPageOutput)
    def get(self, request, pk: int, target_id: int):
        run = _run(pk)
        maintainer = is_maintainer(request.user)
        if not maintainer and not (run.status == EvalRun.Status.SUCCEEDED and selectors.is_board_run(run=run)):
            raise NotFound("no such evaluation run")
        target = EvalTarget.objects.filter(run=run, pk=target_id).first()
        if target is None:
            raise NotFound("no such model in this run")
        dimension = request.query_params.get("dimension") or None
        if dimension and dimension not in run.rubrics:
            return Response({"detail": f"dimension {dimension!r} is not in this run"},
                            status=status.HTTP_400_BAD_REQUEST)
        items = selectors.drilldown_items(run=run, include_holdout=maintainer, dimension=dimension)
        paginator = DrillPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        rows = []
        drilled = selectors.drilldown_rows(run=run, target=target, items=page)
        points = selectors.drilldown_point_verdicts(run=run, target=target, item_ids=[r.item.pk for r in drilled])
        for row in drilled:
            item, answer = row.item, row.answer
            out = {"public_id": item.public_id, "dimension": item.dimension_code, "text": item.text}
            if maintainer:
                out["holdout"] = item.is_holdout
            out["answer"] = None if answer is None else {
                "outcome": answer.outcome, "text": answer.text, "reasoning": answer.reasoning, "error": answer.error}
            out["verdicts"] = [
                {k: v[k] for k in ("round", "position", "opponent", "result", "outcome", "raw", "judge", "reused")}
                | {"dimension": m.dimension_code}
                for m, v in ((m, match_view(m, target, {})) for m in row.matches)
            ]
            out["point_verdicts"] = [
                {"dimension": p.dimension_code, "outcome": p.outcome, "raw": p.raw,
                 "judge": p.judge.name if p.judge else "", "reused": p.reused}
                for p in points.get(item.pk, [])
            ]
            rows.append(out)
        return Response({
            "count": paginator.page.paginator.count, "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(), "model": target.name, "results": rows,
        })
