"""A prompt's provenance (free-form JSON written by import, generation and mutation) as labelled entries for a
definition list. Pure: no ORM, no URLs; the template links runs, events and prompts by the entry's `link`.

Values become text here and are escaped by the template, so whatever a file or a model put into provenance is
shown as written, never run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

MAX_DEPTH = 3  # deeper structures are shown as JSON text
MAX_ITEMS = 200  # a list or mapping longer than this is cut, saying how many were left out

LABELS = {
    "kind": _("Kind"),
    "run": _("Run"),
    "batch": _("Batch"),
    "endpoint": _("Endpoint"),
    "model": _("Model"),
    "templates": _("Template versions"),
    "params": _("Parameters"),
    "techniques_requested": _("Techniques requested"),
    "events": _("Events"),
    "topics": _("Topics"),
    "llm_outcome": _("LLM outcome"),
    "source_prompt": _("Source prompt"),
    "occurrence": _("Occurrence"),
    "chain": _("Mutation chain"),
    "seed": _("Seed"),
    "file": _("File"),
    "line": _("Line"),
    "format": _("Format"),
    "import": _("Imported fields"),
    "generator": _("Generator"),
    "attack_run": _("Attack run"),
    "technique": _("Technique"),
    "techniques_applied": _("Techniques applied"),
    "attacker": _("Attacker"),
    "target": _("Target"),
    "judge": _("Judge"),
    "score": _("Score"),
}
KINDS = {
    "generation": _("LLM generation"),
    "mutation": _("Offline mutation"),
    "demo": _("Demo data"),
    "attack": _("Attack run"),
}
# The order a reader follows: what made it, where from, with what, then the rest as stored.
ORDER = ("kind", "run", "attack_run", "batch", "endpoint", "model", "templates", "params", "techniques_requested",
         "events", "topics", "llm_outcome", "source_prompt", "occurrence", "attacker", "target", "judge", "score",
         "technique", "techniques_applied", "chain", "seed", "file", "line", "format", "import", "generator")


@dataclass(frozen=True)
class Entry:
    """One <dt>/<dd>: `text` for a single value, `parts` for a list, `children` for a nested mapping.
    `link` is "run", "prompt" or "event" when `text` (or each part) is an id the template may link."""

    key: str
    label: str
    text: str = ""
    parts: tuple[str, ...] = ()
    children: tuple[Entry, ...] = ()
    link: str = ""
    more: int = 0  # items or children left out

    @property
    def is_list(self) -> bool:
        return bool(self.parts) and not self.children

    @property
    def is_mapping(self) -> bool:
        return bool(self.children)


@dataclass(frozen=True)
class _Cut:
    items: list
    more: int


def _cut(values) -> _Cut:
    values = list(values)
    return _Cut(values[:MAX_ITEMS], max(0, len(values) - MAX_ITEMS))


def scalar_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def is_id(value: Any) -> bool:
    """An id a URL can take: a positive int (or its digits); anything else is shown, not linked."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0


def _template_text(t: Any) -> str:
    if isinstance(t, Mapping):
        target = scalar_text(t.get("target", "?"))
        version = t.get("version")
        scope = t.get("scope")
        text = f"{target} v{scalar_text(version)}" if version is not None else target
        return f"{text} ({scalar_text(scope)})" if scope else text
    return scalar_text(t)


def _step_text(step: Any) -> str:
    if isinstance(step, Mapping):
        name = scalar_text(step.get("strategy", "?"))
        params = step.get("params")
        if isinstance(params, Mapping) and params:
            return f"{name}({', '.join(f'{k}={scalar_text(v)}' for k, v in params.items())})"
        return name
    return scalar_text(step)


def _generic(key: str, label: str, value: Any, depth: int) -> Entry:
    if isinstance(value, Mapping) and value and depth < MAX_DEPTH:
        cut = _cut(value.items())
        children = tuple(_generic(str(k), str(k), v, depth + 1) for k, v in cut.items)
        return Entry(key=key, label=label, children=children, more=cut.more)
    if isinstance(value, list | tuple) and value and depth < MAX_DEPTH and all(
        not isinstance(v, Mapping | list | tuple) for v in value
    ):
        cut = _cut(value)
        return Entry(key=key, label=label, parts=tuple(scalar_text(v) for v in cut.items), more=cut.more)
    if isinstance(value, Mapping | list | tuple) and not value:
        return Entry(key=key, label=label, text="—")
    return Entry(key=key, label=label, text=scalar_text(value))


def _known(key: str, value: Any, depth: int) -> Entry:
    label = str(LABELS[key])
    if key == "kind" and isinstance(value, str) and value in KINDS:
        return Entry(key=key, label=label, text=f"{KINDS[value]} ({value})")
    if key in ("run", "source_prompt") and is_id(value):
        return Entry(key=key, label=label, text=str(value), link="run" if key == "run" else "prompt")
    if key == "batch" and isinstance(value, int) and not isinstance(value, bool):
        return Entry(key=key, label=label, text=str(value + 1))  # stored from 0, shown from 1 as on the run page
    if key == "templates" and isinstance(value, list | tuple) and value:
        cut = _cut(value)
        return Entry(key=key, label=label, parts=tuple(_template_text(t) for t in cut.items), more=cut.more)
    if key == "chain" and isinstance(value, list | tuple) and value:
        cut = _cut(value)
        return Entry(key=key, label=label, parts=tuple(_step_text(s) for s in cut.items), more=cut.more)
    if key == "events" and isinstance(value, list | tuple) and value and all(is_id(v) for v in value):
        cut = _cut(value)
        return Entry(key=key, label=label, parts=tuple(str(v) for v in cut.items), link="event", more=cut.more)
    return _generic(key, label, value, depth)


def provenance_entries(provenance: Any) -> list[Entry]:
    """Entries for a prompt's provenance, known keys first in `ORDER`, then the others as stored."""
    if provenance in (None, "", {}, []):
        return []
    if not isinstance(provenance, Mapping):
        return [_generic("value", str(_("Value")), provenance, 0)]
    keys = [k for k in ORDER if k in provenance] + [k for k in provenance if k not in LABELS]
    cut = _cut(keys)
    entries = [_known(k, provenance[k], 1) if k in LABELS else _generic(str(k), str(k), provenance[k], 1)
               for k in cut.items]
    if cut.more:
        entries.append(Entry(key="…", label="…", text=ngettext("%(n)s more field", "%(n)s more fields", cut.more) % {"n": cut.more}))
    return entries
