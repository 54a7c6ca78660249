import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, no_translations

from releases import services as releases
from releases.models import Release, ReleaseExport


class Command(BaseCommand):
    help = "Write one export of a frozen release into DIR (stored under MEDIA_ROOT/exports/ too, with its sha256)."

    def add_arguments(self, parser):
        parser.add_argument("version")
        parser.add_argument("--format", choices=releases.EXPORT_FORMATS, default="zip")
        parser.add_argument("--out", required=True, help="folder to write the file into")
        parser.add_argument("--full", action="store_true", help="include the private hold-out")
        parser.add_argument("--rebuild", action="store_true", help="write the exports again even if stored")

    # The command's own output is English: the services' refusals it prints are too.
    @no_translations
    def handle(self, *args, **opts):
        release = Release.objects.filter(version=opts["version"]).first()
        if release is None:
            raise CommandError(f"no release {opts['version']}")
        if not release.is_frozen:
            raise CommandError(f"release {release.version} is not frozen")
        scope = ReleaseExport.Scope.FULL if opts["full"] else ReleaseExport.Scope.PUBLIC
        export = ReleaseExport.objects.filter(release=release, scope=scope, format=opts["format"]).first()
        if opts["rebuild"] or export is None or not releases.export_is_current(export):
            releases.release_export_run(release_id=release.pk, scope=scope)
            export = ReleaseExport.objects.get(release=release, scope=scope, format=opts["format"])
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        target = out / Path(export.path).name
        shutil.copyfile(releases.export_path(export), target)
        self.stdout.write(f"{export.sha256}  {target}")
