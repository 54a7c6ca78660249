"""A quality gate for generated candidates: what no reviewer should have to read (pure Python, no ORM).

A small generator rambles: it parrots its own instructions, stops mid-item at the token limit, answers
in English or in JSON fragments, or refuses. Each text of a batch is checked before it becomes a
candidate; a dropped text gets one reason code (the first check that fails, in `REASONS` order) and a
short detail saying what was measured. The checks are deliberately conservative: a prompt that is only
odd (short, code-mixed, quoting a line of code) passes, since judging it is the reviewers' job.

Usage::

    result = gate_texts(texts, instructions=[system_text, user_message], output_truncated=False)
    result.kept            # indices of the texts that pass
    result.dropped         # [Drop(index, text, reason, detail), ...]
    result.counts()        # {"echo": 3, "code": 1}

Thresholds are the named constants below, bundled in `Thresholds` so a deployment can tune them
(`Thresholds.from_mapping(settings.GENERATION_GATE)`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

from curation.text import normalize

__all__ = [
    "CODE", "ECHO", "NOT_CHINESE", "REASONS", "REFUSAL", "TOO_SHORT", "TRUNCATED",
    "Drop", "GateResult", "Instructions", "Thresholds",
    "check_text", "code_marker", "echo_coverage", "ends_mid_sentence", "gate_texts", "han_share",
    "is_refusal", "unbalanced_pair",
]

# Reason codes, in the order the checks run.
ECHO = "echo"                # repeats the generation prompt
REFUSAL = "refusal"          # the generator declined to write the item
CODE = "code"                # a piece of code or of the JSON output format
TRUNCATED = "truncated"      # cut off: unbalanced quotes or brackets, or ends mid-sentence at the length limit
NOT_CHINESE = "not_chinese"  # mostly other scripts than Chinese
TOO_SHORT = "too_short"      # too short to be a test question
REASONS = (ECHO, REFUSAL, CODE, TRUNCATED, NOT_CHINESE, TOO_SHORT)

# A text shorter than this (whitespace not counted) is no test question; the templates ask for 20-150.
MIN_CHARS = 10
# Echo: share of a text's characters covered by character n-grams that also occur in the instructions
# (compared as dedup compares texts: NFKC, simplified, letters and digits only, a digit run as one symbol,
# so "长度 350～500 字" matches "长度 20～150 字"). A real prompt that names the dimension's theme shares a
# word or two with the template; a parroted or lightly paraphrased instruction line shares most of it.
ECHO_NGRAM = 4
ECHO_COVERAGE = 0.6
# Chinese: Han characters as a share of all letters, a Latin letter weighing half (a pinyin syllable or an
# English word is several letters for one Chinese character's worth of meaning), so a code-mixed question
# ("怎么做 bomb") or one written partly in pinyin stays, an English sentence does not.
MIN_HAN_SHARE = 0.5
LATIN_LETTER_WEIGHT = 0.5


@dataclass(frozen=True)
class Thresholds:
    min_chars: int = MIN_CHARS
    echo_ngram: int = ECHO_NGRAM
    echo_coverage: float = ECHO_COVERAGE
    min_han_share: float = MIN_HAN_SHARE
    latin_letter_weight: float = LATIN_LETTER_WEIGHT

    @classmethod
    def from_mapping(cls, values: Mapping[str, object] | None) -> Thresholds:
        """Defaults overridden by `values` (e.g. a settings dict); an unknown name is an error, not ignored."""
        if not values:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown quality gate thresholds: {sorted(unknown)} (known: {sorted(known)})")
        defaults = cls()
        return replace(defaults, **{k: type(getattr(defaults, k))(v) for k, v in values.items()})


DEFAULT = Thresholds()


@dataclass(frozen=True)
class Drop:
    index: int
    text: str
    reason: str
    detail: str


@dataclass
class GateResult:
    kept: list[int] = field(default_factory=list)
    dropped: list[Drop] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Drops per reason code, in `REASONS` order."""
        counted = Counter(d.reason for d in self.dropped)
        return {reason: counted[reason] for reason in REASONS if counted[reason]}


# -- echo --------------------------------------------------------------------------------------

_DIGITS_RE = re.compile(r"\d+")


def _key(text: str) -> str:
    return _DIGITS_RE.sub("#", normalize(text))


class Instructions:
    """The n-grams of what the generator was told (system text and rendered user message)."""

    def __init__(self, texts: Iterable[str] = (), n: int = ECHO_NGRAM):
        self.n = n
        self.ngrams: frozenset[str] = frozenset(
            key[i:i + n] for key in (_key(t) for t in texts if t) for i in range(len(key) - n + 1)
        )

    def __bool__(self) -> bool:
        return bool(self.ngrams)


def echo_coverage(text: str, instructions: Instructions) -> float:
    """Share (0-1) of the text's characters inside an n-gram the instructions also hold."""
    key, n = _key(text), instructions.n
    if not key or not instructions or len(key) < n:
        return 0.0
    covered = [False] * len(key)
    for i in range(len(key) - n + 1):
        if key[i:i + n] in instructions.ngrams:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(key)


# -- refusals ----------------------------------------------------------------------------------

_DECLINE = r"(?:无法|不能|不可以|不便|没办法|没法|不会|拒绝)"
_FOR_YOU = r"(?:为你|为您|帮你|帮您|给你|给您|替你|替您|向你|向您)?"
_TASK = r"(?:提供|生成|编写|撰写|创作|协助|帮助|帮忙|满足|完成|回答|回复|参与|执行|输出|出题|处理|支持)"
_REFUSAL_RES = (
    # An apology that leads into declining the task: "抱歉，我无法…", "对不起，这个请求我不能提供…".
    re.compile(r"^(?:很|非常|十分|真的)?(?:抱歉|对不起|不好意思)[^。！？!?\n]{0,30}?" + _DECLINE + _FOR_YOU + _TASK),
    # The assistant speaking as itself: "作为一个人工智能助手，我不能…".
    re.compile(r"^作为(?:一个|一名)?[^，,。]{0,12}(?:AI|人工智能|助手|语言模型|模型)[^。！？!?\n]{0,20}?" + _DECLINE, re.I),
    re.compile(r"^(?:i[’']?m sorry|sorry|i am sorry|i can(?:not|[’']?t)|i am unable|i[’']?m unable|as an ai)\b", re.I),
)
# "我无法提供这类内容。" declines; "我不能回答老师的问题怎么办？" is a user's question, hence no question mark.
_FLAT_REFUSAL_RE = re.compile(r"^我" + _DECLINE + _FOR_YOU + _TASK)


def is_refusal(text: str) -> bool:
    """The generator declining the task (not a user's question that mentions being unable to do something)."""
    head = text.strip()[:120]
    if any(rx.search(head) for rx in _REFUSAL_RES):
        return True
    return bool(_FLAT_REFUSAL_RE.search(head)) and not re.search(r"[？?]", text)


# -- code and JSON fragments -------------------------------------------------------------------

_CODE_RES = (
    # An object of the output format, or any JSON object, opened in the text.
    ("JSON object", re.compile(r"[{\[]\s*[\"'“][^\"'”]{0,40}[\"'”]\s*[:：]")),
    ("JSON key", re.compile(r"[\"“][A-Za-z_][\w.-]{0,40}[\"”]\s*[:：]\s*[\"“\[{\d]")),
    # A quoted identifier ("test_list") or a field of the output format: the format leaking into a text. A bare
    # one ("通过 user_id 查手机号") is left to the reviewers.
    ("identifier", re.compile(r"[\"“'‘][A-Za-z]+_[A-Za-z0-9_]*|(?<![A-Za-z0-9_])(?:risk_expression|"
                              r"reference_answers?|question_text)(?![A-Za-z0-9_])")),
    ("code fence", re.compile(r"```")),
    ("code", re.compile(
        r"(?m)^\s*(?:def |class |import |from \S+ import |function\s*\w*\(|#include|<\?php|SELECT |INSERT |"
        r"var |let |const |public |private )"
    )),
)


def code_marker(text: str) -> str | None:
    """What makes the text a piece of code or of JSON (None when it is prose)."""
    for name, rx in _CODE_RES:
        if rx.search(text):
            return name
    return None


# -- cut-off texts -----------------------------------------------------------------------------

_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", "（": "）", "(": ")", "【": "】", "《": "》", "[": "]",
          "{": "}", "〈": "〉"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
# Sentence ends (and closing marks after one) of Chinese and English text, emoji included: a question
# may end with 🙏.
_END_CHARS = set("。！？!?…~～.;；」』”’）)】》>*\"'")


def unbalanced_pair(text: str) -> str | None:
    """The quote or bracket left open, e.g. '"' for `输入 "test_`: where an output cut off leaves its mark.

    A closing mark without its opener is no sign of a cut ("1) 2) 3)", an apostrophe written as ’).
    """
    if text.count('"') % 2:
        return '"'
    stack: list[str] = []
    for ch in text:
        if ch in _PAIRS:
            stack.append(ch)
        elif ch in _CLOSERS and _CLOSERS[ch] in stack:
            del stack[len(stack) - 1 - stack[::-1].index(_CLOSERS[ch]):]
    return stack[0] if stack else None


def ends_mid_sentence(text: str) -> bool:
    stripped = text.rstrip()
    if not stripped:
        return False
    last = stripped[-1]
    return last not in _END_CHARS and unicodedata.category(last) not in ("So", "Sk")


# -- Chinese -----------------------------------------------------------------------------------


def _is_han(ch: str) -> bool:
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x3134F
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def han_share(text: str, latin_letter_weight: float = LATIN_LETTER_WEIGHT) -> float:
    """Han characters as a share of all letters; 0 for a text with no letters at all (symbols, emoji)."""
    han = other = latin = 0
    for ch in text:
        if _is_han(ch):
            han += 1
        elif ch.isalpha():
            if ch.isascii() or unicodedata.name(ch, "").startswith(("LATIN", "FULLWIDTH LATIN")):
                latin += 1
            else:
                other += 1
    weighted = han + other + latin * latin_letter_weight
    return han / weighted if weighted else 0.0


# -- the gate ----------------------------------------------------------------------------------


def check_text(text: str, *, instructions: Instructions | None = None, at_length_limit: bool = False,
               thresholds: Thresholds = DEFAULT) -> tuple[str, str] | None:
    """(reason, detail) when the text must not reach review, else None.

    `at_length_limit`: the text is where the output stopped at the token limit, so it may be cut.
    """
    if instructions:
        coverage = echo_coverage(text, instructions)
        if coverage >= thresholds.echo_coverage:
            return ECHO, f"{coverage:.0%} of the text repeats the generation prompt"
    if is_refusal(text):
        return REFUSAL, "the generator declined instead of writing a question"
    marker = code_marker(text)
    if marker:
        return CODE, f"looks like code or the JSON output format ({marker})"
    opened = unbalanced_pair(text)
    if opened:
        return TRUNCATED, f"unbalanced {opened}: the text was cut off"
    if at_length_limit and ends_mid_sentence(text):
        return TRUNCATED, "ends mid-sentence where the output hit the length limit"
    share = han_share(text, thresholds.latin_letter_weight)
    if share < thresholds.min_han_share:
        return NOT_CHINESE, f"Chinese is {share:.0%} of the letters (at least {thresholds.min_han_share:.0%})"
    length = sum(1 for ch in text if not ch.isspace())
    if length < thresholds.min_chars:
        return TOO_SHORT, f"{length} characters (at least {thresholds.min_chars})"
    return None


def gate_texts(texts: Sequence[str], *, instructions: Sequence[str] | Instructions = (),
               output_truncated: bool = False, thresholds: Thresholds = DEFAULT) -> GateResult:
    """Check each text of one generator output; `output_truncated` marks the last one as possibly cut."""
    if not isinstance(instructions, Instructions):
        instructions = Instructions(instructions, thresholds.echo_ngram)
    result = GateResult()
    for index, text in enumerate(texts):
        verdict = check_text(text, instructions=instructions, thresholds=thresholds,
                             at_length_limit=output_truncated and index == len(texts) - 1)
        if verdict is None:
            result.kept.append(index)
        else:
            result.dropped.append(Drop(index, text, *verdict))
    return result
