"""Serializer fields every API shares."""

from rest_framework import serializers

# What a 64-bit integer column (PostgreSQL BIGINT, SQLite INTEGER) holds. An id beyond it cannot name a row, and
# the database driver fails on it (SQLite: OverflowError, a 500) instead of finding nothing.
MAX_BIGINT = 2**63 - 1
# What a 32-bit column (INTEGER, Django's PositiveIntegerField) holds: PostgreSQL refuses more (a 500).
MAX_INT = 2**31 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    """A row id in a request: refused with a 400 naming the field unless it is between 1 and MAX_BIGINT."""
    return serializers.IntegerField(min_value=1, max_value=MAX_BIGINT, **kwargs)
