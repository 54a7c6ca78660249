"""Database helpers shared by the apps.

`fast_path()` is the one switch between the ORM version of the hottest statements (claim, submit, the
consensus decision: the specification) and their hand-written PostgreSQL form (one round trip where the ORM
takes several). It is on for PostgreSQL unless `settings.SQL_FAST_PATH` is off, which
tests/annotation/test_sql_equivalence.py does to run both on the same scenarios and compare what they write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def fast_path() -> bool:
    """Whether the hand-written PostgreSQL statements run instead of their ORM versions."""
    return connection.vendor == "postgresql" and settings.SQL_FAST_PATH
