from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = _("Annotation")

    def ready(self) -> None:
        from accounts.demo import register_demo_hook
        from curation.services import register_intake

        from . import (
            demo,
            services,
            tasks,  # noqa: F401  (registers the tasks the services queue by name: core.queue)
        )

        register_intake(services.intake_new_candidates)
        register_demo_hook(demo.seed_demo_queue)
