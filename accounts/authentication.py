"""API token authentication that reads the caller's roles in the same query.

Every API call checks a role right after authenticating; DRF's TokenAuthentication would read the token and
user, then `accounts.roles` the groups: two round trips where one does.
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from .roles import ADMIN, ROLES

_SQL = """
SELECT u.*, g.name AS role_name
FROM {token} t
JOIN {user} u ON u.{user_pk} = t.user_id
LEFT JOIN {user_groups} ug ON ug.user_id = u.{user_pk}
LEFT JOIN {group} g ON g.id = ug.group_id AND g.name IN ({roles})
WHERE t.key = %s
"""


@functools.cache
def _sql() -> str:
    user = get_user_model()
    return _SQL.format(
        token=Token._meta.db_table,
        user=user._meta.db_table,
        user_pk=user._meta.pk.column,
        user_groups=user.groups.through._meta.db_table,
        group=Group._meta.db_table,
        roles=", ".join(["%s"] * len(ROLES)),
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's; the user comes back with their roles already known."""

    def authenticate_credentials(self, key):
        rows = list(get_user_model().objects.raw(_sql(), [*ROLES, key]))
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = rows[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        roles = frozenset(row.role_name for row in rows if row.role_name)
        user._livesec_roles = roles | {ADMIN} if user.is_superuser else roles
        return user, Token(key=key, user=user)
