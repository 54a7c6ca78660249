from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = _("Generation")

    def ready(self) -> None:
        from accounts.demo import register_demo_hook
        from curation.selectors import register_event_reader
        from curation.services import register_taxonomy_loaded
        from llm import sim_attack

        from . import (
            mutations,
            tasks,  # noqa: F401  (connects the worker start-up recovery)
        )
        from .demo import seed_generation_demo
        from .selectors import event_summaries
        from .services import templates_seed_counts

        register_demo_hook(seed_generation_demo)
        # Loading the taxonomy gives every new dimension and technique its first generator template.
        register_taxonomy_loaded(templates_seed_counts)
        register_event_reader(event_summaries)
        # The simulator's attacker rewrites as the offline mutations do (llm imports none of the apps).
        sim_attack.register_mutate(mutations.mutate)
