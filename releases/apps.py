from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = _("Releases")

    def ready(self) -> None:
        from accounts.demo import register_demo_hook
        from curation import dedup_service

        from . import tasks  # noqa: F401  (connects the worker start-up recovery)
        from .demo import release_demo
        from .selectors import released_texts

        # The duplicate check also compares with every released item; curation reads them through this.
        dedup_service.register_released_source(released_texts)
        register_demo_hook(release_demo)
