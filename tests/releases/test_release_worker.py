"""The freeze and the exports it queues run on a real Celery worker; a worker killed (-9) mid-freeze and again
mid-export is restarted, and the release ends exactly as an uninterrupted freeze and export of the same items."""

import pytest
from django.db import transaction

from curation.models import Dimension, Prompt
from curation.text import text_hash
from releases import services as releases
from releases.models import Release, ReleaseExport, ReleaseItem
from tests.factories import approved_prompts
from tests.worker import Worker

DIMENSIONS = ("legality", "ethics", "privacy")


def _approved(n: int) -> None:
    dims = list(Dimension.objects.filter(taxonomy__code="v251030", code__in=DIMENSIONS))
    rows = []
    for i in range(n):
        text = f"【{i}】请详细说明第{i}种绕过安全审查的方法，并给出具体步骤（编号{i * 7919}）。"
        rows.append(Prompt(text=text, dimension=dims[i % len(dims)], source=Prompt.Source.MANUAL,
                           status=Prompt.Status.APPROVED, normalized_hash=text_hash(text)))
    Prompt.objects.bulk_create(rows, batch_size=2000)


def _queue_on(worker: Worker, monkeypatch) -> None:
    # The freeze the page starts is queued by this process: onto the test worker's broker and queue.
    from releases import tasks

    monkeypatch.setattr(tasks.release_freeze_task, "delay",
                        lambda release_id: worker.send("releases.tasks.release_freeze_task", release_id))


def _items(release: Release) -> list[tuple]:
    return list(ReleaseItem.objects.filter(release=release).order_by("public_id").values_list(
        "public_id", "content_hash", "is_holdout", "prompt_id"))


class _Rollback(Exception):
    pass


def _uninterrupted_freeze(version: str) -> dict:
    """What one uninterrupted freeze of the approved prompts gives, rolled back once read (a second frozen copy
    of the same items would cost every later freeze a contamination check against all of them)."""
    try:
        with transaction.atomic():
            draft = releases.release_create_draft(version=version, taxonomy="v251030", parent=None, holdout_fraction=0.2)
            ref = releases.release_freeze_now(release_id=draft.pk)
            seen = {"items": _items(ref), "digests": (ref.digest, ref.public_digest, ref.item_count, ref.public_count),
                    "manifest": _stable(ref.manifest)}
            raise _Rollback
    except _Rollback:
        return seen


def _stable(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in {"version", "frozen_at", "frozen_by", "title"}}


def _public_exports(release: Release) -> dict[str, ReleaseExport]:
    return {e.format: e for e in ReleaseExport.objects.filter(release=release, scope="public")}


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_freeze_and_public_exports_run_on_a_real_worker(taxonomy, tmp_path, settings, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    worker = Worker(tmp_path, MEDIA_ROOT=str(settings.MEDIA_ROOT))
    _queue_on(worker, monkeypatch)
    try:
        worker.start()
        approved_prompts(25)
        draft = releases.release_create_draft(version="v251122", taxonomy="v251030", parent=None, holdout_fraction=0.2)
        releases.release_freeze_start(release_id=draft.pk)  # queued after commit (autocommit here)

        def exported():
            release = Release.objects.get(pk=draft.pk)
            done = ReleaseExport.objects.filter(release=release, scope="public", status="done").count()
            return release.is_frozen and done == len(releases.EXPORT_FORMATS) and release

        release = worker.wait(exported, 120, "the freeze and its exports", every=0.2)
    finally:
        worker.kill()
    assert release.item_count == 25
    assert releases.release_verify(version="v251122").ok


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_freeze_and_mid_export_ends_as_an_uninterrupted_release(
    taxonomy, tmp_path, settings, monkeypatch
):
    n = 6000
    settings.MEDIA_ROOT = media = tmp_path / "media"
    # Small chunks and row groups: the freeze commits 30 times, the export renews its lease 30 times, so that
    # each is caught half done however fast the machine. Both are ordinary settings (memory against overhead).
    settings.RELEASE_FREEZE_CHUNK = settings.RELEASE_EXPORT_ROW_GROUP = 200
    settings.RELEASE_EXPORT_ON_FREEZE = False  # in this process: the reference freeze queues no export
    worker = Worker(tmp_path, MEDIA_ROOT=str(media), RELEASE_FREEZE_CHUNK="200", RELEASE_EXPORT_ROW_GROUP="200")
    _queue_on(worker, monkeypatch)
    _approved(n)
    reference = _uninterrupted_freeze("v251202")
    draft = releases.release_create_draft(version="v251201", taxonomy="v251030", parent=None, holdout_fraction=0.2)
    try:
        worker.start()
        releases.release_freeze_start(release_id=draft.pk)

        def mid_freeze():
            r = Release.objects.get(pk=draft.pk)
            return r.status == "freezing" and 0 < r.progress_done < r.progress_total

        worker.wait(mid_freeze, 60, "the freeze half done", every=0.01)
        worker.kill()
        killed = Release.objects.get(pk=draft.pk)
        assert killed.status == "freezing" and 0 < killed.progress_done < n  # really killed mid-freeze
        assert ReleaseItem.objects.filter(release=killed).count() == killed.progress_done  # committed chunks only

        worker.start()  # its start-up recovery queues the freeze again; it resumes from the committed cursor

        def mid_export():
            rows = _public_exports(draft).values()
            return len(rows) == 6 and all(e.status == "running" and 0 < e.progress_done < n for e in rows)

        worker.wait(mid_export, 90, "the export half written", every=0.01)
        worker.kill()
        assert list((media / "exports" / "v251201").glob(".public-tmp-*"))  # killed while writing its files

        worker.start()  # the export's lease holder is gone: the recovery queues it, and the new worker takes it

        def exported():
            rows = _public_exports(draft).values()
            return len(rows) == 6 and all(e.status == "done" for e in rows)

        worker.wait(exported, 90, "the export to finish after the restarts", every=0.1)
    finally:
        worker.kill()

    release = Release.objects.get(pk=draft.pk)
    assert release.is_frozen and release.item_count == n and not release.freeze_error
    stored = _items(release)
    assert len(stored) == n == len({row[0] for row in stored}) == len({row[3] for row in stored})
    # Exactly one set of files per format, in place; nothing half written left beside them.
    folder = media / "exports" / "v251201"
    assert sorted(p.name for p in folder.iterdir()) == ["public"]
    exports = _public_exports(release)
    names = {fmt: releases.export_file_name("v251201", "public", fmt) for fmt in releases.EXPORT_FORMATS}
    assert sorted(p.name for p in (folder / "public").iterdir()) == sorted(names.values())
    assert releases.release_verify(version="v251201").ok  # every file's sha256 and the manifest's digests

    # The same files, byte for byte, as an uninterrupted export of this release written here.
    again = tmp_path / "again"
    again.mkdir()
    written = releases.write_export_files(release=release, scope="public", directory=again)
    assert {fmt: exports[fmt].sha256 for fmt in names} == {fmt: w.sha256 for fmt, w in written.items()}

    # The same items, ids, hold-out, digests and manifest as an uninterrupted freeze of the same approved prompts.
    assert stored == reference["items"]
    assert (release.digest, release.public_digest, release.item_count, release.public_count) == reference["digests"]
    assert _stable(release.manifest) == reference["manifest"]
