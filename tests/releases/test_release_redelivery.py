"""A freeze or export task delivered twice (acks_late: redelivered after a kill, after Redis's visibility timeout,
or queued again by a worker's start-up recovery) writes no second release and no second set of files."""

import socket
import subprocess
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from releases import release_math as rm
from releases import services as releases
from releases import tasks
from releases.models import Release, ReleaseExport, ReleaseItem
from tests.factories import approved_prompts

SCOPE = "public"


def _frozen(n=12):
    approved_prompts(n)
    draft = releases.release_create_draft(version="v251122", taxonomy="v251030", parent=None, holdout_fraction=0.2)
    return releases.release_freeze_now(release_id=draft.pk)


def _queue_export(release, capture):
    with capture(execute=False):  # queued, as the page does; the test delivers the task itself
        releases.release_export_start(release_id=release.pk, scope=SCOPE)


def _rows(release):
    return {e.format: e for e in ReleaseExport.objects.filter(release=release, scope=SCOPE)}


def _folder(release):
    return releases._export_dir(release, SCOPE).parent


def _files(release) -> dict:
    """Every file and folder under the release's export folder, with what a rewrite would change."""
    root = _folder(release)
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _hold(release, owner, expires):
    ReleaseExport.objects.filter(release=release, scope=SCOPE).update(
        status="running", lease_owner=owner, lease_expires_at=expires)


def _deliver(release):
    tasks.release_export_task.delay(release.pk, SCOPE)  # eager here: runs the task's body now


@pytest.mark.django_db
def test_a_second_delivery_of_a_finished_export_writes_nothing(taxonomy, media, django_capture_on_commit_callbacks):
    release = _frozen()
    _queue_export(release, django_capture_on_commit_callbacks)
    _deliver(release)
    done = {f: (e.status, e.sha256, e.finished_at) for f, e in _rows(release).items()}
    assert {s for s, _, _ in done.values()} == {"done"}
    before = _files(release)

    _deliver(release)  # the broker hands the finished task out again

    assert {f: (e.status, e.sha256, e.finished_at) for f, e in _rows(release).items()} == done
    assert _files(release) == before  # not one file rewritten, no folder swapped in


@pytest.mark.django_db
def test_a_copy_delivered_while_a_live_worker_holds_the_export_leaves_it_alone(
    taxonomy, media, django_capture_on_commit_callbacks
):
    release = _frozen()
    _queue_export(release, django_capture_on_commit_callbacks)
    elsewhere = "worker-2.example:4242:abcd1234"  # another machine's worker, renewing its lease
    _hold(release, elsewhere, timezone.now() + timedelta(seconds=60))

    _deliver(release)
    assert not _folder(release).exists()  # nothing written beside the live writer
    assert {(e.status, e.lease_owner) for e in _rows(release).values()} == {("running", elsewhere)}
    assert releases.releases_recover() == ([], [])  # nor queued again by a starting worker

    # That worker stops renewing (its machine is gone): once the lease has expired, a delivery takes over.
    _hold(release, elsewhere, timezone.now() - timedelta(seconds=1))
    _deliver(release)
    rows = _rows(release)
    assert {(e.status, e.lease_owner) for e in rows.values()} == {("done", "")}
    assert sorted(_files(release)) == ["public", *(f"public/{releases.export_file_name(release.version, SCOPE, f)}"
                                                   for f in sorted(releases.EXPORT_FORMATS, key=lambda f: releases.export_file_name(release.version, SCOPE, f)))]
    assert releases.release_verify(version=release.version).ok


@pytest.mark.django_db
def test_an_export_whose_writer_on_this_host_died_is_recovered_at_once(
    taxonomy, media, django_capture_on_commit_callbacks
):
    release = _frozen()
    _queue_export(release, django_capture_on_commit_callbacks)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a worker killed with -9: its pid no longer exists, its lease has not expired
    _hold(release, f"{socket.gethostname()}:{gone.pid}:deadbeef", timezone.now() + timedelta(seconds=60))
    half = releases._export_dir(release, SCOPE).with_name(f".{SCOPE}-tmp-deadbeef")
    half.mkdir(parents=True)
    (half / "livesec-v251122.jsonl").write_text('{"half": ', encoding="utf-8")

    # A worker starting up queues the export again (eager here: it runs at once) and takes the dead lease.
    assert releases.releases_recover() == ([], [(release.pk, SCOPE)])

    assert {(e.status, e.lease_owner) for e in _rows(release).values()} == {("done", "")}
    assert [p.name for p in _folder(release).iterdir()] == [SCOPE]  # the dead writer's half folder is gone
    assert releases.release_verify(version=release.version).ok


@pytest.mark.django_db(transaction=True)
def test_copies_of_an_export_delivered_at_once_write_it_once(taxonomy, media, monkeypatch):
    release = _frozen()
    with transaction.atomic():
        releases.release_export_start(release_id=release.pk, scope=SCOPE)  # runs the task (eager) on commit
    writes = []
    real = releases.write_export_files

    def counted(**kwargs):
        writes.append(threading.get_ident())
        return real(**kwargs)

    monkeypatch.setattr(releases, "write_export_files", counted)
    releases.release_export_start(release_id=release.pk, scope=SCOPE, force=True)  # queued again, then ...
    assert len(writes) == 1
    _hold(release, "", None)
    ReleaseExport.objects.filter(release=release, scope=SCOPE).update(status="pending")  # ... delivered 8 times
    start = threading.Barrier(8)

    def deliver():
        try:
            start.wait()
            releases.release_export_run(release_id=release.pk, scope=SCOPE, queued=True)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(writes) == 2
    assert {(e.status, e.lease_owner) for e in _rows(release).values()} == {("done", "")}
    assert [p.name for p in _folder(release).iterdir()] == [SCOPE]
    assert releases.release_verify(version=release.version).ok


class _Killed(Exception):
    pass


@pytest.mark.django_db
def test_a_second_copy_of_a_freeze_shares_its_chunks_and_ends_as_one_uninterrupted_freeze(
    taxonomy, media, monkeypatch, settings
):
    """Copy A freezes a chunk; copy B (a redelivery) starts, freezes the next chunk and is killed; A goes on. With
    one-hex short ids nearly every item collides with one another copy stored: each copy must see the other's."""
    settings.RELEASE_EXPORT_ON_FREEZE = False
    monkeypatch.setattr(rm, "SHORT_ID_HEX", 1)
    approved_prompts(60)
    reference = {}
    try:
        with transaction.atomic():
            ref = releases.release_freeze_now(release_id=releases.release_create_draft(
                version="v251121", taxonomy="v251030", parent=None, holdout_fraction=0.2).pk)
            reference = {"items": _items(ref), "digests": (ref.digest, ref.public_digest, ref.item_count)}
            raise _Killed
    except _Killed:
        pass
    assert reference["items"] and sum(len(p) > len("legality-0") for p, *_ in reference["items"]) > 30

    draft = releases.release_create_draft(version="v251122", taxonomy="v251030", parent=None, holdout_fraction=0.2)
    with transaction.atomic():  # marked as freezing, as the page's start does, without queueing the task
        releases.release_freeze_claim(release_id=draft.pk)
    chunks = []

    def kill_after_one(state):
        chunks.append("B")
        raise _Killed

    def second_copy_once(state):
        chunks.append("A")
        if len(chunks) == 1:
            with pytest.raises(_Killed):
                releases.release_freeze_run(release_id=draft.pk, chunk_size=10, on_chunk=kill_after_one)

    release = releases.release_freeze_run(release_id=draft.pk, chunk_size=10, on_chunk=second_copy_once)
    assert chunks[:3] == ["A", "B", "A"]
    assert release.is_frozen and not release.freeze_error
    assert _items(release) == reference["items"]
    assert (release.digest, release.public_digest, release.item_count) == reference["digests"]

    frozen_at = release.frozen_at
    tasks.release_freeze_task.delay(release.pk)  # a second delivery of the finished freeze
    release = Release.objects.get(pk=release.pk)
    assert release.frozen_at == frozen_at and ReleaseItem.objects.filter(release=release).count() == 60
    assert not ReleaseExport.objects.filter(release=release).exists()


def _items(release):
    return list(ReleaseItem.objects.filter(release=release).order_by("content_hash").values_list(
        "public_id", "content_hash", "is_holdout"))
