"""Codes and stored English texts shown in the UI language."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from core.runtime_text import translate

register = template.Library()


def english() -> bool:
    return (get_language() or "").startswith("en")


@register.filter
def display_name(obj) -> str:
    """A taxonomy object's or technique's name in the UI language: name_zh in Chinese, name_en in English
    (either falls back to the other, then to the code)."""
    if obj is None:
        return "—"
    zh, en = getattr(obj, "name_zh", "") or "", getattr(obj, "name_en", "") or ""
    return (en or zh if english() else zh or en) or str(getattr(obj, "code", "") or obj)


@register.filter
def runtime_text(text: str) -> str:
    """A status-log reason or review note, stored in English, in the UI language (see core.runtime_text)."""
    return translate(text or "")


@register.simple_tag
def dimension_names(taxonomy) -> dict[str, str]:
    """code → display name of a taxonomy's dimensions, for tables keyed by code (one query per table)."""
    if taxonomy is None:
        return {}
    return {d.code: display_name(d) for d in taxonomy.dimensions.all()}


@register.simple_tag
def technique_names() -> dict[str, str]:
    from curation.models import Technique

    return {t.code: display_name(t) for t in Technique.objects.all()}


@register.filter
def name_of(code: str, names: dict[str, str]) -> str:
    """`code`'s display name from a dimension_names / technique_names table; the code itself if unknown."""
    return (names or {}).get(code) or code


@register.filter
def frozen_name(item, prefix: str) -> str:
    """A frozen release item's copied name (`<prefix>_name_zh` / `_en`) in the UI language, else its code."""
    zh = getattr(item, f"{prefix}_name_zh", "") or ""
    en = getattr(item, f"{prefix}_name_en", "") or ""
    return (en or zh if english() else zh or en) or getattr(item, f"{prefix}_code", "")
