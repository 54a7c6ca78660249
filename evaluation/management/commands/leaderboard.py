from django.core.management.base import BaseCommand, CommandError

from evaluation import selectors
from evaluation.exports import EXPORTERS, leaderboard_markdown
from releases.models import Release


class Command(BaseCommand):
    help = "Print a release's leaderboard (the published run, else the latest finished one); Markdown is the release report."

    def add_arguments(self, parser):
        parser.add_argument("version", help="release version, e.g. v251030")
        parser.add_argument("--format", default="md", choices=sorted(EXPORTERS))
        parser.add_argument("--language", default="zh-hans", choices=["zh-hans", "en"],
                            help="language of the Markdown report (default zh-hans)")
        parser.add_argument("--public", action="store_true",
                            help="Markdown: leave hold-out items out, as annotators see the report")

    def handle(self, *args, **o):
        release = Release.objects.filter(version=o["version"]).first()
        if release is None:
            raise CommandError(f"no release {o['version']!r}")
        board = selectors.leaderboard(release=release)
        if board.run is None:
            raise CommandError(f"release {release.version} has no finished evaluation yet")
        if o["format"] == "md":
            text = leaderboard_markdown(board, language=o["language"], include_holdout=not o["public"])
        else:
            text = EXPORTERS[o["format"]](board)
        self.stdout.write(text, ending="")
