"""Text rules shared by dedup, the unique prompt hash and storage.

``normalize`` defines when two prompts are "the same text" for exact dedup and
is the input of near-duplicate shingling (a comparison key: it folds freely);
``clean_text`` / ``check_storable`` decide what may be stored, and store it
exactly as given. Pure Python: no Django import at module level, so workers
and scripts can use it cheaply.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

import opencc

__all__ = [
    "NORMALIZATION_VERSION", "BlankText", "UnstorableText", "check_storable", "clean_text", "error_message",
    "escape_unstorable",
    "find_unstorable", "from_textarea", "normalize", "normalize_many", "replace_unstorable", "text_hash",
]

# Bump whenever normalize() can give a different output for some input:
# stored text_hash values and cached dedup indexes keyed on it must then be
# recomputed.
NORMALIZATION_VERSION = 1

# One converter for the process: building an OpenCC instance loads its
# dictionaries (~ms), far too slow to do per call.
_T2S = opencc.OpenCC("t2s")
_t2s_convert = _T2S.convert
_nfkc = unicodedata.normalize
_is_normalized = unicodedata.is_normalized

# Everything normalize() keeps is exactly ``str.isalnum`` (categories L*, N*);
# the dropped set is P*, S*, Z*, C* (Cc, Cf, Cs, Co, Cn), M* and "_", i.e.
# ``re``'s \W plus the underscore. Letters and digits of any script survive.
# Joining findall() runs is ~2x faster than sub(): ``re`` scans a run of kept
# chars in one tight loop instead of failing a match at every position.
_KEEP_RE = re.compile(r"[^\W_]+")
_keep_alnum = _KEEP_RE.findall
_join = "".join


def _coalesce(cps: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in cps:
        if out and cp == out[-1][1] + 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def _build_prefilter() -> re.Pattern[str]:
    """Runs of chars kept by a fast first pass that drops only what NFKC cannot need.

    NFKC on text full of full-width punctuation is the slowest step (~100 ns
    per char), so we delete junk *before* it. That is only safe for characters
    that can neither combine with a neighbour (marks) nor turn into letters or
    digits under NFKC (e.g. ㎏ -> kg, ㈱ -> (株), ™ -> TM). Those are spared
    here and cleaned by the exact second pass after NFKC.
    """
    spared: list[int] = []
    for cp in range(0x10000):
        # Big ideograph/Hangul/surrogate/private blocks are all alnum or
        # irrelevant; skipping them keeps import-time cost ~20 ms.
        if 0x3400 <= cp < 0xA000 or 0xAC00 <= cp < 0xF900:
            continue
        ch = chr(cp)
        if ch.isalnum():
            continue
        if unicodedata.category(ch)[0] == "M" or (
            unicodedata.decomposition(ch) and any(c.isalnum() for c in _nfkc("NFKC", ch))
        ):
            spared.append(cp)
    parts = [
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in _coalesce(spared)
    ]
    # Outside the BMP every char is spared wholesale: a long list of astral
    # ranges makes ``re`` test them one by one for every punctuation mark,
    # doubling the cost. Sparing too much is harmless (pass two is exact), it
    # only routes emoji-bearing text through the slower path.
    parts.append("\U00010000-\U0010ffff")
    return re.compile("[\\w" + "".join(parts) + "]+")


_prefilter_runs = _build_prefilter().findall


def normalize(text: str) -> str:
    """Canonical form for dedup/hashing: only lower-cased, simplified letters and digits.

    NFKC -> OpenCC t2s -> lower -> drop every char that is not
    ``str.isalnum()``, so punctuation, symbols, whitespace, control and format
    chars such as U+200B, and combining marks all vanish ("炸́弹" == "炸弹").
    Junk is dropped before NFKC (see ``_build_prefilter``), so an invisible
    char wedged between a letter and its accent no longer blocks composition:
    "e\u200b\u0301" gives "é", like "e\u0301".
    """
    s = _fold(text)
    # t2s runs last, on the stripped string: it is the dearest step per call,
    # ASCII needs none, and its output (CJK only) is already clean, so running
    # normalize() on its own output is stable.
    if s.isascii():
        return s
    return _t2s_convert(s)


def _fold(text: str) -> str:
    """normalize() minus the t2s step."""
    s = _join(_prefilter_runs(text))
    if not _is_normalized("NFKC", s):
        s = _nfkc("NFKC", s)
    s = s.lower()
    # lower() and NFKC can both emit non-alnum chars (İ -> i + U+0307,
    # ½ -> 1⁄2); the C-level isalnum() check keeps the common case free.
    if not s.isalnum():
        s = _join(_keep_alnum(s))
    return s


_T2S_CHUNK = 4096


def normalize_many(texts: Iterable[str]) -> list[str]:
    """``[normalize(t) for t in texts]``, ~1.3x faster for bulk work (index builds).

    OpenCC's per-call overhead is paid once per chunk: folded texts contain
    no newline and no dictionary key spans one, so converting them joined by
    newlines and splitting again gives exactly the per-text result.
    """
    folded = [_fold(t) for t in texts]
    out: list[str] = []
    for start in range(0, len(folded), _T2S_CHUNK):
        chunk = folded[start : start + _T2S_CHUNK]
        joined = "\n".join(chunk)
        out.extend(chunk if joined.isascii() else _t2s_convert(joined).split("\n"))
    return out


def text_hash(text: str) -> str:
    """sha256 hex digest of ``normalize(text)``: the prompt's unique/exact-dup key."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


# The storable-text rule lives in core (the API's parser needs it too); it is part of this module's API.
from core.text import (  # noqa: E402, F401
    BlankText,
    UnstorableText,
    check_storable,
    error_message,
    escape_unstorable,
    find_unstorable,
    replace_unstorable,
)


def clean_text(text: str, *, strip: bool = False) -> str:
    """The form we store: the text exactly as given.

    Adversarial prompts live on Unicode tricks (combining marks, compatibility ideographs, zero-width and
    bidi controls, bare carriage returns), so nothing is normalised, folded or trimmed here; only
    comparison keys (``normalize``, ``text_hash``) fold. ``strip=True`` is for short names, where outer
    whitespace is never meant. Raises UnstorableText (a ValueError) for NUL and unpaired surrogates and
    BlankText (a ValueError) for text with nothing but whitespace.
    """
    check_storable(text)
    if not text.strip():
        raise BlankText("text is empty after stripping whitespace")
    return text.strip() if strip else text


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def from_textarea(submitted: str, shown: str = "") -> str:
    """What a person meant by a textarea's value: ``shown`` itself when they left it as it was.

    Browsers send a textarea's line breaks as CRLF, and the HTML parser has already turned the CR and CRLF
    of the shown text into LF, so text with other line breaks cannot cross the page unchanged. An untouched
    value gives back ``shown`` exactly (an edit that changes nothing stays no change); an edited one is read
    with its CRLF as LF, the line break the person typed. Nothing else in it is touched.
    """
    typed = submitted.replace("\r\n", "\n")
    if shown and _lf(typed) == _lf(shown):
        return shown
    return typed
