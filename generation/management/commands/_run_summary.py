"""Shared by `generate` and `mutate`: run in-process (default) or queue, then print a summary."""

from generation.models import GenerationRun
from generation.services import run_execute


def finish(command, run: GenerationRun, run_async: bool) -> None:
    if run_async:
        command.stdout.write(f"run {run.pk} queued ({run.batches_total} batches); follow it at /curation/generation/runs/{run.pk}/")
        return
    run = run_execute(run_id=run.pk) or GenerationRun.objects.get(pk=run.pk)
    command.stdout.write(summary(run))
    for batch in run.batches.filter(status="failed").order_by("index"):
        command.stdout.write(f"  batch {batch.index + 1} failed: {batch.reason}")
    if run.status == GenerationRun.Status.FAILED:
        command.stderr.write(run.error)


def summary(run: GenerationRun) -> str:
    return (
        f"run {run.pk} {run.status}: requested={run.count} created={run.candidates_created} "
        f"exact_duplicates={run.exact_duplicates} near_duplicates={run.near_duplicates} "
        f"batches={run.batches_total} done={run.batches_done} failed={run.batches_failed}"
    )
