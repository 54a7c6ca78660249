"""What no text column can hold (NUL, unpaired surrogates) and the refusals that name it: the one rule, used by
every app (curation.text re-exports it with its comparison keys) and by the API's JSON parser (core.parsers)."""

from __future__ import annotations

import re

# The only characters no text column can hold: PostgreSQL refuses NUL in text (and \u0000 in jsonb), and
# an unpaired surrogate cannot be encoded as UTF-8 by any driver.
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


class UnstorableText(ValueError):
    """Text holding a NUL character or an unpaired surrogate, which no database column can store.

    ``field`` names what held it (a translatable label such as ``gettext_lazy("Reason")``) in the message
    shown to a person; without one the message says "Text".
    """

    def __init__(self, char: str, position: int, field: str | None = None):
        self.char = char
        self.codepoint = ord(char)
        self.position = position
        self.field = field
        # Written as JSON escapes: the form in which such characters usually arrive.
        super().__init__(
            "text may not contain a NUL character (\\u0000) or an unpaired surrogate (\\ud800-\\udfff): "
            f"\\u{self.codepoint:04x} at position {position}"
        )

    def message(self) -> str:
        """The same refusal, translated for the person who sent the text (needs Django's settings)."""
        from django.utils.translation import gettext

        return gettext(
            "%(field)s may not contain a NUL character (\\u0000) or an unpaired surrogate (\\ud800-\\udfff): "
            "\\u%(codepoint)s at position %(position)s."
        ) % {"field": self.field or gettext("Text"), "codepoint": f"{self.codepoint:04x}", "position": self.position}


class BlankText(ValueError):
    """Text that holds nothing but whitespace where some text is required."""

    def message(self) -> str:
        """The refusal in the active language (needs Django's settings)."""
        from django.utils.translation import gettext

        return gettext("The text is empty after stripping whitespace.")


def error_message(exc: Exception) -> str:
    """An exception's message for the person who caused it: the translated refusal for unstorable or blank text
    (whose own str() stays English for logs and the pure callers), else str(exc)."""
    if isinstance(exc, UnstorableText | BlankText):
        return exc.message()
    return str(exc)


def find_unstorable(text: str, *, field: str | None = None) -> UnstorableText | None:
    """The first NUL or unpaired surrogate of ``text`` as an error to raise or report, or None.

    The one check of the project for what no text column can hold: every caller goes through this function
    (or ``check_storable``), so the rule and its message are the same everywhere.
    """
    bad = _UNSTORABLE_RE.search(text)
    return None if bad is None else UnstorableText(bad.group(), bad.start(), field)


def escape_unstorable(text: str) -> str:
    """``text`` with each NUL and unpaired surrogate written as its ``\\uXXXX`` escape, for messages."""
    return _UNSTORABLE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def replace_unstorable(text: str) -> str:
    """``text`` with each NUL and unpaired surrogate replaced by U+FFFD: for text that must be kept whatever it
    holds (a model's answer), where refusing is no option."""
    return _UNSTORABLE_RE.sub("\ufffd", text)


def check_storable(text: str, *, field: str | None = None) -> str:
    """``text`` unchanged; raises UnstorableText (naming ``field``) for a NUL character or an unpaired
    surrogate."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    error = find_unstorable(text, field=field)
    if error is not None:
        raise error
    return text
