"""One set of permission checks for HTML views and DRF views alike."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .roles import ADMIN, ANNOTATOR, MAINTAINER, has_role, user_roles


def role_required(*roles: str):
    """Decorator for function views: anonymous users go to login, the wrong role gets 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


annotator_required = role_required(ANNOTATOR, MAINTAINER, ADMIN)
maintainer_required = role_required(MAINTAINER, ADMIN)
admin_required = role_required(ADMIN)
any_role_required = role_required(ANNOTATOR, MAINTAINER, ADMIN)


class _RolePermission(BasePermission):
    roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and has_role(request.user, *self.roles))


class IsAnyRole(_RolePermission):
    roles = (ANNOTATOR, MAINTAINER, ADMIN)


class IsAnnotator(_RolePermission):
    """Anyone who may review items: annotators, and maintainers and admins who help out."""

    roles = (ANNOTATOR, MAINTAINER, ADMIN)


class IsMaintainer(_RolePermission):
    roles = (MAINTAINER, ADMIN)


class ReadAnyRoleWriteMaintainer(BasePermission):
    """Every role may read; only maintainers and admins may write."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated and user_roles(request.user)):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return has_role(request.user, MAINTAINER, ADMIN)
