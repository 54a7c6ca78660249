"""Status-log reasons and notes the review flow writes in English; shown in the viewer's language through
core.runtime_text (see there why they are stored in English)."""

from django.utils.translation import gettext_noop

from core.runtime_text import LIST, MESSAGE, register

from . import consensus

ENTERED_QUEUE = register(gettext_noop("entered review queue “%(queue)s”"))
CONSENSUS_IN = register(gettext_noop("consensus in “%(queue)s”: %(explanation)s"), explanation=MESSAGE)
ADJUDICATED = register(gettext_noop("adjudicated: %(reason)s"))
REOPENED = register(gettext_noop("reopened: %(reason)s"))

for _msgid in consensus.EXPLANATIONS:
    register(_msgid, fields=LIST)
