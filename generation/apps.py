from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = _("Generation")

    def ready(self) -> None:
        from accounts.demo import register_demo_hook
        from curation.services import register_taxonomy_loaded

        from . import tasks  # noqa: F401  (connects the worker start-up recovery)
        from .demo import seed_generation_demo
        from .services import templates_seed_counts

        register_demo_hook(seed_generation_demo)
        # Loading the taxonomy gives every new dimension and technique its first generator template.
        register_taxonomy_loaded(templates_seed_counts)
