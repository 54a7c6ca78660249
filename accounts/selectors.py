from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch

from .roles import ROLES


def user_list(*, search: str = ""):
    """Users by username, each with their role groups prefetched (`role_groups`)."""
    users = get_user_model().objects.order_by("username").prefetch_related(
        Prefetch("groups", queryset=Group.objects.filter(name__in=ROLES), to_attr="role_groups")
    )
    search = search.strip()
    if search:
        users = users.filter(username__icontains=search)
    return users
