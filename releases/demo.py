"""Demo data for releases: a few approved items and one frozen release (idempotent)."""

from curation.models import Prompt, Taxonomy

from .models import Release

DEMO_RELEASE_ITEMS = 8


def release_demo(stdout=None) -> None:
    from curation.services import prompts_transition

    from . import services as releases

    if Release.objects.exists():
        return
    taxonomy = Taxonomy.objects.filter(dimensions__prompts__isnull=False).order_by("-code").first()
    if taxonomy is None:
        return
    candidates = list(
        Prompt.objects.filter(status=Prompt.Status.CANDIDATE, dimension__taxonomy=taxonomy)
        .order_by("pk")
        .values_list("pk", flat=True)[:DEMO_RELEASE_ITEMS]
    )
    prompts_transition(prompt_ids=candidates, to_status=Prompt.Status.APPROVED, reason="demo: approved for the demo release")
    if not Prompt.objects.filter(status=Prompt.Status.APPROVED, dimension__taxonomy=taxonomy).exists():
        return
    draft = releases.release_create_draft(
        title="演示版本 / Demo release", taxonomy=taxonomy, parent=None, holdout_fraction=0.25,
        notes="seed_demo: a small frozen release to explore the release pages.",
    )
    release = releases.release_freeze_now(release_id=draft.pk)
    releases.release_export_run(release_id=release.pk, scope="public")
    if stdout is not None:
        stdout.write(f"Demo release {release.version}: {release.item_count} items, digest {release.digest[:16]}…")
