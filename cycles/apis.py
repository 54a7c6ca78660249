"""Cycle API for maintainers: plans and cycles (with each step's state and what it waits for), the actions on a
cycle (approve the cut, cut early, retry a failed step, cancel) and the cycle's report as Markdown."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMaintainer
from core.apis import ActionApi

from . import selectors
from . import services as svc
from .models import Cycle, CyclePlan


class StepOutput(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    state = serializers.CharField()
    text = serializers.CharField()
    waits_for = serializers.CharField()


class CycleOutput(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.name", read_only=True)
    release = serializers.CharField(source="release.version", default=None, allow_null=True, read_only=True)
    eval_run = serializers.IntegerField(source="eval_run_id", allow_null=True, read_only=True)
    waiting = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()

    class Meta:
        model = Cycle
        fields = ["id", "plan", "label", "period_start", "period_end", "generate_at", "cut_at", "step", "status",
                  "waiting", "error", "attempts", "retry_at", "release", "eval_run", "approved_at", "opened_at",
                  "finished_at", "steps"]

    def get_waiting(self, cycle) -> str:
        return selectors.message(cycle.wait.get("code", ""), cycle.wait.get("params")) if cycle.wait else ""

    @extend_schema_field(StepOutput(many=True))
    def get_steps(self, cycle) -> list[dict]:
        return StepOutput(selectors.step_rows(cycle), many=True).data


class PlanOutput(serializers.ModelSerializer):
    taxonomy = serializers.CharField(source="taxonomy.code", read_only=True)
    judge = serializers.CharField(source="judge.name", read_only=True)
    generator = serializers.CharField(source="generator.name", default=None, allow_null=True, read_only=True)
    targets = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = CyclePlan
        fields = ["id", "name", "taxonomy", "enabled", "period", "generate_day", "cut_day", "counts",
                  "generation_mode", "generator", "event_lookback_days", "targets", "judge", "eval_mode", "seed",
                  "holdout_fraction"]


def _cycle(pk: int) -> Cycle:
    try:
        return selectors.cycle_get(pk=pk)
    except Cycle.DoesNotExist:
        raise NotFound() from None


class PlanListApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=PlanOutput(many=True))
    def get(self, request):
        return Response(PlanOutput(selectors.plan_list(), many=True).data)


class PlanOpenNowApi(APIView):
    """Open the plan's next cycle now (the period after its latest cycle, or the current one), generation
    starting at once: an extra release between the scheduled ones."""

    permission_classes = [IsMaintainer]

    @extend_schema(request=None, responses={201: CycleOutput, 409: None})
    def post(self, request, pk: int):
        plan = selectors.plan_list().filter(pk=pk).first()
        if plan is None:
            raise NotFound()
        try:
            cycle = svc.cycle_open_next(plan=plan, actor=request.user)
        except svc.CycleError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(CycleOutput(_cycle(cycle.pk)).data, status=status.HTTP_201_CREATED)


class CycleListApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=CycleOutput(many=True))
    def get(self, request):
        return Response(CycleOutput(selectors.cycle_list()[:100], many=True).data)


class CycleDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=CycleOutput)
    def get(self, request, pk: int):
        return Response(CycleOutput(_cycle(pk)).data)


class _CycleActionApi(ActionApi):
    """POST with no body: one service call; a cycle in the wrong state answers 409 with the reason."""

    permission_classes = [IsMaintainer]
    lookup = staticmethod(lambda pk: _cycle(pk))
    keyword = "cycle"
    refusal = svc.CycleError
    output = CycleOutput


class CycleApproveApi(_CycleActionApi):
    service = svc.cycle_approve


class CycleCutApi(_CycleActionApi):
    service = svc.cycle_cut_now


class CycleRetryApi(_CycleActionApi):
    service = svc.cycle_retry


class CycleCancelApi(_CycleActionApi):
    service = svc.cycle_cancel


class CycleReportApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(parameters=[OpenApiParameter("lang", str, enum=["zh-hans", "en"])],
                   responses={(200, "text/markdown"): str, 404: None})
    def get(self, request, pk: int):
        cycle = _cycle(pk)
        text = cycle.report_en if request.query_params.get("lang") == "en" else cycle.report_zh
        if not text:
            raise NotFound()
        return HttpResponse(text, content_type="text/markdown; charset=utf-8")
