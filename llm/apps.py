from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = _("Model endpoints")

    def ready(self):
        from accounts.demo import register_demo_hook

        from .demo import seed_endpoints

        register_demo_hook(seed_endpoints)
