import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from curation.services import taxonomy_load


class Command(BaseCommand):
    help = "Create or update the taxonomies and the technique catalogue from fixtures/taxonomy.json."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(Path(settings.BASE_DIR) / "fixtures" / "taxonomy.json"))

    def handle(self, *args, **options):
        data = json.loads(Path(options["file"]).read_text(encoding="utf-8"))
        counts = taxonomy_load(data=data)
        self.stdout.write(", ".join(f"{k}={v}" for k, v in counts.items()))
