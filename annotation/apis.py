"""REST API: queues, claims (next / heartbeat / submit / skip), own annotations, adjudication.

One APIView per operation; serializers only shape data, services.py holds every rule.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAnnotator, IsMaintainer
from core.fields import id_field
from curation.models import Prompt

from . import labels, selectors, services
from .models import MAX_ANNOTATORS_PER_ITEM, Annotation, QueueItem, ReviewQueue, SubmitStatus

# ----------------------------------------------------------------------------- output shapes


class QueueOutput(serializers.ModelSerializer):
    taxonomy = serializers.CharField(source="taxonomy.code")
    dimensions = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")
    counts = serializers.SerializerMethodField()

    class Meta:
        model = ReviewQueue
        fields = [
            "id", "name", "taxonomy", "dimensions", "annotators_per_item", "lease_minutes", "consensus_rule",
            "guidelines", "is_active", "counts",
        ]

    def get_counts(self, obj) -> dict:
        return self.context.get("counts", {}).get(obj.pk, {})


class TaxonOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name_zh = serializers.CharField()
    name_en = serializers.CharField()


class ReviewPromptOutput(serializers.Serializer):
    """Declared field by field (not a ModelSerializer, which rebuilds its fields each time): every claim
    answers with one."""

    id = serializers.IntegerField()
    text = serializers.CharField()
    language = serializers.CharField()
    dimension = TaxonOutput()
    sub_dimension = TaxonOutput(allow_null=True)
    techniques = serializers.SerializerMethodField()
    risk_expression = serializers.ChoiceField(choices=Prompt.RiskExpression.choices, allow_blank=True)
    severity = serializers.IntegerField(allow_null=True)
    expected_behaviour = serializers.ChoiceField(choices=Prompt.ExpectedBehaviour.choices, allow_blank=True)
    reference_answers = serializers.JSONField()
    near_duplicate_of = serializers.IntegerField(source="near_duplicate_of_id", allow_null=True)
    near_duplicate_score = serializers.FloatField(allow_null=True)

    def get_techniques(self, obj) -> list[dict]:
        return [{"id": t.pk, "code": t.code} for t in selectors.techniques_of(obj)]


class ClaimOutput(serializers.Serializer):
    id = serializers.IntegerField()
    queue = serializers.IntegerField(source="item.queue_id")
    item = serializers.IntegerField(source="item_id")
    expires_at = serializers.DateTimeField(source="lease.expires_at", allow_null=True)
    prompt = ReviewPromptOutput(source="item.prompt")


class AnnotationOutput(serializers.Serializer):
    """Declared field by field rather than as a ModelSerializer, which rebuilds its fields from the model
    each time: this one answers every submit."""

    id = serializers.IntegerField()
    queue = serializers.IntegerField(source="queue_id")
    prompt = serializers.IntegerField(source="prompt_id")
    decision = serializers.ChoiceField(choices=Annotation.Decision.choices)
    final_text = serializers.CharField()
    dimension = serializers.IntegerField(source="dimension_id", allow_null=True)
    sub_dimension = serializers.IntegerField(source="sub_dimension_id", allow_null=True)
    techniques = serializers.SerializerMethodField()
    risk_expression = serializers.ChoiceField(choices=Prompt.RiskExpression.choices, allow_blank=True)
    severity = serializers.IntegerField(allow_null=True)
    expected_behaviour = serializers.ChoiceField(choices=Prompt.ExpectedBehaviour.choices, allow_blank=True)
    reference_answer = serializers.CharField(allow_blank=True)
    reject_reason = serializers.ChoiceField(choices=Annotation.RejectReason.choices, allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    seconds_spent = serializers.FloatField()
    is_surplus = serializers.BooleanField()
    revisions = serializers.IntegerField()
    submitted_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    item_state = serializers.CharField(read_only=True, default=None)

    def get_techniques(self, obj) -> list[str]:
        return [t.code for t in selectors.techniques_of(obj)]


# The claim and submit answers, used for representation only: one instance each per process, so their
# fields are built once rather than deep-copied for every answer (as a new serializer instance does).
CLAIM_OUTPUT = ClaimOutput()
ANNOTATION_OUTPUT = AnnotationOutput()


class AdjudicationAnnotationOutput(AnnotationOutput):
    item_state = None
    annotator = serializers.CharField(source="annotator.username")
    edited = serializers.SerializerMethodField()

    def get_edited(self, obj) -> bool:
        return obj.final_text != obj.prompt.text


class AdjudicationOutput(serializers.ModelSerializer):
    prompt = ReviewPromptOutput()
    annotations = AdjudicationAnnotationOutput(source="prompt.annotations", many=True)
    queue_name = serializers.CharField(source="queue.name")

    class Meta:
        model = QueueItem
        fields = [
            "id", "queue", "queue_name", "state", "adjudication_reason", "adjudication_note", "submitted", "outcome",
            "decided_at", "prompt", "annotations",
        ]


def _error(exc: services.AnnotationError) -> Response:
    codes = {
        "forbidden": status.HTTP_403_FORBIDDEN,
        "lease_lost": status.HTTP_409_CONFLICT,
        "conflict": status.HTTP_409_CONFLICT,
        "shown_mismatch": status.HTTP_409_CONFLICT,
        "busy": status.HTTP_503_SERVICE_UNAVAILABLE,
    }
    body: dict = {"detail": exc.message, "code": exc.code}
    if isinstance(exc, services.AnnotationInvalid):
        body["errors"] = exc.errors
    return Response(body, status=codes.get(exc.code, status.HTTP_400_BAD_REQUEST))


# ----------------------------------------------------------------------------- queues


class QueueListApi(APIView):
    """GET: queues the caller may see (annotators: those they may claim from). POST: create (maintainers)."""

    class QueueCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        taxonomy = id_field()
        dimensions = serializers.ListField(child=id_field(), required=False, default=list)
        annotators_per_item = serializers.IntegerField(min_value=1, max_value=MAX_ANNOTATORS_PER_ITEM, default=3)
        lease_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, default=20)
        guidelines = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
        members = serializers.ListField(child=id_field(), required=False, default=list)
        consensus_rule = serializers.ChoiceField(choices=ReviewQueue.ConsensusRule.choices, default="unanimous")
        is_active = serializers.BooleanField(default=True)

    def get_permissions(self):
        return [IsMaintainer()] if self.request.method == "POST" else [IsAnnotator()]

    @extend_schema(responses=QueueOutput(many=True))
    def get(self, request):
        queues = list(selectors.queue_list_for(user=request.user))
        counts = selectors.queue_state_counts(queue_ids=[q.pk for q in queues])
        return Response(QueueOutput(queues, many=True, context={"counts": counts}).data)

    @extend_schema(request=QueueCreateInputSerializer, responses={201: QueueOutput})
    def post(self, request):
        data = self.QueueCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            queue = services.queue_create(
                data=services.QueueData(
                    name=d["name"], taxonomy_id=d["taxonomy"], dimension_ids=d["dimensions"],
                    annotators_per_item=d["annotators_per_item"], lease_minutes=d["lease_minutes"],
                    guidelines=d["guidelines"], member_ids=d["members"], consensus_rule=d["consensus_rule"],
                    is_active=d["is_active"],
                ),
                actor=request.user,
            )
        except services.AnnotationError as exc:
            return _error(exc)
        return Response(QueueOutput(selectors.queue_get(pk=queue.pk)).data, status=status.HTTP_201_CREATED)


class QueueNextApi(APIView):
    """Claim the next item (or get back the one you hold). 204 when nothing is left for you."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=None, responses={200: ClaimOutput, 204: OpenApiResponse(description="Nothing left")})
    def post(self, request, pk: int):
        try:
            claim = services.lease_claim(queue_id=pk, user=request.user, with_prompt=True)
        except ReviewQueue.DoesNotExist:
            raise NotFound
        except services.NotAllowed as exc:
            raise PermissionDenied(exc.message)
        except services.QueueBusy as exc:
            return _error(exc)
        if claim is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(CLAIM_OUTPUT.to_representation(selectors.claim_for_api(claim=claim)))


class HeartbeatOutput(serializers.Serializer):
    claim = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class ClaimHeartbeatApi(APIView):
    """Keep the lease of a claim alive (the review page calls this every minute). 409 when it was lost."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=None, responses={200: HeartbeatOutput, 409: OpenApiResponse(description="The lease was lost")})
    def post(self, request, pk: int):
        try:
            lease = services.lease_heartbeat(claim_id=pk, user=request.user)
        except services.NotAllowed:
            raise NotFound
        except services.AnnotationError as exc:
            return _error(exc)
        return Response({"claim": pk, "expires_at": lease.expires_at})


class AnnotationInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Annotation.Decision.choices)
    final_text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    dimension = id_field(required=False, allow_null=True)
    sub_dimension = id_field(required=False, allow_null=True)
    techniques = serializers.ListField(child=id_field(), required=False)
    risk_expression = serializers.ChoiceField(choices=Prompt.RiskExpression.choices, required=False, allow_blank=True)
    severity = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    expected_behaviour = serializers.ChoiceField(
        choices=Prompt.ExpectedBehaviour.choices, required=False, allow_blank=True
    )
    reference_answer = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    reject_reason = serializers.ChoiceField(choices=Annotation.RejectReason.choices, required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    seconds_spent = serializers.FloatField(required=False, allow_null=True, min_value=0)
    # The claim answer's `prompt.id` and `item` as the client showed them: a submit for another item is
    # refused with 409 and nothing is written.
    shown_prompt = id_field(required=False)
    shown_item = id_field(required=False)


# Like CLAIM_OUTPUT: built once. Validation keeps nothing on the serializer (`run_validation` returns the
# data or raises the same 400 that `is_valid(raise_exception=True)` would).
ANNOTATION_INPUT = AnnotationInputSerializer()


def _to_input(data) -> labels.AnnotationInput:
    """The request body, validated, as the services take it."""
    return labels.input_from(ANNOTATION_INPUT.run_validation(data))


def _own_input(request, *, is_own) -> services.AnnotationInput:
    """The body, parsed and validated, but only once the object is known to be the caller's: someone else's
    claim or annotation answers 404 whatever the body, so a 400 never tells that an id exists. The ownership
    query runs only when the body is bad (a valid one reaches the service, which checks ownership under its
    lock)."""
    try:
        return _to_input(request.data)
    except (ParseError, ValidationError):
        if not is_own():
            raise NotFound
        raise


class SubmitOutput(serializers.Serializer):
    status = serializers.CharField()
    surplus = serializers.BooleanField()
    item_state = serializers.CharField()
    message = serializers.CharField()
    annotation = AnnotationOutput()


SUBMIT_TEXT = {
    SubmitStatus.COUNTED: gettext_lazy("Counted."),
    SubmitStatus.LATE: gettext_lazy("Your lease had expired, but the item still needed your review: it counts."),
    SubmitStatus.SURPLUS: gettext_lazy("The item already had enough reviews: stored as surplus, not counted."),
    SubmitStatus.REVISED: gettext_lazy("Your annotation was revised."),
}


def _submit_response(result: services.SubmitResult, code: int) -> Response:
    body = {
        "status": result.status,
        "surplus": result.annotation.is_surplus,
        "item_state": result.item_state,
        "message": str(SUBMIT_TEXT[result.status]),
        "annotation": ANNOTATION_OUTPUT.to_representation(result.annotation),
    }
    return Response(body, status=code)


class ClaimSubmitApi(APIView):
    """Submit (or, if you already did, revise) your review of a claimed item.

    Labels you leave out keep the prompt's current value. A submit after the lease expired counts if the
    item still needs it; otherwise it is stored as surplus (`status: "surplus"`). Send `shown_prompt` (and/or
    `shown_item`) as your client displayed them: a decision on another item than the claim's is refused
    (409, `code: "shown_mismatch"`, nothing written).
    """

    permission_classes = [IsAnnotator]

    @extend_schema(request=AnnotationInputSerializer, responses={201: SubmitOutput, 200: SubmitOutput})
    def post(self, request, pk: int):
        data = _own_input(request, is_own=lambda: selectors.claim_is_own(pk=pk, user=request.user))
        try:
            result = services.annotation_submit(claim_id=pk, user=request.user, data=data)
        except services.NotAllowed:
            raise NotFound
        except services.AnnotationError as exc:
            return _error(exc)
        return _submit_response(result, status.HTTP_200_OK if result.status == SubmitStatus.REVISED else status.HTTP_201_CREATED)


class ClaimSkipApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=None, responses={204: None})
    def post(self, request, pk: int):
        try:
            services.lease_skip(claim_id=pk, user=request.user)
        except services.NotAllowed:
            raise NotFound
        except services.AnnotationError as exc:
            return _error(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- own annotations


class MyAnnotationListApi(APIView):
    permission_classes = [IsAnnotator]
    pagination_class = PageNumberPagination  # also what the schema documents: a page, not a bare list

    @extend_schema(responses=AnnotationOutput(many=True))
    def get(self, request):
        qs = selectors.annotation_list_own(user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AnnotationOutput(page, many=True).data)


class AnnotationReviseApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=AnnotationInputSerializer, responses=SubmitOutput)
    def post(self, request, pk: int):
        data = _own_input(request, is_own=lambda: selectors.annotation_is_own(pk=pk, user=request.user))
        try:
            result = services.annotation_revise(annotation_id=pk, user=request.user, data=data)
        except services.NotAllowed:
            raise NotFound
        except services.AnnotationError as exc:
            return _error(exc)
        return _submit_response(result, status.HTTP_200_OK)


# ----------------------------------------------------------------------------- adjudication


class AdjudicationListApi(APIView):
    """Items waiting for a maintainer (or, with ?state=decided, recently decided), every annotation inline."""

    permission_classes = [IsMaintainer]
    pagination_class = PageNumberPagination

    @extend_schema(responses=AdjudicationOutput(many=True), parameters=[
        OpenApiParameter("state", enum=[QueueItem.State.ADJUDICATION, QueueItem.State.DECIDED],
                         description="waiting for a decision (default) or decided"),
        OpenApiParameter("queue", int, description="only this queue's items"),
    ])
    def get(self, request):
        state = request.query_params.get("state") or QueueItem.State.ADJUDICATION
        if state not in (QueueItem.State.ADJUDICATION, QueueItem.State.DECIDED):
            return Response({"detail": "state is adjudication or decided"}, status=status.HTTP_400_BAD_REQUEST)
        qs = selectors.adjudication_with_annotations().filter(state=state).order_by("updated_at", "id")
        queue = request.query_params.get("queue")
        if queue:
            if not queue.isdigit():
                return Response({"detail": "queue is a number"}, status=status.HTTP_400_BAD_REQUEST)
            qs = qs.filter(queue_id=int(queue))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AdjudicationOutput(page, many=True).data)


class AdjudicationDetailApi(APIView):
    permission_classes = [IsMaintainer]

    @extend_schema(responses=AdjudicationOutput)
    def get(self, request, pk: int):
        return Response(AdjudicationOutput(get_object_or_404(selectors.adjudication_with_annotations(), pk=pk)).data)


class AdjudicationDecideApi(APIView):
    """Approve (with final text and labels, or those of one annotation via `from_annotation`) or reject."""

    permission_classes = [IsMaintainer]

    class AdjudicationDecideInputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=[Prompt.Status.APPROVED, Prompt.Status.REJECTED])
        reason = serializers.CharField()
        from_annotation = id_field(required=False)
        final_text = serializers.CharField(required=False, trim_whitespace=False)
        dimension = id_field(required=False)
        sub_dimension = id_field(required=False, allow_null=True)
        techniques = serializers.ListField(child=id_field(), required=False)
        risk_expression = serializers.ChoiceField(choices=Prompt.RiskExpression.choices, required=False, allow_blank=True)
        severity = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
        expected_behaviour = serializers.ChoiceField(
            choices=Prompt.ExpectedBehaviour.choices, required=False, allow_blank=True
        )
        reference_answer = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    @extend_schema(request=AdjudicationDecideInputSerializer, responses=AdjudicationOutput)
    def post(self, request, pk: int):
        item = get_object_or_404(QueueItem.objects.select_related("prompt"), pk=pk)
        data = self.AdjudicationDecideInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        final = None
        if d["decision"] == Prompt.Status.APPROVED:
            final = services.final_labels_from(item=item, annotation_id=d.get("from_annotation"), changes=d)
            if final is None:
                raise NotFound("from_annotation is not an annotation of this item")
        try:
            services.item_adjudicate(item_id=item.pk, actor=request.user, decision=d["decision"], reason=d["reason"], final=final)
        except services.AnnotationError as exc:
            return _error(exc)
        return Response(AdjudicationOutput(selectors.adjudication_with_annotations().get(pk=item.pk)).data)


class AdjudicationReopenApi(APIView):
    permission_classes = [IsMaintainer]

    class AdjudicationReopenInputSerializer(serializers.Serializer):
        reason = serializers.CharField()

    @extend_schema(request=AdjudicationReopenInputSerializer, responses=AdjudicationOutput)
    def post(self, request, pk: int):
        item = get_object_or_404(QueueItem, pk=pk)
        data = self.AdjudicationReopenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.item_reopen(item_id=item.pk, actor=request.user, reason=data.validated_data["reason"])
        except services.AnnotationError as exc:
            return _error(exc)
        return Response(AdjudicationOutput(selectors.adjudication_with_annotations().get(pk=item.pk)).data)
