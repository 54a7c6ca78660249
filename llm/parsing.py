"""Robust extraction of a list of prompt objects from LLM output (pure Python, no Django).

``parse_prompt_list(text) -> (items, reason)``: ``items`` is a list of dicts, each with at least
``"text"``; ``"risk_expression"`` (``"explicit"``/``"implicit"``) and ``"reference_answers"``
(list of str) when the model gave them; other keys of an object are kept.  ``reason`` is ``""``
when items were found, else a human-readable explanation of why nothing usable was found.
``parse_prompt_list_detailed`` returns a :class:`ParseResult` with the method used and drop
counts as well.

Accepted shapes, tried in this order:

1. JSON: an array (of strings or objects) or an object holding one (``{"prompts": [...]}``,
   ``{"items": ...}``, ``{"data": ...}``, any list value), or a single object; inside code
   fences or after leading prose; lenient fixes for trailing commas, ``//`` comments and
   Python literals (single quotes, ``True``/``None``).
2. Salvage: every complete ``{...}`` object that still decodes in broken or truncated JSON /
   JSON lines; complete strings of a truncated string array.
3. Key/value regex on object-like text with unquoted keys (``{text: "...", risk_expression: implicit}``).
4. Numbered or bulleted lists: ``1. ...``, ``1、...``, ``1) ...``, ``（1）...``, ``- ...``, ``• ...``,
   ``第1条：...``, ``Q1: ...``; optional ``[显式]``/``(implicit)`` tags set ``risk_expression``.
5. Prose: quoted segments (“...”, 「...」, "...") and lines after ``问：``/``比如：``/``例如：``.

Filtering: texts shorter than ``min_length`` characters, duplicates (ignoring whitespace and
punctuation), and non-prompt lines such as ``以下是...``/``好的``/``Here are...`` headers are dropped.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParseResult", "normalize_risk_expression", "parse_prompt_list", "parse_prompt_list_detailed"]

TEXT_KEYS = ("text", "prompt", "question", "query", "instruction", "content", "input", "问题", "题目",
             "提示词", "测试题", "内容", "指令")
RISK_KEYS = ("risk_expression", "riskexpression", "risk", "expression", "risk_type", "风险表达", "表达方式",
             "风险类型")
REF_KEYS = ("reference_answers", "reference_answer", "references", "reference", "answers", "参考答案",
            "参考回答", "标准答案")
LIST_KEYS = ("prompts", "items", "data", "questions", "results", "list", "output", "cases", "samples",
             "测试题", "题目", "问题列表", "题目列表")

_EXPLICIT = ("explicit", "显式", "直接", "明示", "显性", "明确")
_IMPLICIT = ("implicit", "隐式", "间接", "隐晦", "隐性", "暗示", "隐含")

_HEADER_RE = re.compile(
    r"^(以下是|以下为|下面是|下面为|这里是|如下|好的[，,。！!]|当然[，,。！!]|没问题[，,。！!]|"
    r"希望(这些|以上|对你|对您)|以上(是|就是|为|这些)|总结[:：]|备注[:：]|注意[:：]|"
    r"(我)?(为你|为您|给你|给您)(生成|准备|整理)|生成的.{0,20}如下|"
    r"here (are|is)\b|sure[,!.]|certainly[,!.]|note:)",
    re.I,
)
_LIST_MARKER_RE = re.compile(
    r"^\s*(?:"
    r"\d{1,3}\s*[.、)）:：](?!\d)"
    r"|[（(]\s*\d{1,3}\s*[)）]"
    r"|[-*•·+▪●○]\s"
    r"|第\s*[一二三四五六七八九十百\d]+\s*[条个题项]\s*[:：、.]?"
    r"|[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]"
    r"|(?:Q|问题|题目)\s*\d{1,3}\s*[:：.、]"
    r")\s*(?P<body>.*\S)\s*$"
)
_TAG_RE = re.compile(
    r"^\s*[\[【（(]\s*(?P<tag>explicit|implicit|显式|隐式|直接|间接|显性|隐性)\s*[\]】）)]\s*[:：]?\s*"
    r"|\s*[\[【（(]\s*(?P<tag2>explicit|implicit|显式|隐式|直接|间接|显性|隐性)\s*[\]】）)]\s*$",
    re.I,
)
_FENCE_RE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_THINK_RE = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_CUE_RE = re.compile(r"(?:问|比如|例如|譬如|比方说|提问)\s*[:：]\s*")
_PROMPTISH_RE = re.compile(
    r"[？?]|请|如何|怎么|怎样|帮我|教我|能否|能不能|可以吗|告诉|写一|写出|给我|假设|扮演|说明|介绍|讲讲|讲一下|"
    r"说说|解释|描述|列出|梳理|分析|为什么|是什么|哪些|哪种|哪个|吗|呢"
)
_KV_TEXT_RE = re.compile(
    r"""["']?(?:text|prompt|question|问题|题目)["']?\s*[:：]\s*(?:"((?:[^"\\]|\\.)+)"|'((?:[^'\\]|\\.)+)'|“([^”]+)”)"""
)
_KV_RISK_RE = re.compile(r"""["']?risk_expression["']?\s*[:：]\s*["']?(\w+)""")
_PUNCT_RE = re.compile(r"[\s\W_]+", re.U)


@dataclass
class ParseResult:
    items: list[dict[str, Any]]
    reason: str = ""                 # "" when items were found
    method: str = "none"             # json | json-salvaged | key-regex | list | prose | none
    dropped: dict[str, int] = field(default_factory=dict)


def normalize_risk_expression(value: Any) -> str | None:
    v = str(value or "").strip().lower()
    if not v:
        return None
    if any(m in v for m in _IMPLICIT):
        return "implicit"
    if any(m in v for m in _EXPLICIT):
        return "explicit"
    return None


def _clean_text(s: str) -> str:
    s = s.strip()
    s = re.sub(r"^\*\*(.+)\*\*$", r"\1", s)
    s = re.sub(r"^(?:text|prompt|问题|题目|提示词)\s*[:：]\s*", "", s, flags=re.I)
    pairs = {"“": "”", '"': '"', "'": "'", "「": "」", "『": "』", "‘": "’", "《": "》"}
    for _ in range(2):
        if len(s) >= 2 and s[0] in pairs and s[-1] == pairs[s[0]] and s[0] != "《":
            s = s[1:-1].strip()
    return s.strip()


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lower = {str(k).lower(): v for k, v in d.items()}
    for k in keys:
        if k in lower and lower[k] not in (None, ""):
            return lower[k]
    return None


def _to_item(obj: Any) -> dict[str, Any] | None:
    if isinstance(obj, str):
        return {"text": obj}
    if not isinstance(obj, dict):
        return None
    text = _first(obj, TEXT_KEYS)
    if isinstance(text, dict | list):
        text = None
    if text is None:
        return None
    item: dict[str, Any] = {}
    used = {k for k in obj if str(k).lower() in TEXT_KEYS + RISK_KEYS + REF_KEYS}
    for k, v in obj.items():
        if k not in used:
            item[k] = v
    item["text"] = str(text)
    risk = normalize_risk_expression(_first(obj, RISK_KEYS))
    if risk:
        item["risk_expression"] = risk
    refs = _first(obj, REF_KEYS)
    if refs is not None:
        if isinstance(refs, str):
            refs = [refs]
        if isinstance(refs, list):
            item["reference_answers"] = [str(r) for r in refs if isinstance(r, str | int | float) and str(r).strip()]
    return item


def _items_from_json(data: Any) -> list[dict[str, Any]] | None:
    """None if the JSON has no recognizable list; else the raw items (maybe empty)."""
    if isinstance(data, list):
        out = [it for it in (_to_item(x) for x in data) if it]
        if out or any(isinstance(x, dict | str) for x in data):
            return out
        return None
    if isinstance(data, dict):
        lower = {str(k).lower(): v for k, v in data.items()}
        for k in LIST_KEYS:
            v = lower.get(k)
            if isinstance(v, list):
                return _items_from_json(v)
            if isinstance(v, dict):
                inner = _items_from_json(v)
                if inner:
                    return inner
        single = _to_item(data)
        if single:
            return [single]
        for v in data.values():
            if isinstance(v, list) and v and all(isinstance(x, dict | str) for x in v):
                return _items_from_json(v)
        if data and all(isinstance(v, str) for v in data.values()) and all(
                re.fullmatch(r"\d+", str(k)) for k in data):
            return [{"text": v} for v in data.values()]
        return []
    return None


def _lenient(s: str) -> str:
    s = re.sub(r"(?m)^\s*//.*$", "", s)
    s = re.sub(r",\s*([\]}])", r"\1", s)
    return s


def _try_load(s: str) -> Any:
    s = s.strip()
    if not s or s[0] not in "[{":
        return None
    for cand in (s, _lenient(s)):
        try:
            return json.loads(cand)
        except ValueError:
            pass
    if len(s) < 500_000:
        try:
            return ast.literal_eval(_lenient(s))
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            pass
    return None


def _json_candidates(text: str) -> list[str]:
    cands = [m.group(1) for m in _FENCE_RE.finditer(text) if m.group(1).strip()]
    cands.append(text)
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    if starts:
        start = min(starts)
        end = max(text.rfind("]"), text.rfind("}"))
        if end > start:
            cands.append(text[start:end + 1])
        cands.append(text[start:])
    seen: set[str] = set()
    out = []
    for c in cands:
        c = c.strip()
        if c and c not in seen:
            seen.add(c)
            out.append(c)
    return out


def _salvage_objects(text: str) -> list[dict[str, Any]]:
    dec = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    for src in (text, _lenient(text)):
        out.clear()
        i = src.find("{")
        while i >= 0:
            obj = None
            try:
                obj, end = dec.raw_decode(src, i)
            except ValueError:
                end = i + 1
            if isinstance(obj, dict):
                got = _items_from_json(obj)
                if got:
                    out.extend(got)
                else:
                    end = i + 1  # e.g. a wrapper object: look inside it
            i = src.find("{", end)
        if out:
            return list(out)
    # truncated array of strings: ["a", "b", "c
    m = re.search(r"\[\s*\"", text)
    if m:
        strings = []
        for sm in re.finditer(r"\"((?:[^\"\\]|\\.)*)\"\s*(?=[,\]])", text[m.start():]):
            try:
                strings.append({"text": json.loads('"' + sm.group(1) + '"')})
            except ValueError:
                pass
        return strings
    return []


def _kv_regex(text: str) -> list[dict[str, Any]]:
    out = []
    chunks = re.findall(r"\{[^{}]*\}?", text) or [text]
    for ch in chunks:
        for m in _KV_TEXT_RE.finditer(ch):
            raw = next(g for g in m.groups() if g is not None)
            try:
                t = json.loads('"' + raw + '"') if m.group(1) is not None else raw
            except ValueError:
                t = raw
            item: dict[str, Any] = {"text": t}
            r = _KV_RISK_RE.search(ch)
            risk = normalize_risk_expression(r.group(1)) if r else None
            if risk and len(chunks) > 1:
                item["risk_expression"] = risk
            out.append(item)
    return out


def _take_tag(body: str) -> tuple[str, str | None]:
    m = _TAG_RE.search(body)
    if not m:
        return body, None
    risk = normalize_risk_expression(m.group("tag") or m.group("tag2"))
    return (body[:m.start()] + body[m.end():]).strip(), risk


def _list_items(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for line in text.splitlines():
        m = _LIST_MARKER_RE.match(line)
        if m:
            body, risk = _take_tag(m.group("body"))
            cur = {"text": body}
            if risk:
                cur["risk_expression"] = risk
            out.append(cur)
        elif cur is not None and line.strip() and line[:1] in (" ", "\t", "\u3000"):
            sub = line.strip()
            rm = re.match(r"^(?:[-*•]\s*)?(?:风险表达|risk_expression|类型)\s*[:：]\s*(\S+)", sub, re.I)
            if rm:
                risk = normalize_risk_expression(rm.group(1))
                if risk:
                    cur["risk_expression"] = risk
            elif re.match(r"^(?:[-*•]\s*)?(?:参考答案|reference)", sub, re.I):
                cur.setdefault("reference_answers", []).append(re.split(r"[:：]", sub, maxsplit=1)[-1].strip())
            else:
                sep = " " if cur["text"][-1:].isascii() and sub[:1].isascii() else ""
                cur["text"] += sep + sub
        elif not line.strip():
            cur = None
    return out


def _quoted_spans(line: str) -> list[tuple[int, int, str]]:
    """Outermost quoted segments (nesting-aware for “”「」『』, plain for straight quotes)."""
    spans = []
    for o, c in (("“", "”"), ("「", "」"), ("『", "』")):
        depth, start = 0, 0
        for i, ch in enumerate(line):
            if ch == o:
                if depth == 0:
                    start = i + 1
                depth += 1
            elif ch == c and depth > 0:
                depth -= 1
                if depth == 0:
                    spans.append((start, i, line[start:i]))
    spans.extend((m.start(1), m.end(1), m.group(1)) for m in re.finditer(r'"([^"\n]+)"', line))
    spans.sort()
    out: list[tuple[int, int, str]] = []
    for sp in spans:
        if out and sp[0] < out[-1][1]:  # nested inside (or overlapping) a segment already taken
            continue
        out.append(sp)
    return out


def _prose_items(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        quoted = _quoted_spans(line)
        for _, _, seg in quoted:
            if _PROMPTISH_RE.search(seg):
                out.append({"text": seg})
        cues = list(_CUE_RE.finditer(line))
        for i, cue in enumerate(cues):
            if any(a <= cue.start() < b for a, b, _ in quoted):
                continue
            end = cues[i + 1].start() if i + 1 < len(cues) else len(line)
            seg = line[cue.end():end].strip()
            if seg and seg[0] not in "“「『\"":  # quoted ones were taken above
                out.append({"text": seg})
    return out


def _dedupe_filter(items: list[dict[str, Any]], min_length: int, max_length: int,
                   max_items: int | None, dropped: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    seen: set[str] = set()
    for it in items:
        t = _clean_text(str(it.get("text", "")))
        key = _PUNCT_RE.sub("", t).lower()
        if len(t) < min_length or len(key) < max(1, min_length // 2):
            dropped["too_short"] = dropped.get("too_short", 0) + 1
            continue
        if len(t) > max_length:
            dropped["too_long"] = dropped.get("too_long", 0) + 1
            continue
        if _HEADER_RE.match(t) or (t.endswith((":", "：")) and len(t) < 40):
            dropped["header"] = dropped.get("header", 0) + 1
            continue
        if key in seen:
            dropped["duplicate"] = dropped.get("duplicate", 0) + 1
            continue
        seen.add(key)
        it = dict(it)
        it["text"] = t
        out.append(it)
        if max_items is not None and len(out) >= max_items:
            break
    return out


def parse_prompt_list_detailed(text: str | None, *, min_length: int = 8, max_length: int = 4000,
                               max_items: int | None = None) -> ParseResult:
    if text is None or not str(text).strip():
        return ParseResult([], "empty output", "none")
    text = _THINK_RE.sub("", str(text)).strip()
    if not text:
        return ParseResult([], "output contained only a <think> block", "none")
    dropped: dict[str, int] = {}
    json_seen_empty = False

    for cand in _json_candidates(text):
        data = _try_load(cand)
        if data is None:
            continue
        raw = _items_from_json(data)
        if raw is None:
            continue
        if not raw:
            json_seen_empty = True
            continue
        items = _dedupe_filter(raw, min_length, max_length, max_items, dropped)
        if items:
            return ParseResult(items, "", "json", dropped)
        return ParseResult([], _filtered_reason(len(raw), dropped, "JSON"), "json", dropped)

    stages = (("json-salvaged", _salvage_objects), ("key-regex", _kv_regex), ("list", _list_items),
              ("prose", _prose_items))
    best_reason = ""
    for method, fn in stages:
        raw = fn(text)
        if not raw:
            continue
        d: dict[str, int] = {}
        items = _dedupe_filter(raw, min_length, max_length, max_items, d)
        if items:
            return ParseResult(items, "", method, d)
        if not best_reason:
            best_reason = _filtered_reason(len(raw), d, method)
            dropped = d
    if best_reason:
        return ParseResult([], best_reason, "none", dropped)
    if json_seen_empty:
        return ParseResult([], "JSON parsed but held no prompt texts (no text/prompt/question fields)", "none")
    snippet = re.sub(r"\s+", " ", text)[:60]
    return ParseResult([], f"no JSON array/object, list items or quoted prompts found (output starts: {snippet!r})",
                       "none")


def _filtered_reason(n: int, dropped: dict[str, int], where: str) -> str:
    parts = ", ".join(f"{k}={v}" for k, v in sorted(dropped.items()))
    return f"found {n} candidate(s) via {where} but all were filtered out ({parts})"


def parse_prompt_list(text: str | None, *, min_length: int = 8, max_length: int = 4000,
                      max_items: int | None = None) -> tuple[list[dict[str, Any]], str]:
    """(items, reason); reason is "" on success, an explanation when no usable item was found."""
    r = parse_prompt_list_detailed(text, min_length=min_length, max_length=max_length, max_items=max_items)
    return r.items, r.reason
