from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import transaction

from curation.models import Dimension, Technique
from generation.models import Event
from generation.services import RunError, run_create
from llm.models import ModelEndpoint

from ._run_summary import finish


class Command(BaseCommand):
    help = "Generate candidate prompts with an LLM endpoint (in-process; --async queues the run for the worker)."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", required=True, help="endpoint name (see /llm/endpoints/)")
        parser.add_argument("--dimension", required=True, help="dimension code, e.g. legality")
        parser.add_argument("--taxonomy", default=None, help="taxonomy code, needed when the dimension code is ambiguous")
        parser.add_argument("--sub-dimension", default=None, help="sub-dimension code")
        parser.add_argument("--technique", action="append", default=[], help="technique code (repeatable)")
        parser.add_argument("--topic", action="append", default=[], help="seed topic (repeatable)")
        parser.add_argument("--event", action="append", type=int, default=[], help="event id (repeatable)")
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--temperature", type=float, default=0.9)
        parser.add_argument("--async", action="store_true", dest="run_async", help="queue for the Celery worker")

    # The command's own output is English: the services' refusals it prints are too.
    @no_translations
    def handle(self, *args, **o):
        endpoint = ModelEndpoint.objects.filter(name=o["endpoint"]).first()
        if endpoint is None:
            raise CommandError(f"no endpoint named {o['endpoint']!r}; add one with `manage.py add_endpoint`")
        dims = Dimension.objects.select_related("taxonomy").filter(code=o["dimension"])
        if o["taxonomy"]:
            dims = dims.filter(taxonomy__code=o["taxonomy"])
        dims = list(dims)
        if not dims:
            raise CommandError(f"no dimension {o['dimension']!r}" + (f" in {o['taxonomy']}" if o["taxonomy"] else ""))
        if len(dims) > 1:
            raise CommandError(f"dimension {o['dimension']!r} exists in several taxonomies "
                               f"({', '.join(d.taxonomy.code for d in dims)}); pass --taxonomy")
        dimension = dims[0]
        sub = None
        if o["sub_dimension"]:
            sub = dimension.sub_dimensions.filter(code=o["sub_dimension"]).first()
            if sub is None:
                raise CommandError(f"no sub-dimension {o['sub_dimension']!r} in {dimension}")
        techniques = list(Technique.objects.filter(code__in=o["technique"]))
        missing = set(o["technique"]) - {t.code for t in techniques}
        if missing:
            raise CommandError(f"unknown technique(s): {', '.join(sorted(missing))}")
        events = list(Event.objects.filter(pk__in=o["event"]))
        if len(events) != len(set(o["event"])):
            raise CommandError("unknown event id(s)")
        try:
            with transaction.atomic():
                run = run_create(
                    mode="llm", count=o["count"], dimension=dimension, sub_dimension=sub, techniques=techniques,
                    seed_topics=o["topic"], events=events, endpoint=endpoint, temperature=o["temperature"],
                    batch_size=o["batch_size"], enqueue=o["run_async"],
                )
        except RunError as exc:
            raise CommandError(str(exc))
        finish(self, run, o["run_async"])
