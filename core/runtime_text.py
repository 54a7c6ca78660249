"""Messages the code builds at run time and stores in English (status-log reasons, consensus notes), shown in
the viewer's language.

The stored text stays exactly as written: the status log is append-only and written once, and some of these
texts live in columns of other apps. So translation happens at display time, by matching the stored text
against the English templates it was built from; old rows read in the viewer's language too, and text that
matches no template (a maintainer's own words) is shown as stored.

Each app lists its templates in a `log_messages` module (found like admin modules), wrapped in gettext_noop
so that makemessages extracts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext, pgettext

TEXT, LIST, MESSAGE = "text", "list", "message"  # how a placeholder's value is shown
LIST_SEPARATOR = ", "  # what the English templates join list values with

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Template:
    msgid: str
    pattern: re.Pattern[str]
    kinds: dict[str, str]
    literal: int  # characters outside placeholders: the more, the more specific


_templates: list[Template] = []
_discovered = False


def register(msgid: str, **kinds: str) -> str:
    """Make `msgid` (with %(name)s placeholders) recognisable; `kinds` says which values are LIST or MESSAGE."""
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[pos : m.start()]))
        parts.append(f"(?P<{m.group(1)}>.+?)")
        pos = m.end()
    parts.append(re.escape(msgid[pos:]))
    literal = len(_PLACEHOLDER.sub("", msgid))
    if all(t.msgid != msgid for t in _templates):
        _templates.append(Template(msgid, re.compile("".join(parts), re.S), kinds, literal))
        # A longer template that extends a shorter one ("imported from X directly as approved") must win.
        _templates.sort(key=lambda t: -t.literal)
    return msgid


def join(values: list[str]) -> str:
    """Values joined the way the UI language lists them (、 in Chinese)."""
    return pgettext("list separator", ", ").join(values)


def format_list(values: list[str]) -> str:
    """The English form stored; `translate` splits it back."""
    return LIST_SEPARATOR.join(values)


def _discover() -> None:
    global _discovered
    if not _discovered:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("log_messages")
        _discovered = True


def translate(text: str) -> str:
    """`text` in the active language if it was built from a registered template, else unchanged."""
    if not text:
        return text
    _discover()
    for t in _templates:
        m = t.pattern.fullmatch(text)
        if m is None:
            continue
        params = {}
        for name, value in m.groupdict().items():
            kind = t.kinds.get(name, TEXT)
            if kind == LIST:
                value = join([gettext(v) if v else v for v in value.split(LIST_SEPARATOR)])
            elif kind == MESSAGE:
                value = translate(value)
            params[name] = value
        return gettext(t.msgid) % params
    return text
