"""Fast bulk writes, for every app. On PostgreSQL rows go in with COPY; elsewhere through bulk_create.

COPY skips per-value quoting in Python and the INSERT planner, which makes it several times faster for
the large batches of imports, generation, release freezes and an evaluation's call records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import orjson
from django.db import connection, models


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def advisory_xact_lock(key: int) -> None:
    """Hold PostgreSQL's advisory lock `key` until the transaction ends (nothing elsewhere: SQLite's writers are
    serialised already)."""
    if on_postgres():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """Take `count` primary keys from the table's sequence (PostgreSQL)."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, model._meta.pk.column, count],
        )
        return [row[0] for row in cur.fetchall()]


# COPY's text format: backslash, newline, carriage return and tab are escaped; NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_CHUNK_ROWS = 5000


def _escape(text: str) -> str:
    # Most values hold none of the four characters; testing first is far cheaper than translating.
    if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _copy_text(value: Any, _memo: dict = {}) -> str:  # noqa: B006 - the memo is meant to be shared
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return _escape(value)
    if kind is dict or kind is list:
        if not value:
            return "{}" if kind is dict else "[]"
        return _escape(orjson.dumps(value).decode())
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float:
        return str(value)
    if isinstance(value, datetime | date):
        text = _memo.get(value)
        if text is None:
            if len(_memo) > 1024:
                _memo.clear()
            text = _memo[value] = value.isoformat()
        return text
    if isinstance(value, dict | list):
        return _escape(orjson.dumps(value).decode())
    return _escape(str(value))


def copy_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (tuples in the order of `fields`, attnames like `dimension_id`) into the model's table.

    Rows are formatted here in COPY's text format and sent in large chunks: per-value adaptation in the
    driver costs more than the database's own work.
    """
    meta = model._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    column_sql = ", ".join(connection.ops.quote_name(by_attname[name].column) for name in fields)
    count = 0
    # The driver's errors (a unique violation...) are raised as Django's, as through the ORM.
    with connection.wrap_database_errors, connection.cursor() as cur:
        raw = cur.cursor  # the psycopg cursor behind Django's wrapper
        with raw.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({column_sql}) FROM STDIN") as copy:
            lines: list[str] = []
            for row in rows:
                lines.append("\t".join(_copy_text(v) for v in row))
                count += 1
                if len(lines) >= _CHUNK_ROWS:
                    copy.write("\n".join(lines) + "\n")
                    lines.clear()
            if lines:
                copy.write("\n".join(lines) + "\n")
    return count


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    return_ids: bool = False,
    ids: Sequence[int] | None = None,
    batch_size: int = 2000,
) -> list[int]:
    """Insert many rows (tuples in the order of `fields`); returns their ids when asked.

    On PostgreSQL the caller may pass ids taken with `reserve_ids` (so rows can point at each other).
    """
    if on_postgres():
        if not return_ids and ids is None:
            copy_rows(model, fields, rows)
            return []
        ids = list(ids) if ids is not None else reserve_ids(model, len(rows))
        copy_rows(model, [model._meta.pk.attname, *fields], ((pk, *row) for pk, row in zip(ids, rows, strict=True)))
        return ids
    created = model.objects.bulk_create(
        [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=batch_size
    )
    return [obj.pk for obj in created] if return_ids else []


def select_column(model: type[models.Model], column: str, key: str, values: Sequence[Any]) -> list[Any]:
    """`SELECT column FROM table WHERE key = ANY(values)` with the values sent as one array (PostgreSQL)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE {connection.ops.quote_name(key)} = ANY(%s)",
            [list(values)],
        )
        return [row[0] for row in cur.fetchall()]
