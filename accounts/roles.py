"""The three roles and what each may do. Every page and API asks these helpers."""

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _

ANNOTATOR = "Annotator"
MAINTAINER = "Maintainer"
ADMIN = "Admin"
ROLES = (ANNOTATOR, MAINTAINER, ADMIN)
ROLE_LABELS = {ANNOTATOR: _("Annotator"), MAINTAINER: _("Maintainer"), ADMIN: _("Admin")}


def user_roles(user) -> frozenset[str]:
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_livesec_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {ADMIN}
        user._livesec_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    """True when the user holds any of `roles`. Admins may do whatever maintainers may."""
    held = user_roles(user)
    if ADMIN in held and MAINTAINER in roles:
        return True
    return bool(held.intersection(roles))


def is_annotator(user) -> bool:
    return has_role(user, ANNOTATOR)


def is_maintainer(user) -> bool:
    return has_role(user, MAINTAINER, ADMIN)


def is_admin(user) -> bool:
    return has_role(user, ADMIN)


def primary_role(user) -> str | None:
    held = user_roles(user)
    for role in (ADMIN, MAINTAINER, ANNOTATOR):
        if role in held:
            return role
    return None


def ensure_role_groups() -> None:
    """The groups come from a migration; this restores them where a test flush or a hand edit removed them."""
    from django.contrib.auth.models import Group

    for name in ROLES:
        Group.objects.get_or_create(name=name)
