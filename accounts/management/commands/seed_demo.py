from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_USERS, demo_hooks
from accounts.roles import ADMIN, ensure_role_groups


class Command(BaseCommand):
    help = "Load the taxonomy and demo data and create the demo users (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates users with known passwords; it refuses to run with DEBUG=0")
        call_command("load_taxonomy", stdout=self.stdout)
        ensure_role_groups()
        User = get_user_model()
        for username, role, password in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = role == ADMIN
                user.is_superuser = role == ADMIN
                user.save()
            user.groups.add(Group.objects.get(name=role))
        demo = Path(settings.BASE_DIR) / "fixtures" / "demo_items.json"
        # By question_id, not by text: a demo item edited in review must not come back as a new near-duplicate.
        call_command("import_items", str(demo), skip_existing_ids=True, stdout=self.stdout)
        for hook in demo_hooks():
            hook(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo logins (username / password):"))
        for username, role, password in DEMO_USERS:
            self.stdout.write(f"  {username:<12} {password:<18} {role}")

