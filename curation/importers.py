"""Reading LiveSecBench-style item files (JSON, JSONL, CSV) into prompt drafts.

Parsing and validation only; nothing here writes. `curation.services.prompts_import` writes.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.utils.translation import gettext as _

from .models import Dimension, Prompt, SubDimension, Taxonomy, Technique
from .text import UnstorableText, escape_unstorable, find_unstorable, normalize_many

FORMATS = ("json", "jsonl", "csv")
METADATA_KEYS = ("type", "difficulty", "category", "adversarial_level", "tags", "source")
RISK_WORDS = {
    "explicit": Prompt.RiskExpression.EXPLICIT,
    "显性": Prompt.RiskExpression.EXPLICIT,
    "implicit": Prompt.RiskExpression.IMPLICIT,
    "隐性": Prompt.RiskExpression.IMPLICIT,
}
MAX_TEXT = 20000


@dataclass
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return _("Line %(line)s: %(message)s") % {"line": self.line, "message": self.message}


@dataclass
class RowRef:
    """A row named by its line and its question_id, e.g. to list the rows an import skipped."""

    line: int
    question_id: str = ""

    def __str__(self) -> str:
        return f"{self.line} ({self.question_id})" if self.question_id else str(self.line)


@dataclass
class ParsedRow:
    line: int
    data: dict[str, Any]
    # False when the file can hold no NUL or unpaired surrogate at all, so validation need not look for one.
    screen: bool = True


@dataclass
class ValidRow:
    line: int
    text: str
    normalized_hash: str
    dimension_id: int
    sub_dimension_name: str
    technique_ids: list[int]
    risk_expression: str
    reference_answers: list[str]
    metadata: dict[str, Any]
    external_id: str
    language: str
    provenance: dict[str, Any] = field(default_factory=dict)


class ImportRejected(Exception):
    """The file had bad rows; nothing was written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} bad rows")


def detect_format(filename: str, content: bytes) -> str:
    name = (filename or "").lower()
    for fmt in FORMATS:
        if name.endswith("." + fmt):
            return fmt
    head = content.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "jsonl"
    return "csv"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def read_rows(content: bytes, fmt: str) -> tuple[list[ParsedRow], list[RowError]]:
    content = content.removeprefix(codecs.BOM_UTF8)
    try:
        # A surrogate encoded as if it were a character (bytes ED A0 80 ...) decodes to itself, so that the
        # row holding it is refused by validation with its line, as the escaped form (\ud800) is in JSON.
        text = content.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        return [], [RowError(line, _("The file is not UTF-8 (%(err)s)") % {"err": exc})]
    if fmt == "json":
        rows, errors = _read_json(text)
    elif fmt == "jsonl":
        rows, errors = _read_jsonl(text)
    elif fmt == "csv":
        rows, errors = _read_csv(text)
    else:
        return [], [RowError(1, _("Unsupported format: %(fmt)s") % {"fmt": fmt})]
    if _MAYBE_UNSTORABLE.search(text) is None:
        for row in rows:
            row.screen = False
    return rows, errors


# Where a NUL or an unpaired surrogate can come from: the character itself, or a JSON escape of one (JSON
# files, and the JSON columns of a CSV). A file without either needs no row-by-row search (the common case,
# and a whole-file search is far cheaper than visiting every string of every row).
_MAYBE_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])")


def _read_json(text: str) -> tuple[list[ParsedRow], list[RowError]]:
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if text[pos : pos + 1] != "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [RowError(exc.lineno, _("JSON cannot be parsed: %(err)s") % {"err": exc.msg})]
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return [], [RowError(1, _("A JSON file must hold a list of item objects"))]
        return _read_json(json.dumps(items, ensure_ascii=False, indent=1))
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            errors.append(RowError(_line_of(text, pos), _("The JSON list has no closing ]")))
            break
        if text[pos] == "]":
            break
        line = _line_of(text, pos)
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            errors.append(RowError(exc.lineno, _("JSON cannot be parsed: %(err)s") % {"err": exc.msg}))
            break
        rows.append(ParsedRow(line, obj))
        pos = end
    return rows, errors


def _read_jsonl(text: str) -> tuple[list[ParsedRow], list[RowError]]:
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    # Only LF ends a line: str.splitlines() would also cut at U+2028, U+0085 and the like, which JSON allows
    # unescaped inside a string.
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        if not raw.strip():
            continue
        try:
            rows.append(ParsedRow(number, orjson.loads(raw)))
        except orjson.JSONDecodeError as exc:
            # orjson refuses lone surrogates (escaped or not) while parsing; the standard parser reads them,
            # so such a row gets the same refusal as in a JSON or CSV file.
            try:
                rows.append(ParsedRow(number, json.loads(raw)))
            except json.JSONDecodeError:
                errors.append(RowError(number, _("JSON cannot be parsed: %(err)s") % {"err": exc.args[0]}))
    return rows, errors


def _allow_fields_of(size: int) -> None:
    """Let the csv module read a field as long as the whole file.

    Its default limit (131,072 characters) would abort the file with an exception; a long field must reach
    validation instead, which refuses it as it does in JSON. The limit is process-wide and only ever raised.
    """
    if csv.field_size_limit() < size:
        csv.field_size_limit(size)


def _read_csv(text: str) -> tuple[list[ParsedRow], list[RowError]]:
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    _allow_fields_of(len(text) + 1)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        return [], [RowError(1, _("The CSV cannot be parsed: %(err)s") % {"err": exc})]
    if not fieldnames or "question_text" not in [f.strip() for f in fieldnames]:
        return [], [RowError(1, _("The CSV has no question_text column"))]
    start = 2
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, _("The CSV cannot be parsed: %(err)s") % {"err": exc}))
            break
        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        for key, value in record.items():
            if key is None:
                errors.append(RowError(start, _("This row has more columns than the header")))
                continue
            key = key.strip()
            if key.startswith(("metadata.", "metadata_")):
                metadata[key.split(".", 1)[-1].removeprefix("metadata_")] = value
            else:
                data[key] = value
        if isinstance(data.get("metadata"), str) and data["metadata"].strip():
            try:
                data["metadata"] = json.loads(data["metadata"])
            except json.JSONDecodeError:
                errors.append(RowError(start, _("the metadata column is not valid JSON")))
        elif metadata:
            data["metadata"] = metadata
        ref = data.get("reference_answer")
        if isinstance(ref, str):
            # A list in a CSV cell is written as JSON, as the release exports write it; any other text is left
            # as it is, for validation to refuse as it refuses a string in JSON.
            stripped = ref.strip()
            if stripped.startswith("["):
                try:
                    data["reference_answer"] = json.loads(stripped)
                except json.JSONDecodeError:
                    errors.append(RowError(start, _("the reference_answer column is not a valid JSON list")))
            elif not stripped:
                data["reference_answer"] = []
        rows.append(ParsedRow(start, data))
        start = reader.line_num + 1
    return rows, errors


class TaxonomyResolver:
    """Matches a dimension by code, Chinese name or English name, preferring the chosen taxonomy."""

    def __init__(self, taxonomy_code: str | None = None):
        self.taxonomy = Taxonomy.objects.filter(code=taxonomy_code).first() if taxonomy_code else None
        self.unknown_taxonomy = taxonomy_code if taxonomy_code and self.taxonomy is None else ""
        self.by_taxonomy: dict[str, dict[str, int]] = {}
        self.listed: dict[str, list[str]] = {}  # taxonomy code -> "code (中文名)" of its dimensions, in order
        for dim in Dimension.objects.select_related("taxonomy").order_by("-taxonomy__code", "order"):
            names = self.by_taxonomy.setdefault(dim.taxonomy.code, {})
            for key in (dim.code, dim.name_zh, dim.name_en):
                names.setdefault(key.strip().lower(), dim.pk)
            self.listed.setdefault(dim.taxonomy.code, []).append(f"{dim.code} ({dim.name_zh})")
        self.subs: dict[tuple[int, str], int] = {}
        for sub in SubDimension.objects.all():
            for key in (sub.code, sub.name_zh, sub.name_en):
                if key:
                    self.subs.setdefault((sub.dimension_id, key.strip().lower()), sub.pk)
        self.techniques: dict[str, int] = {}
        for tech in Technique.objects.all():
            for key in (tech.code, tech.name_zh, tech.name_en):
                self.techniques[key.strip().lower()] = tech.pk

    def dimension(self, value: str, version: str = "") -> int | None:
        key = value.strip().lower()
        if self.taxonomy is not None:
            return self.by_taxonomy.get(self.taxonomy.code, {}).get(key)
        if version and version in self.by_taxonomy and key in self.by_taxonomy[version]:
            return self.by_taxonomy[version][key]
        for names in self.by_taxonomy.values():  # newest taxonomy first
            if key in names:
                return names[key]
        return None

    def sub_dimension(self, dimension_id: int, value: str) -> int | None:
        return self.subs.get((dimension_id, value.strip().lower()))

    def setup_error(self) -> RowError | None:
        """What would fail every row alike, said once: no taxonomy loaded, or the chosen one does not exist."""
        if not self.by_taxonomy:
            return RowError(0, _("No taxonomy is loaded, so no dimension can match. Load one with "
                                 "`python manage.py load_taxonomy` and import the file again."))
        if self.unknown_taxonomy:
            return RowError(0, _("Unknown taxonomy: %(code)s. Loaded taxonomies: %(codes)s") % {
                "code": self.unknown_taxonomy, "codes": ", ".join(sorted(self.by_taxonomy))})
        return None

    def valid_dimensions(self, version: str = "") -> str:
        """The dimensions a value could have named (codes and Chinese names), for an unknown-dimension error."""
        code = self.taxonomy.code if self.taxonomy is not None else version
        if code in self.listed:
            return f"{code}: " + ", ".join(self.listed[code])
        return "; ".join(f"{taxonomy}: " + ", ".join(names) for taxonomy, names in self.listed.items())


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def _unstorable(value: Any, path: str) -> list[tuple[str, UnstorableText]]:
    """Every string of an item (keys included, at any depth) that holds a NUL or an unpaired surrogate."""
    if isinstance(value, str):
        error = find_unstorable(value)
        return [] if error is None else [(path, error)]
    found: list[tuple[str, UnstorableText]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            # The name is echoed in the error, which has to be sendable as UTF-8 itself.
            shown = escape_unstorable(str(key))
            name = f"{path}.{shown}" if path else shown
            if isinstance(key, str) and (error := find_unstorable(key)) is not None:
                found.append((name, error))
            found.extend(_unstorable(item, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_unstorable(item, f"{path}[{index}]"))
    return found


def _release_date_problem(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value.strip())
            return None
        except ValueError:
            pass
    shown = json.dumps(value, ensure_ascii=False)[:100]
    return _("release_date must be a date written YYYY-MM-DD, not %(value)s") % {"value": shown}


def validate_rows(rows: list[ParsedRow], resolver: TaxonomyResolver) -> tuple[list[ValidRow], list[RowError]]:
    valid: list[ValidRow] = []
    errors: list[RowError] = []
    setup = resolver.setup_error()
    if setup is not None:
        return [], [setup]
    for row in rows:
        data = row.data
        if not isinstance(data, dict):
            errors.append(RowError(row.line, _("Each item must be a JSON object")))
            continue
        unstorable = _unstorable(data, "") if row.screen else []
        if unstorable:
            # Nothing else is checked: later messages quote values, and these cannot be shown as they are.
            errors.extend(
                RowError(row.line, _("%(field)s: %(problem)s") % {"field": name, "problem": error.message()})
                for name, error in unstorable
            )
            continue
        problems: list[str] = []
        text = data.get("question_text")
        if not isinstance(text, str) or not text.strip():
            problems.append(_("question_text is missing or empty"))
            text = ""
        elif len(text) > MAX_TEXT:
            problems.append(_("question_text is longer than %(n)s characters") % {"n": MAX_TEXT})
        dimension_value = _as_text(data.get("dimension"))
        dimension_id = resolver.dimension(dimension_value, _as_text(data.get("version"))) if dimension_value else None
        if not dimension_value:
            problems.append(_("dimension is missing"))
        elif dimension_id is None:
            problems.append(_("Unknown dimension: %(dim)s. Valid dimensions: %(valid)s") % {
                "dim": dimension_value, "valid": resolver.valid_dimensions(_as_text(data.get("version")))})
        refs = data.get("reference_answer", [])
        if refs is None or refs == "":
            refs = []
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            problems.append(_('reference_answer must be a list of strings, e.g. ["…"]'))
            refs = []
        date_problem = _release_date_problem(data.get("release_date"))
        if date_problem:
            problems.append(date_problem)
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            problems.append(_("metadata must be an object"))
            metadata = {}
        tags = metadata.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.replace("，", ",").split(",") if t.strip()]
        if not isinstance(tags, list):
            problems.append(_("metadata.tags must be a list"))
            tags = []
        if problems:
            errors.extend(RowError(row.line, p) for p in problems)
            continue
        technique_ids = [resolver.techniques[t.lower()] for t in tags if isinstance(t, str) and t.lower() in resolver.techniques]
        risk = RISK_WORDS.get(_as_text(metadata.get("type")).strip().lower(), "")
        extra = {k: v for k, v in data.items() if k not in {"question_text", "reference_answer", "metadata", "dimension", "sub_dimension"}}
        valid.append(
            ValidRow(
                line=row.line,
                text=text,
                normalized_hash="",
                dimension_id=dimension_id,
                sub_dimension_name=_as_text(data.get("sub_dimension")).strip(),
                technique_ids=technique_ids,
                risk_expression=risk,
                reference_answers=list(refs),
                metadata={**{k: metadata[k] for k in metadata}, **({"tags": tags} if tags else {})},
                external_id=_as_text(data.get("question_id"))[:200],
                language=_as_text(data.get("language")).strip()[:16] or "zh",
                provenance={"import": extra},
            )
        )
    normalized = normalize_many([row.text for row in valid])
    kept: list[ValidRow] = []
    for row, norm in zip(valid, normalized, strict=True):
        if not norm:
            errors.append(RowError(row.line, _("question_text has no letters or digits once normalised")))
            continue
        row.normalized_hash = hashlib.sha256(norm.encode()).hexdigest()
        kept.append(row)
    errors.sort(key=lambda e: e.line)
    return kept, errors
