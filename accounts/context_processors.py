from .roles import ROLE_LABELS, is_admin, is_annotator, is_maintainer, primary_role


def roles(request):
    user = getattr(request, "user", None)
    role = primary_role(user) if user is not None else None
    return {
        "can_annotate": bool(user) and is_annotator(user),
        "can_maintain": bool(user) and is_maintainer(user),
        "can_admin": bool(user) and is_admin(user),
        "role_label": ROLE_LABELS.get(role, ""),
    }
