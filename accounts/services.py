"""Writes of the accounts app. A user's role changes here and nowhere else (the users page calls this)."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from .models import RoleChange
from .roles import ADMIN, ROLES, ensure_role_groups, primary_role

log = logging.getLogger(__name__)

NO_ROLE = ""


def _admins():
    return get_user_model().objects.filter(Q(groups__name=ADMIN) | Q(is_superuser=True), is_active=True).distinct()


@transaction.atomic
def user_set_role(*, user, role: str, actor) -> RoleChange | None:
    """Give `user` exactly one role (or none, with ``""``), recorded in `RoleChange`; None when nothing changed.

    A superuser counts as an admin whatever their groups, so any other role also takes away superuser and staff
    status; the page never grants superuser status (that stays in the Django admin). The last active admin
    keeps the Admin role, so the site always has someone who can give roles.
    """
    if role != NO_ROLE and role not in ROLES:
        raise ValidationError(_("Unknown role: %(role)s") % {"role": role})
    ensure_role_groups()
    # One role change at a time: two admins demoting each other at once must not both pass the last-admin check.
    Group.objects.select_for_update().get(name=ADMIN)
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    user._livesec_roles = None  # read the roles as they are now, inside the lock
    old = primary_role(user) or NO_ROLE
    held = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    if held == ({role} if role else set()) and not (user.is_superuser and role != ADMIN):
        return None
    if old == ADMIN and role != ADMIN and not _admins().exclude(pk=user.pk).exists():
        raise ValidationError(_("%(name)s is the last admin: give another user the Admin role first.")
                              % {"name": user.get_username()})
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    if role:
        user.groups.add(Group.objects.get(name=role))
    if role != ADMIN and (user.is_superuser or user.is_staff):
        user.is_superuser = user.is_staff = False
        user.save(update_fields=["is_superuser", "is_staff"])
    user._livesec_roles = None
    change = RoleChange.objects.create(
        user=user,
        username=user.get_username(),
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        old_role=old,
        new_role=role,
    )
    log.info("role of %r changed from %r to %r by %r", change.username, old, role, change.actor_username)
    return change
