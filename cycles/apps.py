from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CyclesConfig(AppConfig):
    name = "cycles"
    verbose_name = _("Release cycles")
    default_auto_field = "django.db.models.BigAutoField"
