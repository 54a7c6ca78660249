from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curation.importers import FORMATS, ImportRejected
from curation.models import Prompt
from curation.services import prompts_import

SHOWN_ROWS = 20


def _listed(rows) -> str:
    return ", ".join(map(str, rows[:SHOWN_ROWS])) + (" …" if len(rows) > SHOWN_ROWS else "")


class Command(BaseCommand):
    help = "Import LiveSecBench items (JSON, JSONL or CSV). A file with any bad row imports nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--status", choices=[Prompt.Status.CANDIDATE, Prompt.Status.APPROVED], default="candidate")
        parser.add_argument("--taxonomy", default=None, help="taxonomy code, e.g. v251030")
        parser.add_argument("--format", choices=FORMATS, default=None)
        parser.add_argument(
            "--skip-existing-ids", action="store_true",
            help="skip rows whose question_id a prompt already has, even if its text was edited since",
        )

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
                skip_existing_ids=options["skip_existing_ids"],
            )
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(f"line {error.line}: {error.message}" if error.line else error.message)
            raise CommandError(f"{len(exc.errors)} bad rows; nothing was imported")
        line = f"rows={report.total_rows} created={report.created} duplicates={len(report.duplicates)}"
        if report.duplicate_rows:
            line += f" (lines {_listed(report.duplicate_rows)})"
        if options["skip_existing_ids"]:
            line += f" skipped_existing_ids={len(report.skipped_existing)}"
        self.stdout.write(line)
