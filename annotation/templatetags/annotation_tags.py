from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from ..markup import render_markdown

register = template.Library()


@register.filter
def guidelines(text: str) -> str:
    # nh3 has removed everything but a small allow-list of harmless tags, so the result may be trusted.
    return mark_safe(render_markdown(text or ""))  # noqa: S308


@register.filter
def label_name(obj) -> str:
    """A taxonomy object's name in the UI language (Chinese unless English is chosen)."""
    if obj is None:
        return "—"
    english = (get_language() or "").startswith("en")
    name = getattr(obj, "name_en", "") if english else getattr(obj, "name_zh", "")
    return name or getattr(obj, "name_zh", "") or getattr(obj, "code", "")


@register.filter
def duration(seconds) -> str:
    try:
        seconds = int(round(float(seconds or 0)))
    except (TypeError, ValueError):
        return "—"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
