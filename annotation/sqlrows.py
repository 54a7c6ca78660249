"""Model instances from rows of written-out SQL, for the few reads that run on every claim and submit.

Building those queries with the ORM cost more than running them. A statement written out here selects
whole models side by side (`columns`), and each slice of a row becomes the instance the ORM would have
built (`Slices.split`). PostgreSQL only: other databases return raw values the ORM still has to convert.
`prefetched` hands related rows already at hand to an instance, as prefetch_related would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection


def columns(alias: str, model) -> str:
    """Every concrete column of `model`, in field order, qualified by the table alias."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def instance(model, values: Sequence[Any]):
    """A model instance from a row of its concrete fields, in order, as the ORM would build it; None for
    the all-NULL slice of a LEFT JOIN that found nothing."""
    if values[0] is None:  # the primary key comes first
        return None
    fields = model._meta.concrete_fields
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


class Slices:
    """Where each model's columns sit in a row that starts with `lead` other values."""

    def __init__(self, models: Sequence, lead: int = 0):
        self.models = tuple(models)
        self.bounds = [lead]
        for model in self.models:
            self.bounds.append(self.bounds[-1] + len(model._meta.concrete_fields))

    @property
    def end(self) -> int:
        return self.bounds[-1]

    def split(self, row: Sequence[Any]) -> list:
        b = self.bounds
        return [instance(m, row[b[k]:b[k + 1]]) for k, m in enumerate(self.models)]


def prefetched(obj, name: str, related: list) -> None:
    """Give `obj` its many-to-many `name` as prefetch_related leaves it (a queryset already holding its
    rows), without asking the database or compiling a query: for rows already at hand."""
    model = obj._meta.get_field(name).related_model
    cached = model._default_manager.all()
    cached._result_cache, cached._prefetch_done = related, True
    obj._prefetched_objects_cache = {**getattr(obj, "_prefetched_objects_cache", {}), name: cached}
