from django.core.management.base import BaseCommand, CommandError

from curation.models import Release
from evaluation import selectors
from evaluation.exports import EXPORTERS


class Command(BaseCommand):
    help = "Print a release's leaderboard (the published run, else the latest finished one)."

    def add_arguments(self, parser):
        parser.add_argument("version", help="release version, e.g. v251030")
        parser.add_argument("--format", default="md", choices=sorted(EXPORTERS))

    def handle(self, *args, **o):
        release = Release.objects.filter(version=o["version"]).first()
        if release is None:
            raise CommandError(f"no release {o['version']!r}")
        board = selectors.leaderboard(release=release)
        if board.run is None:
            raise CommandError(f"release {release.version} has no finished evaluation yet")
        self.stdout.write(EXPORTERS[o["format"]](board), ending="")
