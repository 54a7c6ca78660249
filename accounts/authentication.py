"""API token authentication that reads the caller's roles in the same query.

Every API call checks a role right after authenticating; DRF's TokenAuthentication would read the token and
user, then `accounts.roles` the groups: two round trips where one does. On PostgreSQL the row becomes the
user directly (a raw queryset's bookkeeping cost more than the query); other databases return dates as
text that only the ORM converts, so they go through a raw queryset.
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from .roles import ADMIN, ROLES

_SQL = """
SELECT {columns}, g.name AS role_name
FROM {token} t
JOIN {user} u ON u.{user_pk} = t.user_id
LEFT JOIN {user_groups} ug ON ug.user_id = u.{user_pk}
LEFT JOIN {group} g ON g.id = ug.group_id AND g.name IN ({roles})
WHERE t.key = %s
"""


@functools.cache
def _sql() -> tuple[str, list[str]]:
    """The statement, and the user's field names in the order of its columns (the role comes last)."""
    user = get_user_model()
    fields = user._meta.concrete_fields
    return _SQL.format(
        columns=", ".join(f'u."{f.column}"' for f in fields),
        token=Token._meta.db_table,
        user=user._meta.db_table,
        user_pk=user._meta.pk.column,
        user_groups=user.groups.through._meta.db_table,
        group=Group._meta.db_table,
        roles=", ".join(["%s"] * len(ROLES)),
    ), [f.attname for f in fields]


def _rows(key: str) -> list[tuple]:
    """(user, role name or None) for each of the token's user's roles; empty for an unknown token."""
    sql, names = _sql()
    if connection.vendor != "postgresql":
        return [(user, user.role_name) for user in get_user_model().objects.raw(sql, [*ROLES, key])]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ROLES, key])
        rows = cursor.fetchall()
    if not rows:
        return []
    user = get_user_model().from_db(connection.alias, names, rows[0][:-1])
    return [(user, row[-1]) for row in rows]


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's; the user comes back with their roles already known."""

    def authenticate_credentials(self, key):
        rows = _rows(key)
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = rows[0][0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        roles = frozenset(role for _user, role in rows if role)
        user._livesec_roles = roles | {ADMIN} if user.is_superuser else roles
        return user, Token(key=key, user=user)
