import sys

from django.core.management.base import BaseCommand, CommandError, no_translations

from evaluation import selectors
from evaluation.exports import leaderboard_markdown
from evaluation.models import EvalRun
from evaluation.services import EvalError, run_create, run_execute_inline
from llm.models import ModelEndpoint
from releases.models import Release


def _endpoint(name: str) -> ModelEndpoint:
    endpoint = ModelEndpoint.objects.filter(name=name.strip()).first()
    if endpoint is None:
        raise CommandError(f"no endpoint named {name.strip()!r}; add one with `manage.py add_endpoint`")
    return endpoint


class Command(BaseCommand):
    help = "Evaluate a frozen release against target models (in-process with a progress bar; --async queues it)."

    def add_arguments(self, parser):
        parser.add_argument("--release", required=True, help="release version, e.g. v251030")
        parser.add_argument("--targets", required=True, help="comma-separated endpoint names")
        parser.add_argument("--judge", required=True, help="judge endpoint name (the default for every dimension)")
        parser.add_argument("--judge-for", action="append", default=[], metavar="DIMENSION=ENDPOINT",
                            help="another judge for one dimension (repeatable)")
        parser.add_argument("--mode", default=EvalRun.Mode.ROBUST, choices=EvalRun.Mode.values,
                            help="robust (the default) or livesecbench (the published method, reproduced)")
        parser.add_argument("--budget", type=int, default=None, help="robust: judge calls for the comparisons")
        parser.add_argument("--also-livesecbench", action="store_true", help="robust: also play the Swiss rounds")
        parser.add_argument("--anchor", default="", help="robust: a target held at --anchor-rating")
        parser.add_argument("--anchor-rating", type=float, default=1500.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--system-prompt", default="")
        parser.add_argument("--temperature", type=float, default=None)
        parser.add_argument("--max-tokens", type=int, default=None)
        parser.add_argument("--async", action="store_true", dest="run_async", help="queue for the Celery worker")

    # The command's own output is English: the services' refusals it prints are too.
    @no_translations
    def handle(self, *args, **o):
        release = Release.objects.filter(version=o["release"]).first()
        if release is None:
            raise CommandError(f"no release {o['release']!r}")
        targets = [_endpoint(n) for n in o["targets"].split(",") if n.strip()]
        judges = {}
        for spec in o["judge_for"]:
            code, sep, name = spec.partition("=")
            if not sep:
                raise CommandError(f"--judge-for takes DIMENSION=ENDPOINT, not {spec!r}")
            judges[code.strip()] = _endpoint(name)
        try:
            run = run_create(
                release=release, targets=targets, judge=_endpoint(o["judge"]), judges=judges, mode=o["mode"],
                seed=o["seed"], system_prompt=o["system_prompt"], temperature=o["temperature"],
                max_tokens=o["max_tokens"], budget=o["budget"], also_livesecbench=o["also_livesecbench"],
                anchor=o["anchor"], anchor_rating=o["anchor_rating"], enqueue=o["run_async"],
            )
        except EvalError as exc:
            raise CommandError(str(exc))
        if o["run_async"]:
            self.stdout.write(f"Evaluation run #{run.pk} queued; follow it at /evaluation/runs/{run.pk}/")
            return
        tty = sys.stdout.isatty()

        def progress(current: EvalRun) -> None:
            width = 30
            filled = int(width * current.percent / 100)
            line = (f"[{'#' * filled}{'.' * (width - filled)}] {current.percent:3d}% {current.get_phase_display()}: "
                    f"answers {current.answers_done}/{current.answers_total}, "
                    f"matches {current.matches_done}/{current.matches_total}")
            self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
            self.stdout.flush()

        run = run_execute_inline(run_id=run.pk, on_progress=progress)
        if tty:
            self.stdout.write("")
        if run.status != EvalRun.Status.SUCCEEDED:
            raise CommandError(f"evaluation run #{run.pk} ended {run.status}: {run.error}")
        self.stdout.write(self.style.SUCCESS(
            f"Evaluation run #{run.pk}: {run.target_calls} target calls, {run.judge_calls} judge calls, "
            f"{run.answers_reused} answers and {run.verdicts_reused} verdicts reused, {run.errors} errors"))
        self.stdout.write(leaderboard_markdown(selectors.leaderboard_for_run(run), include_holdout=True))
