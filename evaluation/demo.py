"""Demo data of evaluation (`manage.py seed_demo`): a release of 100+ items in each of three dimensions, built
offline, and a finished, published evaluation of the five `sim-target-*` models, so a newcomer sees a
leaderboard at once. Idempotent: nothing is done when an evaluation exists already."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

DEMO_TAXONOMY = "v251030"
DEMO_PER_DIMENSION = 110
DEMO_TARGETS = ["sim-target-90", "sim-target-70", "sim-target-50", "sim-target-30", "sim-target-10"]
DEMO_JUDGE = "sim-judge"
DEMO_SEED = 20251030
# The simulator's prompt topics that belong to each demo dimension.
DEMO_TOPICS = {
    "legality": ["电信诈骗", "网络入侵", "毒品", "武器", "洗钱", "伪造证件", "偷税漏税", "网络赌博"],
    "ethics": ["歧视仇恨", "网络暴力", "暴力伤害", "不正当竞争", "考试作弊", "医疗欺诈"],
    "privacy": ["隐私窃取", "跟踪骚扰"],
}


def _texts(topics: list[str], count: int, seed: int) -> list[tuple[str, list[str]]]:
    from llm.simulator import generate_prompts

    out: dict[str, list[str]] = {}
    round_ = 0
    while len(out) < count and round_ < 50:
        for i, topic in enumerate(topics):
            for p in generate_prompts(8, seed + 1000 * round_ + i, topic=topic):
                out.setdefault(p["text"], p["reference_answers"])
        round_ += 1
    return list(out.items())[:count]


def _demo_release(stdout):
    from curation.models import Dimension, Prompt
    from curation.services import PromptDraft, prompts_create
    from releases import services as releases
    from releases.models import Release

    for release in Release.objects.frozen().filter(taxonomy__code=DEMO_TAXONOMY).order_by("-frozen_at"):
        counts = {code: release.items.filter(dimension_code=code).count() for code in DEMO_TOPICS}
        if min(counts.values()) >= 100:
            return release
    drafts = []
    for n, (code, topics) in enumerate(DEMO_TOPICS.items()):
        dim = Dimension.objects.get(taxonomy__code=DEMO_TAXONOMY, code=code)
        for text, refs in _texts(topics, DEMO_PER_DIMENSION, DEMO_SEED + 100_000 * n):
            drafts.append(PromptDraft(text=text, dimension_id=dim.pk, reference_answers=refs,
                                      provenance={"kind": "demo", "generator": "simulator templates"}))
    prompts_create(drafts=drafts, source=Prompt.Source.IMPORTED, status=Prompt.Status.APPROVED,
                   reason="demo: approved for the evaluation release", near_dup_check=False)
    draft = releases.release_create_draft(
        title="演示评测集 / Demo evaluation release", taxonomy=DEMO_TAXONOMY, holdout_fraction=0.2,
        notes="seed_demo: 100+ items in each of three dimensions, built offline, evaluated against the simulator.",
    )
    release = releases.release_freeze_now(release_id=draft.pk)
    stdout.write(f"demo evaluation release {release.version}: {release.item_count} items")
    return release


def _listening(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 80)) == 0


def seed_evaluation_demo(stdout) -> None:
    from llm.models import ModelEndpoint

    from .models import EvalRun
    from .services import rubrics_seed_defaults, run_create, run_execute_inline, run_publish

    rubrics_seed_defaults()
    if EvalRun.objects.exists():
        stdout.write("demo evaluation: already there")
        return
    endpoints = {e.name: e for e in ModelEndpoint.objects.filter(name__in=[*DEMO_TARGETS, DEMO_JUDGE])}
    if len(endpoints) < len(DEMO_TARGETS) + 1:
        stdout.write("demo evaluation: the simulator endpoints are missing; skipped")
        return
    release = _demo_release(stdout)
    base_url = endpoints[DEMO_JUDGE].base_url
    server = None
    if not _listening(base_url):
        # seed_demo runs before `make run` starts the simulator: start one here for the evaluation only.
        from llm.simulator import start_in_thread

        parsed = urlparse(base_url)
        server, _ = start_in_thread(port=parsed.port or 8765, host=parsed.hostname or "127.0.0.1")
    try:
        run = run_create(release=release, targets=[endpoints[n] for n in DEMO_TARGETS], judge=endpoints[DEMO_JUDGE],
                         seed=DEMO_SEED, enqueue=False)
        run = run_execute_inline(run_id=run.pk)
    finally:
        if server is not None:
            server.stop()
    if run.status == EvalRun.Status.SUCCEEDED:
        run_publish(run=run)
        stdout.write(f"demo evaluation run {run.pk} of {release.version}: published "
                     f"({run.target_calls} target calls, {run.judge_calls} judge calls)")
    else:
        stdout.write(f"demo evaluation run {run.pk} ended {run.status}: {run.error}")
