"""Database helpers shared by the apps.

`fast_path()` is the one switch between the ORM version of the hottest statements (claim, submit, the
consensus decision: the specification) and their hand-written PostgreSQL form (one round trip where the ORM
takes several). It is on for PostgreSQL unless `settings.SQL_FAST_PATH` is off, which
tests/annotation/test_sql_equivalence.py does to run both on the same scenarios and compare what they write.

For those statements: a statement written out selects models side by side (`columns`), whole or only the
fields it needs, and each slice of a row becomes the instance the ORM would have built (`Slices.split`,
through `Model.from_db`), with the fields left out deferred as `.only()` leaves them (PostgreSQL only: other
databases return raw values the ORM still has to convert). `compact` keeps a statement short. `Writes` sends
a submit's row writes as one statement. Public Django API only (`_meta` and `_state` are documented).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import signals


def fast_path() -> bool:
    """Whether the hand-written PostgreSQL statements run instead of their ORM versions."""
    return connection.vendor == "postgresql" and settings.SQL_FAST_PATH


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


def related_ids(model, name: str, owner_id: str) -> str:
    """An SQL array of the ids related through `model`'s many-to-many `name` to the row whose id is the
    SQL expression `owner_id` (read from the link table alone)."""
    m2m = model._meta.get_field(name)
    through = m2m.remote_field.through._meta.db_table
    return f"ARRAY(SELECT x.{m2m.m2m_reverse_name()} FROM {through} x WHERE x.{m2m.m2m_column_name()} = {owner_id})"


def compact(sql: str) -> str:
    """`sql` without comments and with each run of white space made one space: psycopg converts a
    statement's parameter marks once per text and caches the result only for texts of up to 4 kB."""
    return re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()


class Writes:
    """Row writes that go to the database together: `insert(obj)` and `update(obj, fields)` as the ORM's
    `save(force_insert=True)` and `save(update_fields=fields)` would write them (auto_now fields set, the new
    primary key given to the instance, an update that finds no row is an error), sent on `flush()` as one
    statement on the fast path (each a data-modifying WITH query) and one by one through the ORM elsewhere.
    Batched, they send the pre_save and post_save signals the ORM's saves would. They are for writes that do
    not depend on one another (PostgreSQL runs them on one snapshot, in no set order)."""

    def __init__(self):
        self.batched = fast_path()
        self._pending: list[tuple[str, Any, tuple[str, ...]]] = []

    def insert(self, obj) -> None:
        if not self.batched:
            obj.save(force_insert=True)
            return
        self._pending.append(("insert", obj, ()))

    def update(self, obj, fields: Sequence[str]) -> None:
        if not self.batched:
            obj.save(update_fields=fields)
            return
        self._pending.append(("update", obj, tuple(fields)))

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        shape = tuple((kind, type(obj), fields) for kind, obj, fields in pending)
        params: list[Any] = []
        for kind, obj, fields in pending:
            add = kind == "insert"
            signals.pre_save.send(
                sender=type(obj), instance=obj, raw=False, using=connection.alias,
                update_fields=None if add else frozenset(fields),
            )
            targets = _insert_fields(type(obj)) if add else [obj._meta.get_field(name) for name in fields]
            params += [f.get_db_prep_save(f.pre_save(obj, add), connection) for f in targets]
            if not add:
                params.append(obj.pk)
        with connection.cursor() as cursor:
            cursor.execute(_writes_sql(shape), params)
            row = cursor.fetchone()
        for (kind, obj, _fields), value in zip(pending, row, strict=True):
            if kind == "insert":
                obj.pk = value
                obj._state.adding, obj._state.db = False, connection.alias  # Model._state, as from_db sets it
            elif value != 1:
                raise DatabaseError(f"{type(obj).__name__} {obj.pk}: the update found no row.")
        for kind, obj, fields in pending:
            signals.post_save.send(
                sender=type(obj), instance=obj, created=kind == "insert", raw=False, using=connection.alias,
                update_fields=None if kind == "insert" else frozenset(fields),
            )


def _insert_fields(model) -> list:
    """The columns an INSERT of a new row names, as the ORM's: all but the auto-incremented key and
    generated columns."""
    return [f for f in model._meta.concrete_fields if f is not model._meta.auto_field and not f.generated]


@functools.cache
def _writes_sql(shape: tuple) -> str:
    """WITH w0 AS (…), w1 AS (…) SELECT <new id or rows updated> for each write, in order."""
    queries, answers = [], []
    for k, (kind, model, fields) in enumerate(shape):
        table, pk = model._meta.db_table, model._meta.pk.column
        if kind == "insert":
            targets = _insert_fields(model)
            names = ", ".join(f'"{f.column}"' for f in targets)
            queries.append(f'w{k} AS (INSERT INTO "{table}" ({names}) VALUES ({", ".join(["%s"] * len(targets))}) RETURNING "{pk}")')
            answers.append(f'(SELECT "{pk}" FROM w{k})')
        else:
            sets = ", ".join(f'"{model._meta.get_field(name).column}" = %s' for name in fields)
            queries.append(f'w{k} AS (UPDATE "{table}" SET {sets} WHERE "{pk}" = %s RETURNING 1)')
            answers.append(f"(SELECT count(*) FROM w{k})")
    return f"WITH {', '.join(queries)} SELECT {', '.join(answers)}"
