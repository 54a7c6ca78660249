"""The access-control matrix: every route of the URL conf, every method, every role, with real objects.

`MATRIX` below is the one table of who may do what (README's role table is the source): for each route
(`namespace:name`) one or more cases (which real objects its URL names) and, per method, the outcome for
each of the five callers in `CALLERS`. The test walks `django.urls.get_resolver()` recursively, so a route
added to the URL conf without an entry here fails with its name, and an entry whose route is gone fails too.

Outcome classes:
- ``ok``: 2xx, or a redirect that is not a "log in first" redirect;
- ``invalid``: the caller was let in and the request's body was refused (400, 409, 413, 415);
- ``login``: pages answer 302 to the login page (with ``next``); the API answers 401 (or 403) to anonymous calls;
- ``forbidden``: 403; ``forbidden:404``: 404 where the code deliberately hides that the object exists
  (another user's claim or annotation, a draft release or an unpublished run for those who may not see it);
- ``not_allowed``: 405, for a method the route does not accept (only callers who get past the role check
  see it: the role is checked first).

Every entry states all five methods. Methods that provably take one code path are called once for the group
(see `methods_to_call`): PUT and PATCH of a function view that answers them as GET are represented by DELETE,
and the methods a route refuses with 405 by one of them beside GET; that keeps the matrix near 30 s.

Also checked on every request: no 500; a write (POST/PUT/PATCH/DELETE) that is refused changes nothing in the
database; no response to an annotator (pages, API, exports, zip and Parquet files opened) carries the text of a
hold-out item. Each request runs in a savepoint that is rolled back, so every case sees the same objects.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.test import Client, TestCase, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CALLERS = ("anonymous", "member", "outsider", "maintainer", "admin")

OK = "ok"
INVALID = "invalid"
LOGIN = "login"
FORBIDDEN = "forbidden"
HIDDEN = "forbidden:404"  # forbidden, answered as 404 because the code hides that the object exists
NOT_ALLOWED = "not_allowed"

# Role vectors, in the order of CALLERS: anonymous, annotator in the queue, annotator outside it, maintainer, admin.
EVERYONE = (OK, OK, OK, OK, OK)
ANY_ROLE = (LOGIN, OK, OK, OK, OK)
MAINTAINERS = (LOGIN, FORBIDDEN, FORBIDDEN, OK, OK)
MEMBER_ONLY = (LOGIN, OK, FORBIDDEN, OK, OK)  # the queue's member (and maintainers and admins who help out)
ADMINS = (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
NOBODY = (NOT_ALLOWED,) * 5
STAFF = (LOGIN, LOGIN, LOGIN, LOGIN, OK)  # Django admin sends every non-staff user to its own login page


def v(*outcomes: str) -> tuple[str, ...]:
    """A role vector written out: anonymous, member, outsider, maintainer, admin."""
    assert len(outcomes) == len(CALLERS)
    return tuple(outcomes)


def refused_method(vector: tuple[str, ...]) -> tuple[str, ...]:
    """What a method the route does not accept answers: the role check first, then 405 for those let in."""
    return tuple(NOT_ALLOWED if o in (OK, INVALID) else o for o in vector)


class AllMethods(dict):
    """The outcomes of a function view that does not restrict the method: PUT, PATCH and DELETE take the same
    path as GET (only POST is read as a submission)."""


def every(vector: tuple[str, ...]) -> AllMethods:
    """A function view that does not look at the method: every method gets the same answer."""
    return AllMethods((m, vector) for m in METHODS)


def only(refused_like: tuple[str, ...] | None = None, **accepted: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The methods a view accepts with their vectors; every other method is refused (405 once past the role
    check, which `refused_like` gives when it differs from the first accepted method's)."""
    base = refused_method(refused_like or next(iter(accepted.values())))
    return {m: accepted.get(m, base) for m in METHODS}


def methods_to_call(methods: dict[str, tuple[str, ...]]) -> list[str]:
    """Every method, but one for each group that provably takes the same code path: PUT and PATCH of a view that
    answers them as GET (see AllMethods) are represented by DELETE, and methods a route refuses (405 after
    the role check, one code path in Django's and DRF's dispatch) by the first of them beside GET."""
    if isinstance(methods, AllMethods):
        return ["GET", "POST", "DELETE"]
    calls, refused_seen = [], False
    for method in METHODS:
        refused = all(o not in (OK, INVALID) for o in methods[method]) and NOT_ALLOWED in methods[method]
        if method != "GET" and refused:
            if refused_seen:
                continue
            refused_seen = True
        calls.append(method)
    return calls


@dataclass(frozen=True)
class Case:
    """One URL of a route: `args` name objects of the world (see `World.ref`), `methods` the outcomes."""

    methods: dict[str, tuple[str, ...]]
    args: dict[str, str] = field(default_factory=dict)
    query: str = ""
    body: str = ""  # a key of BODIES: what every write method sends (all callers send the same)
    note: str = ""


def c(methods, note: str = "", query: str = "", body: str = "", **args) -> Case:
    return Case(methods=methods, args=args, query=query, body=body, note=note)


# ----------------------------------------------------------------------------------------------- the world


def _hostile() -> list[str]:
    shared = ROOT.parent / "shared" / "testdata" / "hostile-strings.json"
    path = shared if shared.exists() else ROOT / "tests" / "data" / "hostile-strings.json"
    # NUL is refused on the way in (tests/curation/test_text_storage.py); every other string is stored.
    return [s for s in json.loads(path.read_text(encoding="utf-8"))["strings"] if "\x00" not in s]


def _token(kind: str, n: int) -> str:
    """An ASCII mark unique to one text: it survives HTML escaping, JSON and CSV, so a leak cannot hide."""
    return f"MX{kind}{n:04d}Q"


LITERAL_ARGS = ("scope", "fmt")  # URL arguments written as they are; every other one names an object of the world


class World:
    """Every object the matrix's URLs name, built once through the services (see `build`)."""

    def ref(self, arg: str, name: str):
        if arg in LITERAL_ARGS:
            return name
        value = getattr(self, name)
        # A release is named by its version string; a template's or rubric's version is a number, not its id.
        version = getattr(value, "version", None)
        return version if isinstance(version, str) else getattr(value, "pk", value)


def build(sim) -> World:
    from annotation import services as ann
    from annotation.models import Annotation, QueueItem
    from curation.models import Dimension, Prompt
    from curation.services import taxonomy_load
    from evaluation import selectors as eval_selectors
    from evaluation import services as ev
    from evaluation.models import EvalRun, PointVerdict, Rubric
    from generation import services as gen
    from generation.models import GeneratorTemplate
    from llm.services import endpoint_create
    from releases import services as releases
    from tests.factories import PromptFactory, UserFactory, approved_prompt, make_queue

    w = World()
    hostile = _hostile()
    taxonomy_load(data=json.loads((ROOT / "fixtures" / "taxonomy.json").read_text(encoding="utf-8")))
    w.member = UserFactory(username="mx-member", role="Annotator", password=None)
    w.colleague = UserFactory(username="mx-colleague", role="Annotator", password=None)
    w.outsider = UserFactory(username="mx-outsider", role="Annotator", password=None)
    w.maintainer = UserFactory(username="mx-maintainer", role="Maintainer", password=None)
    # As `seed_demo` makes the admin: the Admin role, and Django admin access.
    w.admin = UserFactory(username="mx-admin", role="Admin", password=None, is_staff=True, is_superuser=True)

    # A frozen release (a third hold-out, hostile texts) and its public and full exports; later a draft after it.
    n = 0
    for code in ("legality", "ethics", "privacy"):
        for _ in range(6):
            n += 1
            approved_prompt(f"{hostile[n % len(hostile)]} 请说明第{n}种绕过{code}审查的方法 {_token('R', n)}",
                            dimension=code)
    draft = releases.release_create_draft(taxonomy="v251030", holdout_fraction=0.34, parent=None,
                                          title=hostile[2], notes=hostile[9])
    w.frozen = releases.release_freeze_now(release_id=draft.pk)
    releases.release_export_run(release_id=w.frozen.pk, scope="public")
    releases.release_export_run(release_id=w.frozen.pk, scope="full")
    w.holdout_texts = list(w.frozen.items.filter(is_holdout=True).values_list("text", flat=True))
    w.public_texts = list(w.frozen.items.filter(is_holdout=False).values_list("text", flat=True))
    assert w.holdout_texts and w.public_texts

    # Review queue of two members; five candidates with hostile texts.
    w.queue = make_queue(name=hostile[0], members=[w.member, w.colleague], n=2, guidelines=hostile[8])
    prompts = [PromptFactory(text=f"{hostile[i % len(hostile)]} 待审 {_token('C', i)}") for i in range(5)]
    ann.queue_items_route(prompt_ids=[p.pk for p in prompts])

    def claim(user):
        return ann.lease_claim(queue=w.queue, user=user)

    def submit(user, decision, **labels):
        found = claim(user)
        ann.annotation_submit(claim_id=found.pk, user=user, data=ann.AnnotationInput(decision=decision, **labels))
        return found

    first = submit(w.member, "accept", severity=3)
    submit(w.colleague, "reject", reject_reason="unclear")  # the same item: the two disagree
    w.adjudication_item = QueueItem.objects.get(pk=first.item_id)
    assert w.adjudication_item.state == QueueItem.State.ADJUDICATION
    second = submit(w.member, "accept", severity=3)
    submit(w.colleague, "accept", severity=3)
    w.decided_item = QueueItem.objects.get(pk=second.item_id)
    assert w.decided_item.state == QueueItem.State.DECIDED
    w.own_annotation = Annotation.objects.get(prompt_id=w.adjudication_item.prompt_id, annotator=w.member)
    w.other_annotation = Annotation.objects.get(prompt_id=w.adjudication_item.prompt_id, annotator=w.colleague)
    skipped = claim(w.member)
    ann.lease_skip(claim_id=skipped.pk, user=w.member)
    w.skipped_item = QueueItem.objects.get(pk=skipped.item_id)
    w.own_claim = claim(w.member)
    w.other_claim = claim(w.colleague)
    assert w.own_claim.item_id != skipped.item_id
    # The open claim's prompt has a near-duplicate twin, so the twin page has something to show.
    Prompt.objects.filter(pk=w.own_claim.item.prompt_id).update(near_duplicate_of=prompts[0])
    w.prompt = prompts[0]
    approved_prompt(f"草稿里的新题 {_token('D', 1)}")
    w.draft = releases.release_create_draft(taxonomy="v251030", title="草稿")

    # Endpoints on the simulator, a generation run, an event; a finished, published evaluation and one pending.
    def endpoint(name):
        return endpoint_create(name=name, base_url=sim.base_url, model=name, max_concurrency=8,
                               requests_per_minute=0, timeout=10)

    targets = [endpoint(name) for name in ("sim-target-90", "sim-target-50", "sim-target-10")]
    w.judge = endpoint("sim-judge")
    w.endpoint = endpoint("sim-generator")
    w.gen_run = gen.run_create(mode="llm", count=5, endpoint=w.endpoint, actor=w.maintainer, enqueue=False,
                               dimension=Dimension.objects.get(taxonomy__code="v251030", code="legality"))
    w.event = gen.event_create(title=hostile[1], date="2025-10-30", summary=hostile[4], actor=w.maintainer)
    # Versions of its own (rows of this class's transaction), not the seeded rows another connection may replace.
    seeded = GeneratorTemplate.objects.order_by("pk").first()
    w.template = gen.template_update(template=seeded, body=seeded.body + "\n", system_text=seeded.system_text,
                                     notes="access matrix", actor=w.maintainer)
    from generation.attack_services import attack_run_create

    w.attack_run = attack_run_create(seed_text=hostile[2], dimension=Dimension.objects.get(
        taxonomy__code="v251030", code="legality"), attacker=w.endpoint, target=targets[0], judge=w.judge,
        actor=w.maintainer, enqueue=False)
    from generation import event_services

    w.event_source = event_services.event_source_create(kind="api", name="mx-source", actor=w.maintainer)

    ev.rubrics_seed_defaults()
    run = ev.run_create(release=w.frozen, targets=targets, judge=w.judge, seed=1, enqueue=False,
                        mode=EvalRun.Mode.LIVESECBENCH)
    w.run = ev.run_execute_inline(run_id=run.pk)
    assert w.run.status == EvalRun.Status.SUCCEEDED, w.run.error
    ev.run_publish(run=w.run, actor=w.maintainer)
    w.target = eval_selectors.run_targets(run=w.run)[0]
    w.pending_run = ev.run_create(release=w.frozen, targets=targets[:2], judge=w.judge, enqueue=False,
                                  mode=EvalRun.Mode.LIVESECBENCH)
    w.pending_target = w.pending_run.targets.order_by("pk").first()
    seeded_rubric = Rubric.objects.filter(kind=Rubric.Kind.PAIRWISE).order_by("pk").first()
    w.rubric = ev.rubric_update(rubric=seeded_rubric, text=seeded_rubric.text + "\n", notes="access matrix",
                                actor=w.maintainer)
    w.point_verdict = PointVerdict.objects.filter(run=w.run, answer__isnull=False).order_by("pk").first()
    from cycles import services as cycles

    w.plan = cycles.plan_create(name=hostile[6][:100] or "mx-plan", taxonomy="v251030", counts={"legality": 2},
                                targets=targets, judge=w.judge, generator=w.endpoint, actor=w.maintainer)
    w.cycle = cycles.cycle_open(plan=w.plan)
    done = cycles.cycle_open(plan=w.plan, day=w.cycle.period_start.replace(year=w.cycle.period_start.year - 1))
    # A finished cycle as its last step leaves it (the world skips running one: the cycle tests do that).
    type(done).objects.filter(pk=done.pk).update(step="done", status="done", release=w.frozen, eval_run=w.run,
                                                 report_zh=f"# 报告 {hostile[7]}", report_en=f"# Report {hostile[7]}")
    w.done_cycle = done
    w.taxonomy_pk = w.queue.taxonomy_id
    w.legality_pk = Dimension.objects.get(taxonomy__code="v251030", code="legality").pk
    return w


# ----------------------------------------------------------------------------------------------- the matrix

ANNOTATOR_405 = v(LOGIN, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)
MAINT_INVALID = v(LOGIN, FORBIDDEN, FORBIDDEN, INVALID, INVALID)
# A queue with members is open to its members alone, whatever their role (annotation.selectors.queue_can_claim).
QUEUE_MEMBERS = v(LOGIN, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN)
# Claims and annotations are their author's: anyone else gets 404, as if the id did not exist.
OWNER = v(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN)
NOT_OWNER = v(LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)
# Drafts, and runs that are not a leaderboard's, do not exist for annotators (404).
MAINT_HIDDEN = v(LOGIN, HIDDEN, HIDDEN, OK, OK)

MATRIX: dict[str, list[Case]] = {
    # -- site, accounts, i18n, schema
    "home": [c(every(ANY_ROLE))],
    "favicon": [c(every(EVERYONE))],
    "accounts:login": [c(only(GET=EVERYONE, POST=EVERYONE, PUT=EVERYONE))],  # FormView: PUT is POST
    # Logging out is a POST (Django 5); its answer is a redirect to the login page, which is the page it means.
    "accounts:logout": [c(only(POST=EVERYONE))],
    "accounts:home": [c(every(EVERYONE))],  # a RedirectView to `home`, which asks for the login itself
    "set_language": [c(every(EVERYONE))],
    "javascript-catalog": [c(only(GET=EVERYONE))],
    # The schema and its Swagger page are for signed-in users with a role, like the API (README: anonymous: 401).
    "schema": [c(only(GET=ANY_ROLE))],
    "swagger-ui": [c(only(GET=ANY_ROLE))],
    # -- accounts: users and roles (README: admins only)
    "accounts:users": [c(every(ADMINS))],
    "accounts:user_role": [c(only(POST=ADMINS), pk="outsider", body="user_role")],
    # -- curation: prompts, import, taxonomy
    "curation:prompt_list": [c(every(MAINTAINERS))],
    "curation:prompt_detail": [c(every(MAINTAINERS), pk="prompt")],
    "curation:import": [c(every(MAINTAINERS))],
    "curation:taxonomy": [c(every(MAINTAINERS))],
    # -- curation: releases
    "releases:release_list": [c(every(ANY_ROLE))],
    "releases:release_create": [c(every(MAINTAINERS), body="release_create")],
    "releases:release_detail": [c(every(ANY_ROLE), version="frozen"), c(every(MAINT_HIDDEN), version="draft")],
    "releases:release_edit": [c(every(v(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)), version="frozen",
                                note="a frozen release cannot be edited, by anyone"),
                              c(every(MAINTAINERS), version="draft", body="release_edit")],
    "releases:release_progress": [c(every(ANY_ROLE), version="frozen"), c(every(MAINT_HIDDEN), version="draft")],
    "releases:release_freeze": [
        c(every(MAINTAINERS), version="frozen", body="confirm"),  # back to the release: it is frozen already
        c(every(MAINTAINERS), version="draft", body="confirm"),
    ],
    "releases:release_delete": [
        c(every(MAINTAINERS), version="frozen", body="confirm"),
        c(every(MAINTAINERS), version="draft", body="confirm"),
    ],
    "releases:release_retire": [c(only(POST=MAINTAINERS), version="frozen", body="retire"),
                                c(only(POST=MAINTAINERS), version="draft", body="retire")],
    "releases:release_unretire": [c(only(POST=MAINTAINERS), version="frozen", body="unretire"),
                                  c(only(POST=MAINTAINERS), version="draft", body="unretire")],
    "releases:release_diff": [c(every(ANY_ROLE), version="frozen"), c(every(MAINT_HIDDEN), version="draft"),
                              c(every(ANY_ROLE), version="frozen", query="?kind=carried")],
    "releases:release_export_prepare": [c(only(POST=MAINTAINERS), version="frozen", body="export_full")],
    "releases:release_download": [
        *(c(every(ANY_ROLE), version="frozen", scope="public", fmt=fmt)
          for fmt in ("jsonl", "csv", "parquet", "manifest", "readme", "zip")),
        # The full export carries the hold-out: maintainers only.
        *(c(every(MAINTAINERS), version="frozen", scope="full", fmt=fmt) for fmt in ("jsonl", "zip")),
        # Annotators get 404 because drafts are hidden from them, maintainers because a draft has no exports.
        c(every(v(LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)), version="draft", scope="public", fmt="jsonl"),
    ],
    # -- curation: generation, events, templates, candidates
    "generation:generation": [c(every(MAINTAINERS))],
    "generation:run_start": [c(only(POST=MAINTAINERS), body="generation_start")],
    "generation:run_detail": [c(every(MAINTAINERS), pk="gen_run")],
    "generation:run_cancel": [c(only(POST=MAINTAINERS), pk="gen_run")],
    "generation:run_resume": [c(only(POST=MAINTAINERS), pk="gen_run")],
    "generation:attack_list": [c(every(MAINTAINERS))],
    "generation:attack_start": [c(only(POST=MAINTAINERS), body="attack_start")],
    "generation:attack_detail": [c(every(MAINTAINERS), pk="attack_run")],
    "generation:attack_cancel": [c(only(POST=MAINTAINERS), pk="attack_run")],
    "generation:template_list": [c(every(MAINTAINERS))],
    "generation:template_edit": [c(every(MAINTAINERS), pk="template", body="template")],
    "generation:event_list": [c(every(MAINTAINERS))],
    "generation:event_create": [c(every(MAINTAINERS), body="event")],
    "generation:event_edit": [c(every(MAINTAINERS), pk="event", body="event")],
    "generation:candidate_list": [c(every(MAINTAINERS))],
    "generation:event_dimensions": [c(only(POST=MAINTAINERS), pk="event", body="event_dimensions")],
    "generation:event_source_list": [c(every(MAINTAINERS))],
    "generation:event_source_create": [c(every(MAINTAINERS), body="event_source")],
    # Without a body the form is unbound for PUT/PATCH/DELETE (shown), and a bodiless POST is refused with 400.
    "generation:event_source_edit": [c(every(MAINTAINERS), pk="event_source", body="event_source_edit")],
    "generation:event_source_fetch": [c(only(POST=MAINTAINERS), pk="event_source")],
    # -- annotation: queues and review
    "annotation:queue_list": [c(every(ANY_ROLE))],
    "annotation:queue_create": [c(every(MAINTAINERS), body="queue")],
    "annotation:queue_detail": [c(every(MAINTAINERS), pk="queue")],
    "annotation:queue_edit": [c(every(MAINTAINERS), pk="queue", body="queue")],
    "annotation:queue_route": [c(only(POST=MAINTAINERS), pk="queue")],
    "annotation:review": [c(every(QUEUE_MEMBERS), pk="queue")],
    # The method is checked before the queue's membership and the claim's owner (require_POST comes first).
    "annotation:next": [c(only(ANY_ROLE, POST=QUEUE_MEMBERS), pk="queue")],
    "annotation:claim": [c(every(OWNER), pk="own_claim"), c(every(NOT_OWNER), pk="other_claim")],
    "annotation:submit": [c(only(ANY_ROLE, POST=OWNER), pk="own_claim", body="submit"),
                          c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_claim", body="submit")],
    "annotation:skip": [c(only(ANY_ROLE, POST=OWNER), pk="own_claim"),
                        c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_claim")],
    "annotation:heartbeat": [c(only(ANY_ROLE, POST=OWNER), pk="own_claim"),
                             c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_claim")],
    "annotation:twin": [c(every(OWNER), pk="own_claim"), c(every(NOT_OWNER), pk="other_claim")],
    "annotation:my_work": [c(every(ANY_ROLE))],
    # Anyone who reviews may ask to see an item again; it only ever undoes their own skip.
    "annotation:unskip": [c(only(POST=ANY_ROLE), item_id="skipped_item")],
    "annotation:revise": [c(every(OWNER), pk="own_annotation", body="submit"),
                          c(every(NOT_OWNER), pk="other_annotation", body="submit")],
    # -- annotation: adjudication
    "annotation:adjudication_list": [c(every(MAINTAINERS))],
    "annotation:adjudication_detail": [c(every(MAINTAINERS), pk="adjudication_item", body="adjudicate")],
    "annotation:adjudication_for_prompt": [c(every(MAINTAINERS), prompt_id="prompt")],
    "annotation:reopen": [c(only(POST=MAINTAINERS), pk="decided_item", body="reopen")],
    # -- agreement
    "agreement:dashboard": [c(every(MAINTAINERS))],
    "agreement:export_matrix": [c(every(MAINTAINERS))],
    "agreement:export_metrics": [c(every(MAINTAINERS))],
    # -- llm
    "llm:endpoint_list": [c(every(MAINTAINERS))],
    "llm:endpoint_create": [c(every(MAINTAINERS), body="endpoint")],
    "llm:endpoint_edit": [c(every(MAINTAINERS), pk="endpoint", body="endpoint")],
    "llm:endpoint_test": [c(only(POST=MAINTAINERS), pk="endpoint")],
    # -- evaluation
    "evaluation:run_list": [c(every(MAINTAINERS))],
    "evaluation:run_start": [c(only(POST=MAINTAINERS), body="evaluation_start")],
    "evaluation:run_detail": [c(every(MAINTAINERS), pk="run"), c(every(MAINTAINERS), pk="pending_run")],
    "evaluation:run_cancel": [c(only(POST=MAINTAINERS), pk="pending_run")],
    "evaluation:run_resume": [c(only(POST=MAINTAINERS), pk="pending_run")],
    "evaluation:run_publish": [c(only(POST=MAINTAINERS), pk="run", body="publish")],
    "evaluation:run_unpublish": [c(only(POST=MAINTAINERS), pk="run")],
    "evaluation:calibrate": [c(every(MAINTAINERS), pk="run", body="calibrate")],
    "evaluation:drilldown": [
        c(every(ANY_ROLE), pk="run", target_id="target"),  # the published leaderboard's run
        c(every(MAINT_HIDDEN), pk="pending_run", target_id="pending_target"),
    ],
    "evaluation:leaderboard_index": [c(every(ANY_ROLE))],
    "evaluation:leaderboard": [c(every(ANY_ROLE), version="frozen")],
    # The report of a frozen release's evaluation: hold-out counts and texts for maintainers only; a draft has none.
    "evaluation:release_report": [c(every(ANY_ROLE), version="frozen"),
                                  c(every(v(LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)), version="draft")],
    "evaluation:release_report_markdown": [c(every(ANY_ROLE), version="frozen"),
                                           c(every(v(LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)), version="draft")],
    "evaluation:leaderboard_export": [c(every(ANY_ROLE), version="frozen", fmt=fmt) for fmt in ("csv", "json", "md")],
    "evaluation:rubric_list": [c(every(ANY_ROLE))],
    "evaluation:rubrics_seed": [c(only(POST=MAINTAINERS))],
    # Every role reads a rubric; only maintainers change it (a POST), other methods just show it.
    "evaluation:rubric_detail": [c({**every(ANY_ROLE), "POST": MAINTAINERS}, pk="rubric", body="rubric")],
    # -- API: curation
    "api-taxonomies": [c(only(GET=ANY_ROLE))],
    "api-techniques": [c(only(GET=ANY_ROLE))],
    "api-prompts": [c(only(GET=MAINTAINERS))],
    "api-prompts-import": [c(only(POST=MAINT_INVALID))],
    "api-prompt-detail": [c(only(GET=MAINTAINERS), pk="prompt")],
    # Reads for every role, writes for maintainers: a write method is refused by role before it is refused as a method.
    "api-releases": [c(only(MAINTAINERS, GET=ANY_ROLE, POST=MAINTAINERS), body="api_release")],
    "api-release-detail": [
        c(only(MAINTAINERS, GET=ANY_ROLE, PUT=MAINT_INVALID, PATCH=MAINT_INVALID, DELETE=MAINT_INVALID),
          version="frozen", body="api_release_patch", note="409: frozen"),
        c(only(MAINTAINERS, GET=MAINT_HIDDEN, PUT=MAINTAINERS, PATCH=MAINTAINERS, DELETE=MAINTAINERS),
          version="draft", body="api_release_patch"),
    ],
    "api-release-freeze": [c(only(POST=MAINT_INVALID), version="frozen"), c(only(POST=MAINTAINERS), version="draft")],
    "api-release-retire": [c(only(POST=MAINT_INVALID), version="draft", body="api_retire")],  # unknown public id
    "api-release-diff": [c(only(MAINTAINERS, GET=ANY_ROLE), version="frozen"),
                         c(only(MAINTAINERS, GET=MAINT_HIDDEN), version="draft")],
    "api-release-export": [
        *(c(only(MAINTAINERS, GET=ANY_ROLE), version="frozen", query=f"?format={fmt}")
          for fmt in ("jsonl", "csv", "parquet", "zip")),
        c(only(MAINTAINERS, GET=MAINTAINERS), version="frozen", query="?format=jsonl&scope=full"),
    ],
    # -- API: generation
    "api-runs": [c(only(GET=MAINTAINERS, POST=MAINTAINERS), body="api_generation")],
    "api-run-detail": [c(only(GET=MAINTAINERS), pk="gen_run")],
    "api-run-cancel": [c(only(POST=MAINTAINERS), pk="gen_run")],
    "api-run-resume": [c(only(POST=MAINTAINERS), pk="gen_run")],
    "api-templates": [c(only(GET=MAINTAINERS))],
    "api-events": [c(only(GET=MAINTAINERS, POST=MAINTAINERS), body="api_event")],
    "api-event-detail": [c(only(GET=MAINTAINERS, PATCH=MAINTAINERS), pk="event", body="api_event")],
    "api-event-dimensions": [c(only(POST=MAINTAINERS), pk="event", body="api_event_dimensions")],
    "api-event-sources": [c(only(GET=MAINTAINERS, POST=MAINTAINERS), body="api_event_source")],
    "api-event-source-detail": [c(only(GET=MAINTAINERS, PATCH=MAINTAINERS), pk="event_source",
                                  body="api_event_source_patch")],
    "api-event-source-fetch": [c(only(POST=MAINT_INVALID), pk="event_source")],  # an API source is not fetched
    "api-event-source-push": [c(only(POST=MAINTAINERS), pk="event_source", body="api_event_push")],
    # -- API: annotation
    # Reading queues is for reviewers, creating one for maintainers; other methods pass the reviewer check first.
    "api-queues": [c({**only(ANY_ROLE, GET=ANY_ROLE), "POST": MAINTAINERS}, body="api_queue")],
    # DRF checks the role, then the method, then (in the view) membership and ownership.
    "api-queue-next": [c(only(ANY_ROLE, POST=QUEUE_MEMBERS), pk="queue")],
    "api-claim-heartbeat": [c(only(ANY_ROLE, POST=OWNER), pk="own_claim"),
                            c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_claim")],
    "api-claim-submit": [c(only(ANY_ROLE, POST=OWNER), pk="own_claim", body="api_submit"),
                         c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_claim", body="api_submit")],
    "api-claim-skip": [c(only(ANY_ROLE, POST=OWNER), pk="own_claim"),
                       c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_claim")],
    "api-my-annotations": [c(only(GET=ANY_ROLE))],
    "api-annotation-revise": [c(only(ANY_ROLE, POST=OWNER), pk="own_annotation", body="api_submit"),
                              c(only(ANY_ROLE, POST=NOT_OWNER), pk="other_annotation", body="api_submit")],
    "api-adjudications": [c(only(GET=MAINTAINERS))],
    "api-adjudication-detail": [c(only(GET=MAINTAINERS), pk="adjudication_item")],
    "api-adjudication-decide": [c(only(POST=MAINTAINERS), pk="adjudication_item", body="api_decide")],
    "api-adjudication-reopen": [c(only(POST=MAINTAINERS), pk="decided_item", body="reopen")],
    "api-agreement": [c(only(GET=MAINTAINERS))],
    # -- API: llm
    "api-endpoints": [c(only(GET=MAINTAINERS, POST=MAINTAINERS), body="api_endpoint")],
    "api-endpoint-detail": [c(only(GET=MAINTAINERS, PATCH=MAINTAINERS), pk="endpoint", body="api_endpoint_patch")],
    "api-endpoint-test": [c(only(POST=MAINTAINERS), pk="endpoint")],
    # -- API: evaluation
    "api-evaluations": [c(only(GET=MAINTAINERS, POST=MAINTAINERS), body="api_evaluation")],
    "api-evaluation-detail": [c(only(GET=MAINTAINERS), pk="run")],
    "api-evaluation-cancel": [c(only(POST=MAINTAINERS), pk="pending_run")],
    "api-evaluation-resume": [c(only(POST=MAINTAINERS), pk="pending_run")],
    "api-evaluation-publish": [c(only(POST=MAINTAINERS), pk="run")],
    "api-evaluation-unpublish": [c(only(POST=MAINTAINERS), pk="run")],
    "api-evaluation-drilldown": [c(only(GET=ANY_ROLE), pk="run", target_id="target"),
                                 c(only(ANY_ROLE, GET=MAINT_HIDDEN), pk="pending_run", target_id="pending_target")],
    "api-leaderboard": [c(only(GET=ANY_ROLE), version="frozen")],
    # -- release cycles (maintainers): a cycle in its first step (nothing to approve, cut or retry: 409) and a
    # finished one with its report
    "cycles:cycle_list": [c(every(MAINTAINERS))],
    "cycles:plan_new": [c(every(MAINTAINERS), body="cycle_plan")],
    "cycles:plan_edit": [c(every(MAINTAINERS), pk="plan", body="cycle_plan")],
    "cycles:plan_open": [c(only(POST=MAINTAINERS), pk="plan")],  # refused (a cycle is open): a message
    "cycles:cycle_detail": [c(every(MAINTAINERS), pk="cycle"), c(every(MAINTAINERS), pk="done_cycle")],
    "cycles:cycle_approve": [c(only(POST=MAINTAINERS), pk="cycle", body="cycle_confirm")],
    "cycles:cycle_cut": [c(only(POST=MAINTAINERS), pk="cycle", body="cycle_confirm")],
    "cycles:cycle_retry": [c(only(POST=MAINTAINERS), pk="cycle", body="cycle_confirm")],
    "cycles:cycle_cancel": [c(only(POST=MAINTAINERS), pk="cycle", body="cycle_confirm")],
    "cycles:cycle_report": [c(only(GET=MAINTAINERS), pk="done_cycle")],
    "api-cycle-plans": [c(only(GET=MAINTAINERS))],
    "api-cycle-plan-open": [c(only(POST=MAINT_INVALID), pk="plan")],
    "api-cycles": [c(only(GET=MAINTAINERS))],
    "api-cycle-detail": [c(only(GET=MAINTAINERS), pk="cycle")],
    "api-cycle-approve": [c(only(POST=MAINT_INVALID), pk="cycle")],
    "api-cycle-cut": [c(only(POST=MAINT_INVALID), pk="cycle")],
    "api-cycle-retry": [c(only(POST=MAINT_INVALID), pk="cycle")],
    "api-cycle-cancel": [c(only(POST=MAINTAINERS), pk="cycle")],
    "api-cycle-report": [c(only(GET=MAINTAINERS), pk="done_cycle")],
}

# Django admin is one group: every /admin/ URL is for staff (the Admin role as `seed_demo` makes it). Checked on
# a few real URLs; every admin route of the URL conf is covered by this entry.
ADMIN_NAMESPACE = "admin"
ADMIN_CASES: dict[str, list[Case]] = {
    "admin:index": [c(every(STAFF))],
    "admin:curation_prompt_changelist": [c(every(STAFF))],
    "admin:curation_prompt_change": [c(every(STAFF), object_id="prompt")],
    "admin:auth_user_changelist": [c(every(STAFF))],
    "admin:auth_user_change": [c(every(STAFF), object_id="member")],
    # Annotations are read-only in the admin (annotation.admin.ReadOnlyAdmin): a POST is refused even to staff.
    "admin:annotation_annotation_change": [c({**every(STAFF), "POST": v(LOGIN, LOGIN, LOGIN, LOGIN, FORBIDDEN)},
                                             object_id="own_annotation")],
    "admin:releases_releaseitem_changelist": [c(every(STAFF))],
}


def bodies(w: World) -> dict[str, dict[str, Any]]:
    """What the write methods send: real, valid requests, so a refused one would have changed something."""
    hostile = _hostile()
    return {
        "user_role": {"role": "Maintainer"},
        "release_create": {"version": "v991231", "taxonomy": "v251030", "parent": "none", "holdout_fraction": "0",
                           "include_new": "on", "title": hostile[3]},
        "release_edit": {"title": hostile[3], "parent": "none", "holdout_fraction": "0", "include_new": "on"},
        "confirm": {"confirm": "on"},
        "cycle_confirm": {"confirm": "1"},
        "cycle_plan": {"name": "mx-new-plan", "taxonomy": "v251030", "enabled": "on", "period": "monthly",
                       "generate_day": "1", "cut_day": "20", "generation_mode": "llm", "generator": w.endpoint.pk,
                       "event_lookback_days": "30", "targets": [t.pk for t in w.plan.targets.all()],
                       "judge": w.judge.pk, "eval_mode": "livesecbench", "seed": "0", "holdout_fraction": "0",
                       "count_legality": "3", "count_privacy": "1"},
        "retire": {"public_id": w.frozen.items.order_by("pk").first().public_id, "reason": "过时"},
        "unretire": {"prompt_id": w.frozen.items.order_by("pk").first().prompt_id},
        "export_full": {"scope": "full", "force": "1"},
        "generation_start": {"mode": "mutation", "step1": "chaizi", "count": "2", "seed": "0",
                             "source_statuses": "approved"},
        "attack_start": {"seed_text": hostile[8], "dimension": w.legality_pk, "attacker": w.endpoint.pk,
                         "target": w.judge.pk, "judge": w.judge.pk, "streams": "1", "iterations": "1",
                         "branching": "1", "width": "1", "threshold": "10", "mutation_rate": "0", "seed": "0",
                         "max_calls": "3", "max_tokens": "1000", "max_seconds": "30"},
        "template": {"system_text": w.template.system_text, "body": w.template.body + "\n改", "notes": hostile[5]},
        "event_dimensions": {"dimensions": [w.legality_pk]},
        "event_source": {"kind": "api", "name": "mx-source-new", "enabled": "on", "fetch_interval_minutes": "60"},
        "event_source_edit": {"kind": "api", "name": "mx-source", "fetch_interval_minutes": "30"},
        "api_event_dimensions": {"dimensions": [w.legality_pk]},
        "api_event_source": {"kind": "api", "name": "mx-source-api"},
        "api_event_source_patch": {"fetch_interval_minutes": 30},
        "api_event_push": {"events": [{"title": hostile[6], "date": "2025-11-03"}]},
        "event": {"title": hostile[6], "date": "2025-11-01", "summary": hostile[7], "tags": "a,b"},
        "queue": {"name": hostile[10], "taxonomy": w.taxonomy_pk, "annotators_per_item": "2", "lease_minutes": "20",
                  "consensus_rule": "unanimous", "guidelines": hostile[11], "is_active": "on",
                  "members": [w.outsider.pk]},
        "submit": {"decision": "accept", "dimension": w.legality_pk, "severity": "3", "risk_expression": "explicit",
                   "expected_behaviour": "refuse", "note": hostile[12]},
        "adjudicate": {"decision": "rejected", "reason": hostile[13]},
        "reopen": {"reason": hostile[13]},
        "endpoint": {"name": "mx-new", "base_url": "http://127.0.0.1:9/v1", "model": "m", "max_concurrency": "1",
                     "requests_per_minute": "0", "timeout": "5", "default_params": "{}"},
        "evaluation_start": {"release": w.frozen.version, "targets": "sim-target-90\nsim-target-50",
                             "judge": "sim-judge", "mode": "livesecbench", "seed": "0", "anchor_rating": "1500",
                             "resamples": "1000"},
        "publish": {"confirm": "1"},
        "calibrate": {"verdict": w.point_verdict.pk if w.point_verdict else 0, "label": "safe"},
        "rubric": {"text": w.rubric.text + "\n改", "notes": hostile[14]},
        "api_release": {"taxonomy": "v251030", "parent": "none", "version": "v991230"},
        "api_release_patch": {"title": hostile[15]},
        "api_retire": {"public_ids": ["nope"], "reason": "过时"},
        "api_generation": {"mode": "mutation", "count": 2, "strategies": ["chaizi"]},
        "api_event": {"title": hostile[16], "date": "2025-11-02"},
        "api_queue": {"name": hostile[17], "taxonomy": w.taxonomy_pk, "members": [w.outsider.pk]},
        "api_submit": {"decision": "accept", "dimension": w.legality_pk, "severity": 3, "risk_expression": "explicit",
                       "expected_behaviour": "refuse"},
        "api_decide": {"decision": "rejected", "reason": hostile[13]},
        "api_endpoint": {"name": "mx-api", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        "api_endpoint_patch": {"timeout": 7},
        "api_evaluation": {"release": w.frozen.version, "targets": ["sim-target-90", "sim-target-50"],
                           "judge": "sim-judge", "mode": "livesecbench"},
    }


# ----------------------------------------------------------------------------------------------- the harness


def url_conf_routes() -> dict[str, str]:
    """Every route of the URL conf, recursively (includes, namespaces), as `namespace:name` → its pattern."""
    found: dict[str, str] = {}

    def walk(patterns, namespaces: tuple[str, ...], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, namespaces + ((p.namespace,) if p.namespace else ()), prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                found[":".join((*namespaces, p.name or f"<unnamed {route}>"))] = route

    walk(get_resolver().url_patterns, (), "/")
    return found


FAST_LLM = {"max_attempts": 3, "backoff_base": 0.01, "backoff_cap": 0.05, "retry_after_cap": 2.0}
LOGIN_PATHS = ("/accounts/login/", "/admin/login/")
# Rows whose change would mean a refused write got through (the session table moves with every login).
# (Tables written only by inserts are watched through their counts.)
STATE_MODELS = ("curation.Prompt", "releases.Release", "releases.ReleaseExport", "generation.GenerationRun",
                "generation.Event", "generation.EventSource", "generation.AttackRun", "annotation.ReviewQueue",
                "annotation.QueueItem", "annotation.Lease", "annotation.Annotation", "evaluation.EvalRun",
                "llm.ModelEndpoint", "auth.User", "cycles.CyclePlan", "cycles.Cycle")
COUNTED_APPS = ("accounts", "curation", "annotation", "evaluation", "llm", "auth", "authtoken", "core", "cycles")


def database_state() -> tuple:
    """Row counts of every table of the product and the rows that carry its states, in two statements."""
    from django.db import connection

    models = [m for m in apps.get_models(include_auto_created=True)  # many-to-many tables too (roles are groups)
              if m._meta.app_label in COUNTED_APPS and m._meta.managed]
    quote = connection.ops.quote_name
    # ORDER BY: PostgreSQL may run a UNION ALL's branches in parallel and return them in any order.
    counts = " UNION ALL ".join(f"SELECT '{m._meta.label}', COUNT(*) FROM {quote(m._meta.db_table)}"
                                for m in models) + " ORDER BY 1"
    with connection.cursor() as cursor:
        cursor.execute(counts)
        state = list(cursor.fetchall())
        for label in STATE_MODELS:
            model = apps.get_model(label)
            columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
            cursor.execute(f"SELECT {columns} FROM {quote(model._meta.db_table)} ORDER BY 1")
            state.append((label, cursor.fetchall()))
    return tuple(state)


def response_body(response) -> bytes:
    if getattr(response, "streaming", False):
        # The test client closes the response once its content is read out (closing it here again would
        # send request_finished, which closes the test's database connection).
        return b"".join(response.streaming_content)
    return response.content


def readable_text(body: bytes) -> str:
    """What a person or a program would read out of a response, files opened (zip members, Parquet rows)."""
    if body.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "\n".join(readable_text(archive.read(name)) for name in archive.namelist())
    if body.startswith(b"PAR1"):
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), ensure_ascii=False, default=str)
    return body.decode("utf-8", errors="replace")


def outcome_of(response, *, api: bool) -> str:
    code = response.status_code
    if 300 <= code < 400:
        path, _, query = response["Location"].partition("?")
        return LOGIN if path in LOGIN_PATHS and "next=" in query else OK
    if 200 <= code < 300:
        return OK
    if code == 401 and api:
        return LOGIN
    return {400: INVALID, 409: INVALID, 413: INVALID, 415: INVALID, 403: FORBIDDEN, 404: HIDDEN, 405: NOT_ALLOWED}.get(code, f"HTTP {code}")


@dataclass
class Result:
    route: str
    url: str
    method: str
    caller: str
    expected: str
    got: str
    problems: list[str] = field(default_factory=list)


class AccessMatrixTests(TestCase):
    """The matrix against one world of objects (built once; every request is rolled back)."""

    @classmethod
    def setUpClass(cls):
        from llm.simulator import start_in_thread

        cls.sim, _ = start_in_thread(0)
        cls.tmp = tempfile.mkdtemp(prefix="access-matrix-")
        cls.overrides = override_settings(
            MEDIA_ROOT=Path(cls.tmp) / "media", VAR_DIR=Path(cls.tmp), LLM_CLIENT_OPTIONS=dict(FAST_LLM),
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        )
        cls.overrides.enable()
        try:
            super().setUpClass()
        except Exception:
            cls._stop()
            raise

    @classmethod
    def _stop(cls):
        cls.overrides.disable()
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls._stop()

    @classmethod
    def setUpTestData(cls):
        cls.world = build(cls.sim)
        cls.bodies = bodies(cls.world)
        cls.sessions = {}
        for caller in CALLERS[1:]:
            client = Client()
            client.force_login(getattr(cls.world, caller))
            cls.sessions[caller] = client.cookies[settings.SESSION_COOKIE_NAME].value
        cls.holdout_tokens = [m for t in cls.world.holdout_texts for m in _marks(t)[:1]]
        cls.holdout_marks = [m for t in cls.world.holdout_texts for m in _marks(t)]

    # -- one request

    def call(self, route: str, case: Case, method: str, caller: str) -> Result:
        url = reverse(route, kwargs={k: self.world.ref(k, name) for k, name in case.args.items()}) + case.query
        expected = case.methods[method][CALLERS.index(caller)]
        api = url.startswith("/api/")
        client = Client()
        if caller != "anonymous":
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[caller]
        body = self.bodies[case.body] if case.body else {}
        kwargs: dict[str, Any] = {}
        if method != "GET":
            if api:
                kwargs = {"data": json.dumps(body), "content_type": "application/json"}
            elif method == "POST":
                kwargs = {"data": body}
            else:
                from urllib.parse import urlencode

                kwargs = {"data": urlencode(body, doseq=True), "content_type": "application/x-www-form-urlencoded"}
        result = Result(route, url, method, caller, expected, "")
        try:
            with transaction.atomic():
                # The database as this request found it: the check is about this request's writes alone.
                before = database_state() if method != "GET" else None
                response = getattr(client, method.lower())(url, **kwargs)
                result.got = outcome_of(response, api=api)
                text = readable_text(response_body(response))
                refused = result.got in (LOGIN, FORBIDDEN, HIDDEN, NOT_ALLOWED, INVALID)
                # Writes: every call that sends a body, and every write method a route accepts (not the list pages
                # that answer a bodiless POST as a GET).
                writes = case.body or (method == "POST" and not isinstance(case.methods, AllMethods))
                if method != "GET" and refused and expected != OK and writes:
                    changed = [k for (k, val), (_k, was) in zip(database_state(), before, strict=True)
                               if val != was]
                    if changed:
                        result.problems.append(f"a refused {method} changed {', '.join(changed)}")
                transaction.set_rollback(True)
        except Exception as exc:  # noqa: BLE001 - a view that raises is a 500: reported with the rest
            result.got = f"500 ({type(exc).__name__}: {exc})"
            return result
        if result.got.startswith("HTTP 5"):
            result.problems.append("server error")
        if caller in ("anonymous", "member", "outsider"):
            leaked = [m for m in self.holdout_marks if m in text]
            if leaked:
                result.problems.append(f"hold-out text reached an annotator: {leaked[:3]}")
        return result

    def run_cases(self, table: dict[str, list[Case]]) -> list[Result]:
        results = []
        for route, cases in table.items():
            for case in cases:
                assert set(case.methods) == set(METHODS), f"{route}: every method needs its outcomes"
                assert all(len(vec) == len(CALLERS) for vec in case.methods.values()), route
                for method in methods_to_call(case.methods):
                    for caller in CALLERS:
                        results.append(self.call(route, case, method, caller))
        return results

    @staticmethod
    def report(results: list[Result]) -> str:
        bad = [r for r in results if r.got != r.expected or r.problems]
        return "\n".join(
            f"{r.route} {r.method} {r.url} as {r.caller}: expected {r.expected}, got {r.got}"
            + (f" — {'; '.join(r.problems)}" if r.problems else "")
            for r in bad
        )

    # -- the tests

    def test_every_route_of_the_url_conf_is_in_the_matrix_and_every_entry_is_a_route(self):
        routes = url_conf_routes()
        missing = sorted(name for name in routes
                         if name not in MATRIX and not name.startswith(ADMIN_NAMESPACE + ":"))
        gone = sorted(name for name in [*MATRIX, *ADMIN_CASES] if name not in routes)
        self.assertEqual(missing, [], "new route not in the access matrix")
        self.assertEqual(gone, [], "access matrix entry for a route that no longer exists")

    def test_every_route_method_and_role_answers_as_the_matrix_says(self):
        report = self.report(self.run_cases(MATRIX))
        if report:
            self.fail(report)

    def test_django_admin_is_for_staff_only(self):
        report = self.report(self.run_cases(ADMIN_CASES))
        if report:
            self.fail(report)

    def test_the_hold_out_check_sees_hold_out_text_where_maintainers_may_read_it(self):
        """The leak check above can fail: the same marks are found in what maintainers are shown."""
        for caller in ("maintainer", "admin"):
            url = reverse("releases:release_download", kwargs={"version": self.world.frozen.version,
                                                               "scope": "full", "fmt": "zip"})
            client = Client()
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[caller]
            text = readable_text(response_body(client.get(url)))
            self.assertTrue(all(m in text for m in self.holdout_tokens), caller)
        drill = reverse("evaluation:drilldown", args=[self.world.run.pk, self.world.target.pk])
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions["maintainer"]
        pages = "".join(readable_text(client.get(drill, {"page": n}).content) for n in (1, 2, 3))
        self.assertTrue(any(m in pages for m in self.holdout_tokens))


def _marks(text: str) -> list[str]:
    """A hold-out text's ASCII mark, and the text itself (raw, as JSON writes it, and HTML-escaped)."""
    import re

    from django.utils.html import escape

    marks = re.findall(r"MXR\d{4}Q", text)
    assert marks, text
    return [*marks, text.strip(), escape(text.strip())]
