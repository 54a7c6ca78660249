"""Fetch event sources in this process (what the periodic task queues), printing what each fetch stored."""

from django.core.management.base import BaseCommand, CommandError

from generation.event_services import event_source_fetch, event_sources_due
from generation.models import EventSource


class Command(BaseCommand):
    help = "Fetch the event sources that are due (or one named source, due or not) and store their new events."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="the name of one source to fetch now")
        parser.add_argument("--all", action="store_true", help="every enabled feed and folder source, due or not")

    def handle(self, *args, source=None, all=False, **options):
        if source:
            found = EventSource.objects.filter(name=source).first()
            if found is None:
                raise CommandError(f"no event source named {source!r}")
            sources = [found]
        elif all:
            sources = list(EventSource.objects.filter(enabled=True, kind__in=EventSource.FETCHED))
        else:
            sources = event_sources_due()
        failed = 0
        for s in sources:
            report = event_source_fetch(source=s)
            line = (f"{s.name}: {report.created} new, {report.duplicates} duplicates, {report.invalid} skipped"
                    + (f"; error: {report.error}" if report.error else ""))
            self.stdout.write(line)
            for message in report.messages[:20]:
                self.stdout.write(f"  {message}")
            failed += bool(report.error)
        if not sources:
            self.stdout.write("no event source is due")
        if failed:
            raise CommandError(f"{failed} source(s) failed")
