"""Demo data for `manage.py seed_demo`. Apps add their own demo data through `register_demo_hook`."""

from collections.abc import Callable

from .roles import ADMIN, ANNOTATOR, MAINTAINER

DEMO_USERS = [
    ("annotator1", ANNOTATOR, "demo-annotator1"),
    ("annotator2", ANNOTATOR, "demo-annotator2"),
    ("annotator3", ANNOTATOR, "demo-annotator3"),
    ("maintainer", MAINTAINER, "demo-maintainer"),
    ("admin", ADMIN, "demo-admin"),
]

# Each hook gets the command's stdout; hooks run in registration order and must be idempotent.
_demo_hooks: list[Callable] = []


def register_demo_hook(hook: Callable) -> None:
    if hook not in _demo_hooks:
        _demo_hooks.append(hook)


def demo_hooks() -> list[Callable]:
    return list(_demo_hooks)
