"""Status-log reasons curation writes in English; shown in the viewer's language through core.runtime_text
(see there why they are stored in English)."""

from django.utils.translation import gettext_noop

from core.runtime_text import register

IMPORTED_FROM = register(gettext_noop("imported from %(file)s"))
IMPORTED_APPROVED = register(gettext_noop("imported from %(file)s directly as approved (trusted source)"))
GENERATED = register(gettext_noop("generation run %(run)s, batch %(batch)s"))
DEMO_APPROVED = register(gettext_noop("demo: approved for the demo release"))
EVALUATION_DEMO_APPROVED = register(gettext_noop("demo: approved for the evaluation release"))
# A refused consensus decision is kept as the item's adjudication note.
DUPLICATE_EDIT = register(gettext_noop("the edited text duplicates another prompt"))
# A cancelled generation or evaluation run's error line.
RUN_CANCELLED_BY = register(gettext_noop("cancelled by %(actor)s"))
RUN_CANCELLED = register(gettext_noop("cancelled"))
