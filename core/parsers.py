"""The API's JSON parser: a size limit, and no text that a database column cannot hold.

DRF reads a JSON body straight from the request stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check (which
only guards ``request.body`` and form parsing), so the limit is enforced here too: a larger body is refused
with 413 before it is read. Then every string of the parsed document, keys included, is checked for what no
text column can store (NUL, which PostgreSQL refuses in text and jsonb, and unpaired surrogates, which no
driver can encode as UTF-8; the same rule as ``core.text``): one check for every field of every API,
including JSON and dict fields that no CharField validates. The refusal is a 400 in DRF's validation shape
naming the field, e.g. ``{"default_params": {"top_p": ["..."]}}``, and nothing is written.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, status

# A pure module (no models): the one rule for what a text column can hold, shared with every app.
from core.text import escape_unstorable, find_unstorable

KEY_MARK = "(key)"  # a bad key is named escaped: {"judges": {"legality\\u0000 (key)": [...]}}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_message() -> str:
    limit = body_limit() or 0
    return _("The request is too large: at most %(size)s MB of text may be sent at once.") % {
        "size": f"{limit / 1024 / 1024:g}"}


def _message(text: str) -> str | None:
    bad = find_unstorable(text)
    return None if bad is None else bad.message()


def unstorable_errors(value: Any) -> Any:
    """None when every string of ``value`` may be stored, else the errors shaped like ``value``."""
    if isinstance(value, str):
        message = _message(value)
        return None if message is None else [message]
    if isinstance(value, dict):
        errors: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and (message := _message(key)) is not None:
                errors[escape_unstorable(key) + " " + KEY_MARK] = [message]
                continue
            found = unstorable_errors(item)
            if found is not None:
                errors[key] = found
        return errors or None
    if isinstance(value, list):
        listed = {str(i): found for i, item in enumerate(value) if (found := unstorable_errors(item)) is not None}
        return listed or None
    return None


def first_unstorable_message(errors: Any) -> str | None:
    """The first message of an ``unstorable_errors`` answer, for a form that shows one line per field."""
    while isinstance(errors, dict):
        errors = next(iter(errors.values()), None)
    return errors[0] if errors else None


class StorableJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = body_limit()
        if limit is not None and stream is not None:
            # Read one byte past the limit, never the whole body: a client may send no Content-Length.
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge(too_large_message())
            stream = io.BytesIO(body)
        data = super().parse(stream, media_type, parser_context)
        errors = unstorable_errors(data)
        if errors is not None:
            raise exceptions.ValidationError(errors if isinstance(errors, dict) else {"non_field_errors": errors})
        return data
