from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CyclesConfig(AppConfig):
    name = "cycles"
    verbose_name = _("Release cycles")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.demo import register_demo_hook

        from . import tasks  # noqa: F401  (registers the tasks the services queue by name: core.queue)
        from .demo import seed_cycles_demo

        register_demo_hook(seed_cycles_demo)
