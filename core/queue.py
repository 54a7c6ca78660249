"""Celery tasks by name, for the services that queue them.

An app's tasks.py imports its services (a task is a thin entry point calling one service), so a service cannot
import tasks.py back without closing an import circle (scripts/check_imports.py refuses it). It looks the task
up in the Celery registry instead; each app's ready() imports its tasks module, so the task is registered.
"""

from celery import Task, current_app


def task(name: str) -> Task:
    """The task registered as `name` (`<app>.tasks.<function>`); patching its `delay` in a test patches this."""
    return current_app.tasks[name]
