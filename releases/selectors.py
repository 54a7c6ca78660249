from accounts.roles import is_maintainer

from .models import Release, ReleaseExport, ReleaseItem

_CHUNK = 20000
ReleasedRow = tuple[int, str, int | None]  # (release item id, text, prompt id or None)


def release_list(*, user=None, include_drafts: bool = False):
    """Frozen releases for everyone with a role; drafts only when asked (maintainers)."""
    qs = Release.objects.select_related("taxonomy", "parent", "frozen_by", "created_by").order_by("-created_at", "-id")
    if not (include_drafts and user is not None and is_maintainer(user)):
        qs = qs.filter(frozen_at__isnull=False)
    return qs


def release_get(*, version: str, user=None):
    """A release by version; drafts are visible to maintainers only (Release.DoesNotExist otherwise)."""
    return release_list(user=user, include_drafts=True).get(version=version)


def release_exports(*, release, scope: str | None = None):
    qs = ReleaseExport.objects.filter(release=release).order_by("scope", "format")
    return qs.filter(scope=scope) if scope else qs


def released_texts(after_id: int = 0) -> list[ReleasedRow]:
    """Texts of released (frozen) items with an id above `after_id`."""
    rows = ReleaseItem.objects.filter(id__gt=after_id).order_by("id").values_list("id", "text", "prompt_id")
    return list(rows.iterator(chunk_size=_CHUNK))
