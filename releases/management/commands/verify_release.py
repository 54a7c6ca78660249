from django.core.management.base import BaseCommand, CommandError

from releases.services import release_verify


class Command(BaseCommand):
    help = "Recompute every item hash, public id, hold-out flag, count and digest of a frozen release (and check "
    "its stored exports). Exits non-zero on any mismatch."

    def add_arguments(self, parser):
        parser.add_argument("version")
        parser.add_argument("--no-exports", action="store_true", help="skip checking the stored export files")

    def handle(self, *args, **opts):
        report = release_verify(version=opts["version"], check_exports=not opts["no_exports"])
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"{opts['version']}: {len(report.problems)} problems in {report.items_checked} items — NOT verified"
            )
        self.stdout.write(self.style.SUCCESS(
            f"{report.version}: OK — {report.items_checked} items and {report.exports_checked} export files verified"
        ))
