"""The API's one shape of a state change on one object: `POST …/{id}/<action>/` with no body calls one service;
an object in the wrong state answers 409 with the service's reason, else 200 with the object as it is now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView


class ActionApi(APIView):
    # Subclasses set `lookup` (id → object, raising NotFound), `keyword` (the service's name for the object),
    # `refusal` (the service's error class), `output` (the serializer) and `service`; their docstring is the
    # operation's description in the API docs.

    lookup: ClassVar[Callable[[int], Any]]
    keyword: ClassVar[str] = "obj"
    refusal: ClassVar[type[Exception]] = ValueError
    output: ClassVar[Any] = None
    service: ClassVar[Callable[..., Any] | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.output is not None and "post" not in cls.__dict__:
            # Each subclass gets a function of its own, so that its schema names its own serializer.
            def post(self, request, pk: int):
                return self.act(request, pk)

            cls.post = extend_schema(request=None, responses={200: cls.output, 409: None})(post)

    def act(self, request, pk: int):
        lookup = type(self).lookup
        target = lookup(pk)
        try:
            with transaction.atomic():
                type(self).service(**{self.keyword: target}, actor=request.user)
        except self.refusal as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.output(lookup(pk)).data)
