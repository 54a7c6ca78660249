"""Model instances from rows of written-out SQL, for the few reads that run on every claim and submit.

Building those queries with the ORM cost more than running them. A statement written out here selects
models side by side (`columns`), whole or only the fields it needs, and each slice of a row becomes the
instance the ORM would have built (`Slices.split`), with the fields left out deferred as `.only()` leaves
them. PostgreSQL only: other databases return raw values the ORM still has to convert. `prefetched` hands
related rows already at hand to an instance, as prefetch_related would. `compact` keeps a statement short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db import connection


def fields_of(model, names: Sequence[str] | None = None) -> list:
    """The concrete fields `names` (names or attnames, primary key first) of `model`, or all of them."""
    if names is None:
        return list(model._meta.concrete_fields)
    return [model._meta.get_field(name) for name in names]


def columns(alias: str, model, names: Sequence[str] | None = None) -> str:
    """The columns of `model`'s fields `names` (default: every concrete field, in field order), qualified by
    the table alias."""
    return ", ".join(f'{alias}."{f.column}"' for f in fields_of(model, names))


def instance(model, values: Sequence[Any], names: Sequence[str] | None = None):
    """A model instance from a row of the fields `names` (default: every concrete field), in order, as
    the ORM would build it; None for the all-NULL slice of a LEFT JOIN that found nothing."""
    if values[0] is None:  # the primary key comes first
        return None
    fields = fields_of(model, names)
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


class Slices:
    """Where each model's columns sit in a row that starts with `lead` other values. Each entry is a model
    (all its concrete fields) or a (model, field names) pair."""

    def __init__(self, entries: Sequence, lead: int = 0):
        shapes = [entry if isinstance(entry, tuple) else (entry, None) for entry in entries]
        self.models = tuple(model for model, _names in shapes)
        self.names = tuple(names for _model, names in shapes)
        self.bounds = [lead]
        for model, names in shapes:
            self.bounds.append(self.bounds[-1] + len(fields_of(model, names)))

    @property
    def end(self) -> int:
        return self.bounds[-1]

    def columns(self, *aliases: str) -> list[str]:
        """The SELECT list of each slice, under its table alias."""
        return [columns(alias, m, n) for alias, m, n in zip(aliases, self.models, self.names, strict=True)]

    def split(self, row: Sequence[Any]) -> list:
        b = self.bounds
        return [instance(m, row[b[k]:b[k + 1]], self.names[k]) for k, m in enumerate(self.models)]


def compact(sql: str) -> str:
    """`sql` without comments and with each run of white space made one space: psycopg parses a statement
    for its placeholders once and remembers it only while it is at most 4 kB long."""
    return re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()


def prefetched(obj, name: str, related: list) -> None:
    """Give `obj` its many-to-many `name` as prefetch_related leaves it (a queryset already holding its
    rows), without asking the database or compiling a query: for rows already at hand."""
    model = obj._meta.get_field(name).related_model
    cached = model._default_manager.all()
    cached._result_cache, cached._prefetch_done = related, True
    obj._prefetched_objects_cache = {**getattr(obj, "_prefetched_objects_cache", {}), name: cached}
