"""Login throttling: per account and per address, on the site's login and the Django admin's."""

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIMIT = 3
PASSWORD = "pw-123456"
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _post(client, username, password, ip, url=LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client, username, ip, times, url=LOGIN):
    return [_post(client, username, "wrong-password", ip, url).status_code for _ in range(times)]


def test_wrong_password_below_the_limit_is_a_form_error_and_the_right_one_logs_in(client):
    UserFactory(username="alice", role="Annotator")
    assert _fail(client, "alice", "10.0.0.1", LIMIT - 1) == [200] * (LIMIT - 1)
    assert _post(client, "alice", PASSWORD, "10.0.0.1").status_code == 302
    assert _logged_in(client)


def test_account_locked_after_limit_even_from_another_address(client):
    UserFactory(username="alice", role="Annotator")
    assert _fail(client, "alice", "10.0.0.1", LIMIT) == [200] * (LIMIT - 1) + [429]
    response = _post(client, "alice", PASSWORD, "10.0.0.2")
    assert response.status_code == 429
    assert not _logged_in(client)
    # Another account from the same second address is not held back by alice's lockout.
    UserFactory(username="bob", role="Annotator")
    assert _post(client, "bob", PASSWORD, "10.0.0.2").status_code == 302


def test_address_locked_after_failures_on_different_accounts(client, hostile_strings):
    UserFactory(username="carol", role="Maintainer")
    names = ["nobody", hostile_strings[0], "carol"]
    statuses = [_post(client, name, "wrong-password", "10.0.0.9").status_code for name in names[:LIMIT]]
    assert statuses == [200] * (LIMIT - 1) + [429]
    assert _post(client, "carol", PASSWORD, "10.0.0.9").status_code == 429
    assert not _logged_in(client)
    # The same account from an address with no failures has fewer than LIMIT failures against it: allowed.
    assert _post(client, "carol", PASSWORD, "10.0.0.10").status_code == 302


def test_admin_login_is_throttled_too(client):
    user = UserFactory(username="root", role="Admin")
    user.is_staff = user.is_superuser = True
    user.save()
    assert _fail(client, "root", "10.0.1.1", LIMIT, url=ADMIN_LOGIN)[-1] == 429
    response = _post(client, "root", PASSWORD, "10.0.1.2", url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert not _logged_in(client)
    assert client.get("/admin/", REMOTE_ADDR="10.0.1.2").status_code == 302  # still sent to log in


def test_site_and_admin_logins_share_one_count(client):
    UserFactory(username="dave", role="Maintainer")
    _fail(client, "dave", "10.0.2.1", LIMIT - 1)
    assert _post(client, "dave", "wrong-password", "10.0.2.2", url=ADMIN_LOGIN).status_code == 429
    assert _post(client, "dave", PASSWORD, "10.0.2.3").status_code == 429


@pytest.mark.parametrize(
    "language,title,retry",
    [("zh-hans", "登录失败次数过多", "后再试"), ("en", "Too many failed login attempts", "Try again after")],
)
def test_lockout_page_is_a_site_page_in_the_users_language(client, language, title, retry):
    UserFactory(username="erin", role="Annotator")
    _fail(client, "erin", "10.0.3.1", LIMIT)
    response = _post(client, "erin", PASSWORD, "10.0.3.1", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 429
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert title in page and retry in page
    assert 'id="lockout-retry"' in page
    # The end of the lockout: the cool-off after the last failure, also as a Retry-After header.
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert ("15 分钟" if language == "zh-hans" else "15 minutes") in page


def test_refused_attempts_during_a_lockout_do_not_extend_it(client):
    UserFactory(username="fay", role="Annotator")
    _fail(client, "fay", "10.0.4.1", LIMIT)
    first = AccessAttempt.objects.get(username="fay").attempt_time
    _fail(client, "fay", "10.0.4.1", 3)
    assert AccessAttempt.objects.get(username="fay").attempt_time == first


def test_login_works_again_after_the_cool_off(client, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    UserFactory(username="gina", role="Annotator")
    assert _fail(client, "gina", "10.0.5.1", LIMIT)[-1] == 429
    time.sleep(1.2)
    assert _post(client, "gina", PASSWORD, "10.0.5.1").status_code == 302
    assert _logged_in(client)


def test_admin_can_lift_a_lockout_with_the_reset_command(client):
    UserFactory(username="hank", role="Annotator")
    _fail(client, "hank", "10.0.6.1", LIMIT)
    assert _post(client, "hank", PASSWORD, "10.0.6.2").status_code == 429
    call_command("axes_reset_username", "hank")
    assert _post(client, "hank", PASSWORD, "10.0.6.2").status_code == 302


def test_successful_login_clears_the_accounts_failures(client):
    UserFactory(username="ivy", role="Annotator")
    _fail(client, "ivy", "10.0.7.1", LIMIT - 1)
    assert _post(client, "ivy", PASSWORD, "10.0.7.1").status_code == 302
    client.logout()
    _fail(client, "ivy", "10.0.7.2", LIMIT - 1)
    assert _post(client, "ivy", PASSWORD, "10.0.7.2").status_code == 302


def test_logging_into_ones_own_account_does_not_clear_the_addresss_failures(client):
    UserFactory(username="mallory", role="Annotator")
    UserFactory(username="victim", role="Admin")
    _fail(client, "victim", "10.0.8.1", LIMIT - 1)
    assert _post(client, "mallory", PASSWORD, "10.0.8.1").status_code == 302
    client.logout()
    assert _post(client, "victim2", "guess", "10.0.8.1").status_code == 429


def test_every_failure_and_the_lockout_are_recorded_and_shown_to_admins(client):
    UserFactory(username="jack", role="Annotator")
    _fail(client, "jack", "10.0.9.1", LIMIT)
    failures = list(AccessFailureLog.objects.filter(username="jack").order_by("attempt_time", "id"))
    assert len(failures) == LIMIT
    assert [f.locked_out for f in failures] == [False] * (LIMIT - 1) + [True]
    assert {f.ip_address for f in failures} == {"10.0.9.1"}
    attempt = AccessAttempt.objects.get(username="jack")
    assert attempt.failures_since_start == LIMIT
    assert "wrong-password" not in attempt.post_data  # the password is never stored

    boss = UserFactory(username="boss", role="Admin")
    boss.is_staff = boss.is_superuser = True
    boss.save()
    client.force_login(boss)
    page = client.get(reverse("admin:axes_accessfailurelog_changelist")).content.decode()
    assert "jack" in page and "10.0.9.1" in page
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 200
