"""Production settings: refuse to guess secrets, and pass Django's deployment checks with no warnings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    # Browser tests allow async-unsafe ORM calls in this process; production checks must not inherit that.
    drop = {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True)


def test_check_deploy_passes_with_no_warnings_in_production_mode():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-0123456789", ALLOWED_HOSTS="livesec.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key_or_hosts():
    no_key = manage("check", DEBUG="0", ALLOWED_HOSTS="livesec.example.org")
    assert no_key.returncode != 0 and "SECRET_KEY" in no_key.stderr
    no_hosts = manage("check", DEBUG="0", SECRET_KEY="y" * 60)
    assert no_hosts.returncode != 0 and "ALLOWED_HOSTS" in no_hosts.stderr


def test_seed_demo_refuses_to_run_in_production():
    result = manage("seed_demo", DEBUG="0", SECRET_KEY="z" * 60, ALLOWED_HOSTS="livesec.example.org")
    assert result.returncode != 0 and "DEBUG=0" in result.stderr


def test_sqlite_takes_the_write_lock_when_a_transaction_starts():
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    else:
        assert db["ENGINE"] == "django.db.backends.postgresql"


def test_prepared_statements_are_configurable_on_postgresql_and_a_bad_value_is_refused():
    pg = "postgres://postgres@127.0.0.1:5432/livesec_settings_check"
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    default = manage("shell", "-v", "0", "-c", show, DATABASE_URL=pg)
    assert default.returncode == 0 and default.stdout.strip() == "5", default.stderr
    off = manage("shell", "-v", "0", "-c", show, DATABASE_URL=pg, DB_PREPARE_THRESHOLD="off")
    assert off.returncode == 0 and off.stdout.strip() == "None", off.stderr
    bad = manage("check", DATABASE_URL=pg, DB_PREPARE_THRESHOLD="sometimes")
    assert bad.returncode != 0 and "DB_PREPARE_THRESHOLD" in bad.stderr


def test_a_redis_broker_waits_longer_than_any_task_before_it_hands_an_unacknowledged_task_out_again():
    show = "from config.celery import app; c = app.conf; print(c.task_acks_late, c.task_reject_on_worker_lost, " \
           "c.worker_prefetch_multiplier, c.broker_transport_options.get('visibility_timeout'))"
    default = manage("shell", "-c", show, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert default.stdout.splitlines()[-1].split() == ["True", "True", "1", str(6 * 3600)], default.stderr
    longer = manage("shell", "-c", show, CELERY_BROKER_URL="redis://127.0.0.1:6379/0", CELERY_VISIBILITY_TIMEOUT="86400")
    assert longer.stdout.splitlines()[-1].split()[-1] == "86400", longer.stderr
