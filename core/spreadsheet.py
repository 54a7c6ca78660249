"""The one rule for text cells of every CSV the site writes (CSV/formula injection).

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(...)`,
`+cmd|' /C calc'!A0`), and some also after a leading tab or carriage return. Such a text cell is written with a
leading apostrophe, which spreadsheets show as text and never evaluate (OWASP's advice). Numbers are left alone,
and so are texts that are a plain number (`-0.25`): a spreadsheet reads those as the number, not a formula.

CSV files are therefore spreadsheet-safe, not byte-exact: where the raw text matters (re-import, hashing), the
JSONL and Parquet exports carry it unchanged.
"""

from __future__ import annotations

import math
import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_STARTS = frozenset(FORMULA_START)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_cell(value: Any) -> Any:
    """`value` as a CSV cell a spreadsheet shows as written: formula-like text gets a leading apostrophe;
    None and non-finite floats become an empty cell."""
    if isinstance(value, str):
        if value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def spreadsheet_row(values) -> list[Any]:
    """`spreadsheet_cell` of every value; text that cannot be a formula passes without the call (a release CSV
    has millions of rows)."""
    return [v if v.__class__ is str and v[:1] not in _STARTS else spreadsheet_cell(v) for v in values]
