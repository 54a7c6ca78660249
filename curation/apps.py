from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = _("Curation")

    def ready(self) -> None:
        from accounts.demo import register_demo_hook

        from . import tasks  # noqa: F401  (connects the worker start-up recovery)
        from .demo import release_demo
        from .generation_demo import seed_generation_demo

        register_demo_hook(release_demo)
        register_demo_hook(seed_generation_demo)
