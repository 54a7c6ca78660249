from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import transaction

from curation.models import Dimension, Prompt
from generation import mutations
from generation.services import RunError, run_create

from ._run_summary import finish


class Command(BaseCommand):
    help = "Make adversarial variants of existing prompts with offline Chinese mutation strategies (no LLM)."

    def add_arguments(self, parser):
        names = [s["name"] for s in mutations.list_strategies()]
        parser.add_argument("--strategy", action="append", required=True, choices=names,
                            help="strategy name; repeat to chain them in order")
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--dimension", default=None, help="only mutate prompts of this dimension code")
        parser.add_argument("--taxonomy", default=None)
        parser.add_argument("--source-status", action="append", default=[],
                            choices=[Prompt.Status.APPROVED, Prompt.Status.CANDIDATE, Prompt.Status.IN_REVIEW],
                            help="which prompts to mutate (repeatable; default approved)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--async", action="store_true", dest="run_async")

    # The command's own output is English: the services' refusals it prints are too.
    @no_translations
    def handle(self, *args, **o):
        dimension = None
        if o["dimension"]:
            dims = Dimension.objects.filter(code=o["dimension"])
            if o["taxonomy"]:
                dims = dims.filter(taxonomy__code=o["taxonomy"])
            dims = list(dims)
            if len(dims) != 1:
                raise CommandError(f"dimension {o['dimension']!r} " + ("not found" if not dims else
                                   "exists in several taxonomies; pass --taxonomy"))
            dimension = dims[0]
        try:
            with transaction.atomic():
                run = run_create(
                    mode="mutation", count=o["count"], dimension=dimension, strategies=o["strategy"], seed=o["seed"],
                    source_statuses=o["source_status"] or [Prompt.Status.APPROVED], batch_size=o["batch_size"],
                    enqueue=o["run_async"],
                )
        except RunError as exc:
            raise CommandError(str(exc))
        finish(self, run, o["run_async"])
