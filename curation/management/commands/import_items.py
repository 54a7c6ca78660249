from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curation.importers import FORMATS, ImportRejected
from curation.models import Prompt
from curation.services import prompts_import


class Command(BaseCommand):
    help = "Import LiveSecBench items (JSON, JSONL or CSV). A file with any bad row imports nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--status", choices=[Prompt.Status.CANDIDATE, Prompt.Status.APPROVED], default="candidate")
        parser.add_argument("--taxonomy", default=None, help="taxonomy code, e.g. v251030")
        parser.add_argument("--format", choices=FORMATS, default=None)

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            report = prompts_import(
                content=path.read_bytes(),
                filename=path.name,
                fmt=options["format"],
                status=options["status"],
                taxonomy_code=options["taxonomy"],
            )
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(f"line {error.line}: {error.message}")
            raise CommandError(f"{len(exc.errors)} bad rows; nothing was imported")
        self.stdout.write(
            f"rows={report.total_rows} created={report.created} duplicates={len(report.duplicates)}"
            + (f" (lines {', '.join(map(str, report.duplicates[:20]))}{' …' if len(report.duplicates) > 20 else ''})" if report.duplicates else "")
        )
