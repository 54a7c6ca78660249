from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvaluationConfig(AppConfig):
    name = "evaluation"
    verbose_name = _("Evaluation")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.demo import register_demo_hook

        from . import tasks  # noqa: F401  (connects the worker start-up recovery)
        from .demo import seed_evaluation_demo

        register_demo_hook(seed_evaluation_demo)
