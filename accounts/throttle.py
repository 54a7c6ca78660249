"""Login throttling on top of django-axes: what a success resets, and when a lockout ends.

Failures are counted per account and per client address (``AXES_LOCKOUT_PARAMETERS``). Axes' own reset on a
successful login deletes every attempt matching the request, the address's too: whoever holds one account
could then clear the address's count between guesses at other accounts. A success here clears only the
failures against the account that just proved its password.
"""

from __future__ import annotations

from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.db.models import Max, Sum
from django.http import HttpRequest
from django.utils import timezone


class LoginAttemptHandler(AxesDatabaseHandler):
    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count


def lockout_ends(request: HttpRequest, credentials: dict | None = None) -> datetime:
    """When the lockout that refused this request is over: the last counted failure plus the cool-off."""
    cool_off = get_cool_off(request)
    now = timezone.now()
    limit = get_failure_limit(request, credentials)
    latest = None
    for attempts in LoginAttemptHandler().get_user_attempts(request, credentials):
        totals = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        if (totals["failures"] or 0) >= limit and totals["last"] and (latest is None or totals["last"] > latest):
            latest = totals["last"]
    return (latest or now) + cool_off
