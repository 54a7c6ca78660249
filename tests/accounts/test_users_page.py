"""The users page: admins change roles there; the change takes effect at once, is recorded, and is escaped."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import RoleChange
from accounts.roles import ADMIN, ANNOTATOR, MAINTAINER, user_roles
from accounts.services import user_set_role
from tests.conftest import requires_postgres
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _set_role(client, user, role, **extra):
    return client.post(reverse("accounts:user_role", args=[user.pk]), {"role": role}, **extra)


def _session_for(user) -> Client:
    """A second browser: the user's own session, logged in before the change."""
    other = Client()
    other.force_login(user)
    return other


def test_admin_changes_a_role_and_the_users_access_changes_at_once(client, admin):
    bob = UserFactory(username="bob", role=ANNOTATOR)
    other = _session_for(bob)
    assert other.get(reverse("curation:prompt_list")).status_code == 403

    client.force_login(admin)
    response = _set_role(client, bob, MAINTAINER)
    assert response.status_code == 302
    # bob's very next request, in his existing session, has the new role.
    assert other.get(reverse("curation:prompt_list")).status_code == 200
    bob.refresh_from_db()
    assert set(bob.groups.values_list("name", flat=True)) == {MAINTAINER}

    change = RoleChange.objects.get()
    assert (change.username, change.old_role, change.new_role, change.actor_username) == (
        "bob", ANNOTATOR, MAINTAINER, admin.username)

    assert _set_role(client, bob, "").status_code == 302
    assert other.get(reverse("home")).status_code == 403  # no role: no pages
    assert RoleChange.objects.count() == 2


def test_the_page_lists_users_and_searches_by_username(client, admin):
    UserFactory(username="alpha-maint", role=MAINTAINER)
    UserFactory(username="beta-ann", role=ANNOTATOR)
    client.force_login(admin)
    page = client.get(reverse("accounts:users")).content.decode()
    assert "alpha-maint" in page and "beta-ann" in page
    assert "维护者" in page or "Maintainer" in page
    page = client.get(reverse("accounts:users"), {"q": "ALPHA"}).content.decode()
    assert "alpha-maint" in page and "beta-ann" not in page


def test_htmx_change_answers_the_row_with_the_new_role(client, admin):
    bob = UserFactory(username="bob", role=ANNOTATOR)
    client.force_login(admin)
    response = _set_role(client, bob, ADMIN, **HX)
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="user-{bob.pk}"')
    assert f'data-role="{ADMIN}"' in row and "<html" not in row


@pytest.mark.parametrize("role", [ANNOTATOR, MAINTAINER])
def test_other_roles_are_refused(client, role):
    user = UserFactory(username=f"u-{role}", role=role)
    victim = UserFactory(username="victim", role=ANNOTATOR)
    client.force_login(user)
    assert client.get(reverse("accounts:users")).status_code == 403
    assert _set_role(client, victim, ADMIN).status_code == 403
    assert _set_role(client, user, ADMIN).status_code == 403
    assert user_roles(type(user).objects.get(pk=user.pk)) == {role}
    assert not RoleChange.objects.exists()


def test_anonymous_users_are_sent_to_login(client):
    victim = UserFactory(username="victim", role=ANNOTATOR)
    for response in (client.get(reverse("accounts:users")), _set_role(client, victim, ADMIN)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
    assert not RoleChange.objects.exists()


def test_role_change_needs_post(client, admin):
    client.force_login(admin)
    assert client.get(reverse("accounts:user_role", args=[admin.pk]), {"role": ""}).status_code == 405


def test_last_admin_cannot_demote_themself(client, admin):
    client.force_login(admin)
    response = _set_role(client, admin, MAINTAINER, **HX)
    assert "最后一位管理员" in response.content.decode()
    assert set(admin.groups.values_list("name", flat=True)) == {ADMIN}
    assert client.get(reverse("accounts:users")).status_code == 200
    assert not RoleChange.objects.exists()

    # With a second admin, the first may step down.
    UserFactory(username="boss2", role=ADMIN)
    assert _set_role(client, admin, MAINTAINER).status_code == 302
    assert client.get(reverse("accounts:users")).status_code == 403


def test_demoting_a_superuser_takes_superuser_status_away(admin):
    root = UserFactory(username="root")
    root.is_superuser = root.is_staff = True
    root.save()
    user_set_role(user=root, role=ANNOTATOR, actor=admin)
    root.refresh_from_db()
    assert not root.is_superuser and not root.is_staff
    assert user_roles(root) == {ANNOTATOR}


def test_a_superuser_without_groups_counts_as_the_last_admin():
    root = UserFactory(username="root")
    root.is_superuser = True
    root.save()
    with pytest.raises(ValidationError):
        user_set_role(user=root, role="", actor=root)


def test_unknown_role_is_refused(client, admin):
    bob = UserFactory(username="bob", role=ANNOTATOR)
    client.force_login(admin)
    _set_role(client, bob, "Superuser")
    assert set(bob.groups.values_list("name", flat=True)) == {ANNOTATOR}
    assert not Group.objects.filter(name="Superuser").exists()


def test_hostile_usernames_are_escaped(client, admin, hostile_strings):
    users = [UserFactory(username=text[:150]) for text in hostile_strings if "\x00" not in text and text.strip()]
    client.force_login(admin)
    page = client.get(reverse("accounts:users")).content.decode()
    assert "<script>alert('xss')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page
    assert "<img src=x onerror=alert(1)>" not in page
    for user in users:  # each one shown exactly as stored, escaped
        assert escape(user.username) in page
    row = _set_role(client, users[0], MAINTAINER, **HX).content.decode()
    assert "<script>alert" not in row and "&lt;script&gt;" in row


def test_nav_links_the_users_page_for_admins_only(client, admin, maintainer):
    client.force_login(admin)
    assert reverse("accounts:users") in client.get(reverse("home")).content.decode()
    client.force_login(maintainer)
    assert reverse("accounts:users") not in client.get(reverse("home")).content.decode()


@requires_postgres
def test_role_change_log_is_append_only_in_the_database_but_survives_deleting_the_user(admin):
    from django.db import connection, transaction
    from django.db.utils import ProgrammingError

    bob = UserFactory(username="bob", role=ANNOTATOR)
    change = user_set_role(user=bob, role=MAINTAINER, actor=admin)
    for sql in ("UPDATE accounts_rolechange SET new_role = 'Admin'", "DELETE FROM accounts_rolechange"):
        with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    bob.delete()
    kept = RoleChange.objects.get(pk=change.pk)
    assert (kept.user_id, kept.username, kept.new_role) == (None, "bob", MAINTAINER)
