"""The release cycles from the command line: list them, open one now, move them on (what the beat does once), and
the maintainer's actions (cut early, approve, retry, cancel)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from cycles import selectors
from cycles import services as svc
from cycles.models import Cycle, CyclePlan

ACTIONS = {"cut": svc.cycle_cut_now, "approve": svc.cycle_approve, "retry": svc.cycle_retry,
           "cancel": svc.cycle_cancel}


class Command(BaseCommand):
    help = ("list | open PLAN | tick | show ID | cut ID | approve ID | retry ID | cancel ID — the release cycles; "
            "`tick` moves every open cycle on once, as Celery beat does every CYCLE_TICK_SECONDS.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "open", "tick", "show", *ACTIONS])
        parser.add_argument("target", nargs="?", help="a plan name (open) or a cycle id")
        parser.add_argument("--user", help="the maintainer recorded for an action (approve, cut, retry, cancel)")
        parser.add_argument("--language", default="zh-hans", choices=["zh-hans", "en"])

    def handle(self, *args, action, target=None, user=None, language="zh-hans", **options):
        with translation.override(language):
            self._handle(action, target, user)

    def _handle(self, action, target, user):
        if action == "list":
            for cycle in selectors.cycle_list()[:50]:
                self._line(cycle)
            return
        if action == "tick":
            for cycle_id in svc.cycles_tick():
                self._line(selectors.cycle_get(pk=cycle_id))
            return
        if not target:
            raise CommandError(f"{action} needs a {'plan name' if action == 'open' else 'cycle id'}")
        if action == "open":
            plan = CyclePlan.objects.filter(name=target).first()
            if plan is None:
                raise CommandError(f"no plan named {target!r}")
            try:
                cycle = svc.cycle_open_next(plan=plan, actor=self._user(user))
            except svc.CycleError as exc:
                raise CommandError(str(exc)) from exc
            self._line(svc.cycle_advance(cycle_id=cycle.pk))
            return
        try:
            cycle = selectors.cycle_get(pk=int(target))
        except (ValueError, Cycle.DoesNotExist):
            raise CommandError(f"no cycle {target!r}") from None
        if action != "show":
            try:
                ACTIONS[action](cycle=cycle, actor=self._user(user))
            except svc.CycleError as exc:
                raise CommandError(str(exc)) from exc
            svc.cycle_advance(cycle_id=cycle.pk)
            cycle = selectors.cycle_get(pk=cycle.pk)
        self._line(cycle)
        for row in selectors.step_rows(cycle):
            self.stdout.write(f"  [{row.state:>7}] {row.label}" + (f" — {row.text}" if row.text else ""))

    def _line(self, cycle):
        waiting = selectors.message(cycle.wait.get("code", ""), cycle.wait.get("params")) if cycle.wait else ""
        self.stdout.write(f"{cycle.pk}\t{cycle.plan.name}\t{cycle.label}\t{cycle.get_step_display()}\t"
                          f"{cycle.get_status_display()}\t{waiting}")

    @staticmethod
    def _user(name):
        if not name:
            return None
        found = get_user_model().objects.filter(username=name).first()
        if found is None:
            raise CommandError(f"no user {name!r}")
        return found
