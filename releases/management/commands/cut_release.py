from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import transaction

from releases import services as releases
from releases.models import FrozenReleaseError, Release


class Command(BaseCommand):
    help = (
        "Create a release draft from approved prompts (and the parent's items) and optionally freeze it, "
        "in this process. VERSION is vYYMMDD[-N], or 'next' for the next free version of today."
    )

    def add_arguments(self, parser):
        parser.add_argument("version")
        parser.add_argument("--parent", default=releases.LATEST, help="parent version, 'latest' (default) or 'none'")
        parser.add_argument("--taxonomy", default=None,
                            help="taxonomy code (default: the one the approved prompts are in; when they are in "
                                 "several, name one)")
        parser.add_argument("--holdout", type=float, default=0.0, help="private hold-out fraction, e.g. 0.2")
        parser.add_argument("--min-agreement", type=float, default=None, help="minimum per-item agreement (where known)")
        parser.add_argument("--dimension", action="append", default=[], help="dimension code; repeat for several")
        parser.add_argument("--date-from", default=None, help="prompts created on or after YYYY-MM-DD")
        parser.add_argument("--date-to", default=None, help="prompts created on or before YYYY-MM-DD")
        parser.add_argument("--no-new", action="store_true", help="add no new prompts (carry over and retire only)")
        parser.add_argument("--retire", action="append", default=[], metavar="PUBLIC_ID=REASON",
                            help="retire a parent item, with the reason; repeat for several")
        parser.add_argument("--title", default="")
        parser.add_argument("--notes", default="")
        parser.add_argument("--freeze", action="store_true", help="freeze the draft right away")
        parser.add_argument("--export", action="store_true", help="with --freeze: also write the public exports")

    @transaction.atomic
    def _draft(self, *, version, parent, retire, opts) -> Release:
        """The draft with its retirements, or nothing at all: a refused cut leaves no draft behind."""
        release = releases.release_create_draft(
            version=version,
            title=opts["title"],
            notes=opts["notes"],
            taxonomy=opts["taxonomy"],
            parent=parent,
            holdout_fraction=opts["holdout"],
            filters={
                "dimensions": opts["dimension"],
                "date_from": opts["date_from"],
                "date_to": opts["date_to"],
                "min_agreement": opts["min_agreement"],
                "include_new": not opts["no_new"],
            },
        )
        for public_id, reason in retire:
            releases.release_retire(release_id=release.pk, public_ids=[public_id], reason=reason)
        # Checked once the retirements are in: retiring can empty a draft too.
        reason = releases.release_empty_reason(release)
        if reason:
            raise releases.ReleaseError(reason)
        return release

    # The command's own output is English: the services' refusals it prints are too.
    @no_translations
    def handle(self, *args, **opts):
        version = None if opts["version"] == "next" else opts["version"]
        parent = {"none": None, "latest": releases.LATEST}.get(opts["parent"], opts["parent"])
        retire = []
        for spec in opts["retire"]:
            public_id, sep, reason = spec.partition("=")
            if not sep or not reason.strip():
                raise CommandError(f"--retire needs PUBLIC_ID=REASON, not {spec!r}")
            retire.append((public_id.strip(), reason.strip()))
        try:
            release = self._draft(version=version, parent=parent, retire=retire, opts=opts)
        except (releases.ReleaseError, FrozenReleaseError) as exc:
            raise CommandError(str(exc))
        preview = releases.release_preview(release)
        self.stdout.write(
            f"draft {release.version} · taxonomy {release.taxonomy.code} · parent "
            f"{release.parent.version if release.parent_id else '—'} · hold-out {release.holdout_fraction:g}"
        )
        self.stdout.write(f"{'dimension':<16}{'carried':>10}{'retired':>10}{'new':>10}")
        for code, row in preview.by_dimension.items():
            self.stdout.write(f"{code:<16}{row['carried']:>10}{row['retired']:>10}{row['new']:>10}")
        self.stdout.write(f"{'total':<16}{preview.carried:>10}{preview.retired:>10}{preview.new:>10}")
        if not opts["freeze"]:
            return
        try:
            release = releases.release_freeze_now(release_id=release.pk)
        except Exception as exc:
            raise CommandError(f"freezing failed (the draft keeps its progress; run again to resume): {exc}")
        self._summary(release)
        if opts["export"]:
            for export in releases.release_export_run(release_id=release.pk, scope="public"):
                self.stdout.write(f"  {export.format:<9} {export.sha256}  {export.path}")

    def _summary(self, release: Release) -> None:
        m = release.manifest
        self.stdout.write(self.style.SUCCESS(f"frozen {release.version}: {release.item_count} items"
                                             f" ({release.public_count} public, {release.item_count - release.public_count} hold-out)"))
        self.stdout.write(f"digest        {release.digest}")
        self.stdout.write(f"public digest {release.public_digest}")
        for code, row in m["counts"]["by_dimension"].items():
            self.stdout.write(f"  {code:<16} total {row['total']:>7}  added {row['added']:>7}  carried {row['carried']:>7}  hold-out {row['holdout']:>6}")
        if release.contamination:
            self.stdout.write(self.style.WARNING(
                f"{len(release.contamination)} new items near-duplicate public items of earlier releases:"
            ))
            for warning in release.contamination[:20]:
                match = warning["matches"][0]
                self.stdout.write(f"  {warning['public_id']} ~ {match['version']}/{match['public_id']} ({match['similarity']})")
