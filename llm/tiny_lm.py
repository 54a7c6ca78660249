"""A tiny, badly-behaved *generative* language model for the simulator (pure Python, no Django).

This is a character-level n-gram (Markov) model with back-off, trained at start-up on the Chinese
text we ship (``llm/data/tiny_corpus.txt``: demo benchmark items, generator templates, glossary words).
It is a statistical model, not a neural network: it has no notion of instructions and only
reproduces local character statistics. That is exactly what makes it useful here. Like a small
model behind a real OpenAI-compatible server it

* rambles: it keeps talking until it hits ``max_tokens`` most of the time (finish_reason ``length``);
* repeats itself: sentences and phrases recur, sometimes several times in a row;
* ignores the requested JSON format: it writes prose, half-remembered numbered lines and fragments.

A generation run against it must finish without crashing, record the unusable batches with their
reasons and keep whatever prompt-like lines it happens to produce.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["CharNGramModel", "default_model", "respond"]

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "tiny_corpus.txt"
_BOS = "\x02"
_SENTENCE_END = "。？！?!\n"


class CharNGramModel:
    """Order-n character Markov chain with stupid back-off to shorter contexts."""

    def __init__(self, order: int = 4) -> None:
        if order < 1:
            raise ValueError("order must be >= 1")
        self.order = order
        # tables[k]: context of k chars -> (chars, cumulative weights)
        self.tables: list[dict[str, tuple[list[str], list[int]]]] = []
        self.vocab_size = 0
        self.trained_chars = 0

    def train(self, texts: Iterable[str]) -> CharNGramModel:
        counts: list[defaultdict[str, Counter]] = [defaultdict(Counter) for _ in range(self.order)]
        vocab: set[str] = set()
        for text in texts:
            if not text:
                continue
            padded = _BOS * (self.order - 1) + text
            vocab.update(text)
            self.trained_chars += len(text)
            for i in range(self.order - 1, len(padded)):
                ch = padded[i]
                for k in range(self.order):
                    counts[k][padded[i - k : i]][ch] += 1
        self.tables = []
        for table in counts:
            frozen: dict[str, tuple[list[str], list[int]]] = {}
            for ctx, counter in table.items():
                chars = sorted(counter)  # sorted: sampling must not depend on hash order
                frozen[ctx] = (chars, list(itertools.accumulate(counter[c] for c in chars)))
            self.tables.append(frozen)
        self.vocab_size = len(vocab)
        return self

    def next_char(self, history: str, rng: random.Random, temperature: float = 1.0) -> str:
        padded = _BOS * (self.order - 1) + history
        for k in range(self.order - 1, -1, -1):
            entry = self.tables[k].get(padded[len(padded) - k :] if k else "")
            if entry is None:
                continue
            chars, cumulative = entry
            if temperature <= 0.05 or len(chars) == 1:
                weights = [b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)]
                return chars[max(range(len(chars)), key=weights.__getitem__)]
            if abs(temperature - 1.0) > 1e-6:
                weights = [(b - a) ** (1.0 / temperature) for a, b in zip([0, *cumulative[:-1]], cumulative,
                                                                          strict=True)]
                return rng.choices(chars, weights=weights)[0]
            return chars[bisect.bisect_right(cumulative, rng.randrange(cumulative[-1]))]
        return "。"

    def generate(self, rng: random.Random, max_chars: int, *, prefix: str = "", temperature: float = 1.0,
                 stop_at_bos: bool = False) -> str:
        out: list[str] = []
        history = prefix
        for _ in range(max_chars):
            ch = self.next_char(history[-(self.order - 1) :] if self.order > 1 else "", rng, temperature)
            if ch == _BOS:
                if stop_at_bos:
                    break
                continue
            out.append(ch)
            history += ch
        return "".join(out)


_MODEL: CharNGramModel | None = None
_MODEL_LOCK = threading.Lock()


def _corpus_texts(extra: Sequence[str] = ()) -> list[str]:
    texts = []
    if CORPUS_PATH.exists():
        texts.extend(block for block in CORPUS_PATH.read_text(encoding="utf-8").split("\n\n") if block.strip())
    texts.extend(extra)
    return texts


def default_model(extra: Sequence[str] = ()) -> CharNGramModel:
    """The model trained once per process on the shipped corpus (plus ``extra`` on first use)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            _MODEL = CharNGramModel(order=4).train(_corpus_texts(extra))
        return _MODEL


_OPENERS = ["好的，", "嗯，", "当然可以，", "这个问题", "我觉得", "首先，", "以下是", ""]


def respond(messages: Sequence[dict], rng: random.Random, *, max_tokens: int | None = None,
            temperature: float | None = None, extra_corpus: Sequence[str] = ()) -> tuple[str, str]:
    """(content, finish_reason) for a chat request; the request's wording barely matters, as with a
    model too small to follow instructions. ~1.5 characters per token, as the simulator counts."""
    model = default_model(extra_corpus)
    budget_chars = int((max_tokens or 512) * 1.5)
    temp = 1.0 if temperature is None else max(0.0, min(2.0, float(temperature)))
    last_user = next((str(m.get("content") or "") for m in reversed(messages)
                      if isinstance(m, dict) and m.get("role") == "user"), "")
    # Primed with the end of the request: the only way the request shapes what comes out.
    prime = re.sub(r"\s+", "", last_user)[-(model.order - 1) :]
    out = rng.choice(_OPENERS)
    sentences: list[str] = []
    # Most of the time it rambles to the limit; sometimes it simply stops early.
    natural_stop = budget_chars if rng.random() < 0.75 else rng.randint(40, max(41, budget_chars))
    while len(out) < natural_stop:
        roll = rng.random()
        if sentences and roll < 0.18:
            piece = rng.choice(sentences)  # repeats a whole earlier sentence
        elif sentences and roll < 0.26:
            phrase = sentences[-1][: rng.randint(2, 8)]
            piece = (phrase + "，") * rng.randint(2, 4)  # stutters
        else:
            piece = _sentence(model, rng, prime + out, temp)
            if piece:
                sentences.append(piece)
        out += piece
    if len(out) >= budget_chars:
        return out[:budget_chars], "length"
    return out, "stop"


def _sentence(model: CharNGramModel, rng: random.Random, history: str, temperature: float) -> str:
    chars: list[str] = []
    for _ in range(120):
        ch = model.next_char((history + "".join(chars))[-(model.order - 1) :], rng, temperature)
        if ch == _BOS:
            ch = "\n"
        chars.append(ch)
        if ch in _SENTENCE_END and len(chars) > 3:
            break
    return "".join(chars)
