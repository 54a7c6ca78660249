"""Reads for the cycle pages and API: the steps with their states, what a step waits for (worded in the reader's
language), and what the maintainer sees before approving a cut."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from annotation.agreement_forms import FIELD_LABELS
from annotation.agreement_selectors import agreement_summary
from curation.models import Dimension
from releases import release_math as rm
from releases import services as releases
from releases.models import ReleaseItem

from .models import Cycle, CycleLog, CyclePlan
from .services import STEPS, cycle_prompts

# What a step waits for, finished with, or failed on: {code: text with %(param)s}.
MESSAGES: dict[str, Any] = {
    "opened": _("Cycle %(label)s opened."),
    "events": _("%(events)s events for this cycle."),
    "generate_at": _("Generation starts at %(at)s."),
    "generating": _("Generating: %(done)s of %(total)s runs finished."),
    "generated": _("%(candidates)s candidates from %(runs)s generation runs, sent to review."),
    "generation_resumed": _("Generation runs %(runs)s failed and were resumed."),
    "review": _("Reviewers: %(open)s of %(total)s candidates still open. The cut is at %(cut)s."),
    "reviewed": _("Cut: %(approved)s candidates approved; %(open)s still open wait for the next cycle."),
    "drafted": _("Draft %(release)s made."),
    "approval": _("A maintainer: approve the cut of %(release)s."),
    "approved": _("The cut of %(release)s is approved."),
    "freezing": _("Freezing: %(done)s of %(total)s items."),
    "freeze_restarted": _("The freeze failed (%(reason)s) and was started again."),
    "frozen": _("%(release)s frozen with %(items)s items."),
    "exporting": _("Exporting: %(done)s of %(total)s files."),
    "export_restarted": _("Exports of %(scopes)s failed and were started again."),
    "exported": _("%(files)s export files written."),
    "evaluating": _("Evaluating: %(answers)s of %(answers_total)s answers, %(matches)s of %(matches_total)s "
                    "matches."),
    "evaluation_resumed": _("Evaluation %(run)s failed and was resumed."),
    "evaluated": _("Evaluation %(run)s finished."),
    "published": _("The leaderboard of evaluation %(run)s is published."),
    "reported": _("The report of %(release)s is written."),
    "approved_action": _("approved the cut"),
    "cut_now": _("cut the release early"),
    "retry": _("asked for a retry"),
    "cancelled": _("cancelled the cycle"),
    "nothing_to_generate": _("Nothing to generate: no dimension of the plan could start a run (%(dimensions)s)."),
    "generator_gone": _("The plan's generator endpoint no longer exists."),
    "generation_failed": _("Generation runs %(runs)s failed again."),
    "draft_refused": _("The release could not be drafted: %(reason)s"),
    "freeze_failed": _("The freeze failed again: %(reason)s"),
    "export_failed": _("The exports failed again: %(reason)s"),
    "endpoint_gone": _("A target or the judge of the plan no longer exists."),
    "evaluation_refused": _("The evaluation could not start: %(reason)s"),
    "evaluation_failed": _("The evaluation failed again: %(reason)s"),
    "error": _("The step failed."),
}
# Who a waiting step waits for.
WAITS_FOR: dict[str, Any] = {
    "generate_at": _("the date"), "generating": _("the worker"), "review": _("annotators and the cut date"),
    "approval": _("a maintainer"), "freezing": _("the worker"), "exporting": _("the worker"),
    "evaluating": _("the worker"),
}


TIME_PARAMS = ("at", "cut")  # ISO datetimes, shown in the site's time zone


def _shown(key: str, value: Any) -> Any:
    if value is None:
        return ""
    if key in TIME_PARAMS and isinstance(value, str):
        try:
            return date_format(timezone.localtime(dt.datetime.fromisoformat(value)), "Y-m-d H:i")
        except ValueError:
            return value
    return value


def message(code: str, params: dict[str, Any] | None = None) -> str:
    template = MESSAGES.get(code)
    if template is None:
        return code
    try:
        return str(template) % {k: _shown(k, v) for k, v in (params or {}).items()}
    except (KeyError, TypeError, ValueError):
        return str(template)


def plan_list() -> QuerySet[CyclePlan]:
    return CyclePlan.objects.select_related("taxonomy", "judge", "generator").prefetch_related("targets")


def cycle_list() -> QuerySet[Cycle]:
    return Cycle.objects.select_related("plan", "release", "eval_run")


def cycle_get(*, pk: int) -> Cycle:
    return cycle_list().select_related("approved_by").get(pk=pk)


@dataclass
class StepRow:
    code: str
    label: str
    state: str  # done / current / waiting / failed / pending
    text: str
    waits_for: str


def step_rows(cycle: Cycle) -> list[StepRow]:
    done_texts = {e.step: message(e.message, e.params) for e in cycle.log.filter(kind=CycleLog.Kind.DONE)}
    index = STEPS.index(cycle.step) if cycle.step in STEPS else len(STEPS)
    rows = []
    for i, code in enumerate(STEPS):
        label = str(Cycle.Step(code).label)
        if i < index:
            rows.append(StepRow(code, label, "done", done_texts.get(code, ""), ""))
        elif i == index and cycle.status in (Cycle.Status.WAITING, Cycle.Status.FAILED, Cycle.Status.ACTIVE):
            state = {Cycle.Status.WAITING: "waiting", Cycle.Status.FAILED: "failed"}.get(cycle.status, "current")
            wait = cycle.wait or {}
            rows.append(StepRow(code, label, state, message(wait.get("code", ""), wait.get("params")) if wait else "",
                                str(WAITS_FOR.get(wait.get("code"), "")) if state == "waiting" else ""))
        else:
            rows.append(StepRow(code, label, "pending", "", ""))
    return rows


def history(cycle: Cycle) -> list[dict[str, Any]]:
    return [{"at": e.at, "step": Cycle.Step(e.step).label, "kind": e.get_kind_display(), "kind_code": e.kind,
             "text": message(e.message + "_action" if e.message == "approved" and e.kind == CycleLog.Kind.ACTION
                             else e.message, e.params),
             "error": e.params.get("error", ""), "actor": e.actor.username if e.actor_id else ""}
            for e in cycle.log.select_related("actor").order_by("-at", "-id")[:200]]


def approval_preview(cycle: Cycle, *, contamination_limit: int = 50) -> dict[str, Any] | None:
    """What the draft would contain: counts per dimension, the agreement of the reviews behind its new items, and
    the new items that near-duplicate public items of earlier releases."""
    if cycle.release_id is None:
        return None
    release = cycle.release
    preview = releases.release_preview(release)
    new_prompts = releases.release_new_prompts(release)
    ids = list(new_prompts.values_list("pk", flat=True))
    agreement = [{**row, "label": FIELD_LABELS.get(row["field"], row["field"])}
                 for row in agreement_summary(prompt_ids=ids, n_boot=200) if row.get("n_items")] if ids else []
    english = not (get_language() or "").startswith("zh")
    names = {code: (en or zh) if english else zh for code, zh, en in
             Dimension.objects.filter(taxonomy_id=release.taxonomy_id).values_list("code", "name_zh", "name_en")}
    by_dimension = [(names.get(code, code), counts) for code, counts in preview.by_dimension.items()]
    earlier = (ReleaseItem.objects.filter(release__frozen_at__isnull=False, is_holdout=False)
               .values_list("release__version", "public_id", "text"))
    indexed = [(pk, text) for pk, text in new_prompts.values_list("pk", "text")]
    queries = (((v, p), t) for v, p, t in earlier.iterator(chunk_size=2000))
    found = rm.near_duplicates(indexed, queries, threshold=settings.DEDUP_NEAR_THRESHOLD) if indexed else []
    warnings: dict[int, list[dict[str, Any]]] = {}
    for match in found:
        (version, public) = match.key
        warnings.setdefault(match.match, []).append({"version": version, "public_id": public,
                                                     "similarity": match.similarity})
    texts = dict(new_prompts.filter(pk__in=list(warnings)).values_list("pk", "text"))
    contamination = [{"prompt_id": pk, "text": texts.get(pk, ""), "matches": sorted(ms, key=lambda m: -m["similarity"])[:3]}
                     for pk, ms in sorted(warnings.items())][:contamination_limit]
    from_cycle = cycle_prompts(cycle).filter(pk__in=ids).count()
    return {"preview": preview, "by_dimension": by_dimension, "agreement": agreement, "contamination": contamination,
            "contaminated": len(warnings), "new_from_cycle": from_cycle, "new": len(ids)}
