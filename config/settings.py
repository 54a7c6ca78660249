"""LiveSec Studio settings: one file, driven by the environment (see .env.example)."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = env_bool("DEBUG", True)

if DEBUG:
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-insecure-key-change-me-livesec-studio-0123456789"
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
else:
    # Production refuses to guess: the operator must say who we are and where we live.
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG=0")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set in the environment when DEBUG=0")

VAR_DIR = Path(os.environ.get("LIVESEC_VAR_DIR", BASE_DIR / "var"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "accounts",
    "llm",
    "curation",
    "releases",
    "generation",
    "annotation",
    "evaluation",
    "cycles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A path with NUL in it never reaches a view (PostgreSQL cannot look it up); after the middleware its 400
    # page needs (session, language, user).
    "config.middleware.RefuseNulInPath",
    # Last, so the lockout page it returns is rendered with the session, language and user already set.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.roles",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'livesec.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so two claims can never interleave;
    # WAL lets readers go on while one writer holds it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # One test database per test process, so two test runs on one machine never share a file.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test-livesec-{os.getpid()}.sqlite3")

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side parameter binding: bulk inserts send values as parameters instead of quoting them in Python.
    # Statements run again and again (the claim, the submit, page queries) are prepared once per connection
    # after DB_PREPARE_THRESHOLD runs, so PostgreSQL stops planning them each time. Set it to "off" behind a
    # pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
    _prepare = os.environ.get("DB_PREPARE_THRESHOLD", "5").strip().lower()
    if _prepare in ("off", "none", ""):
        _prepare_threshold = None
    elif _prepare.isdigit():
        _prepare_threshold = int(_prepare)
    else:
        raise ImproperlyConfigured(f"DB_PREPARE_THRESHOLD is a number of runs or 'off', not {_prepare!r}")
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": _prepare_threshold}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Login throttling (django-axes): AxesStandaloneBackend refuses a locked-out account or address before the
# password is checked. Failures are counted per account and, separately, per client address; past the limit
# within the cool-off window every login from that account or address is refused with the lockout page
# (429) until the window has passed since its last failure. Every failure and lockout is kept in the database
# (AccessAttempt, AccessFailureLog), shown in the Django admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_HANDLER = "accounts.throttle.LoginAttemptHandler"  # a success clears only its own account's failures
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout"
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# A refused attempt during a lockout does not push its end further: the page can then say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password"]  # log lines name the account and address; passwords never
# Behind a reverse proxy every request comes from the proxy's address: name the header it sets (e.g.
# HTTP_X_FORWARDED_FOR) and how many proxies stand in front, or all visitors share one per-address count.
AXES_IPWARE_META_PRECEDENCE_ORDER = tuple(env_list("LOGIN_CLIENT_IP_HEADERS", ["REMOTE_ADDR"]))
AXES_IPWARE_PROXY_COUNT = int(os.environ["LOGIN_PROXY_COUNT"]) if os.environ.get("LOGIN_PROXY_COUNT") else None

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Production hardening; all of it is on whenever DEBUG is off.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie: the token comes from the page, but the admin JS may.
# Only the site's own scripts and styles, in static files: no inline <script>, <style>, style="…" or on…=
# handlers, no eval. Scripts may still set styles through the CSSOM (el.style.x = …), which CSP allows.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# At most 1 MB of form fields or JSON per request (files of an upload do not count): more is no text anyone
# types, and is refused with 413 (config.errors, core.parsers) before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    # JSON with the size limit above and no NUL or unpaired surrogate in any string (core.parsers).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StorableJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call is told to authenticate (401) rather than refused (403).
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsAnyRole"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LiveSec Studio API",
    "DESCRIPTION": "Curate, review, release and evaluate a living Chinese LLM safety benchmark.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two choice sets are both called "decision": an annotator's and an adjudicator's.
    "ENUM_NAME_OVERRIDES": {
        "AnnotationDecisionEnum": "annotation.models.Annotation.Decision",
        "AdjudicationDecisionEnum": [("approved", "approved"), ("rejected", "rejected")],
        # Several models have a `status` with their own choices: name each enum instead of a hash suffix.
        "PromptStatusEnum": "curation.models.Prompt.Status",
        "RunStatusEnum": "generation.models.GenerationRun.Status",
        "BatchStatusEnum": "generation.models.GenerationBatch.Status",
        "ReleaseStatusEnum": "releases.models.Release.Status",
        # Generation runs and evaluation runs both have a `mode`.
        "GenerationModeEnum": "generation.models.GenerationRun.Mode",
        "EvalModeEnum": "evaluation.models.EvalRun.Mode",
    },
}

# Celery: Redis in production; a folder on disk otherwise, so `make run` needs no service.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Without a host kombu warns "No hostname was supplied" each time it connects; the transport ignores the
    # host (config/celery.py does the same for the environment variable, which Celery reads first).
    if CELERY_BROKER_URL.rstrip("/") == "filesystem:":
        CELERY_BROKER_URL = "filesystem://localhost//"
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # With acks_late a task stays unacknowledged while it runs; Redis hands it to another worker once it has been
    # unacknowledged this long. Longer than any task (6 h); even then the copy is harmless: freezes share their
    # chunks, exports, generation runs and evaluation shards hold leases. A killed worker's tasks are picked up
    # by the recovery every worker runs as it starts, not after this timeout (docs/workers.md).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(6 * 3600))),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE

# Redis, when there is one, also backs the LLM rate limits shared by all worker processes.
REDIS_URL = os.environ.get("REDIS_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# One handler, on the root logger. Django's default config also gives the "django" logger a console handler
# of its own (active with DEBUG on), and its records propagate to the root as well: each one was printed twice.
# Emptying that logger's handlers leaves the root's. A refused request (403, 404) is one warning line; a server
# error keeps its traceback.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_error_without_traceback": {"()": "config.log_filters.ClientErrorWithoutTraceback"}},
    "formatters": {"plain": {"format": "[{asctime}] {levelname} {name}: {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": ["client_error_without_traceback"]},
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}

# LLM client: bounded retries with backoff; tests shorten the waits.
LLM_CLIENT_OPTIONS = {
    "max_attempts": int(os.environ.get("LLM_MAX_ATTEMPTS", "5")),
    "backoff_base": float(os.environ.get("LLM_BACKOFF_BASE", "0.5")),
    "backoff_cap": float(os.environ.get("LLM_BACKOFF_CAP", "20")),
    "retry_after_cap": float(os.environ.get("LLM_RETRY_AFTER_CAP", "30")),
}
# An LLM reply body larger than this (bytes, decoded) is refused as an error; redirects are never followed and a
# reply must arrive within the endpoint's timeout in total (llm/client.py).
LLM_MAX_RESPONSE_BYTES = int(os.environ.get("LLM_MAX_RESPONSE_BYTES", str(4 << 20)))
# Redis limiter: a concurrency slot of a process that died (SIGKILL) is free again after this many seconds; live
# holders renew theirs every third of it. Until then a restarted worker waits for the dead one's slots.
LLM_LIMITER_LEASE_SECONDS = float(os.environ.get("LLM_LIMITER_LEASE_SECONDS", "60"))
# Generation: a run holds a lease while it executes; a worker that finds an expired lease (or a dead
# owner on this host) takes the run over.
GENERATION_LEASE_SECONDS = float(os.environ.get("GENERATION_LEASE_SECONDS", "60"))
GENERATION_BATCH_SIZE = int(os.environ.get("GENERATION_BATCH_SIZE", "10"))
# Releases: a freeze commits this many items per chunk (its resume point); an export writes Parquet row groups
# of this many rows and renews its writer's lease after each; an export whose writer stopped renewing for this
# long may be taken over by another worker.
RELEASE_FREEZE_CHUNK = int(os.environ.get("RELEASE_FREEZE_CHUNK", "5000"))
RELEASE_EXPORT_ROW_GROUP = int(os.environ.get("RELEASE_EXPORT_ROW_GROUP", "5000"))
RELEASE_EXPORT_LEASE_SECONDS = float(os.environ.get("RELEASE_EXPORT_LEASE_SECONDS", "120"))
# Evaluation: shards hold leases like generation runs; answers are collected in chunks of this many items per
# target (default: 250 on Redis, 5000 on the embedded on-disk broker, which handles few tasks well).
EVAL_LEASE_SECONDS = float(os.environ.get("EVAL_LEASE_SECONDS", os.environ.get("GENERATION_LEASE_SECONDS", "60")))
EVAL_ANSWER_CHUNK = int(os.environ.get("EVAL_ANSWER_CHUNK", "0")) or None
# The claim, submit and consensus decision run as hand-written PostgreSQL (core.db.fast_path); off, they run
# on their ORM versions, the specification (the equivalence test compares the two).
SQL_FAST_PATH = env_bool("SQL_FAST_PATH", True)
DEDUP_NEAR_THRESHOLD = float(os.environ.get("DEDUP_NEAR_THRESHOLD", "0.8"))
DEDUP_INDEX_DIR = Path(os.environ.get("DEDUP_INDEX_DIR") or VAR_DIR / "dedup")
REVIEW_KEY_GUARD_MS = int(os.environ.get("REVIEW_KEY_GUARD_MS", "400"))  # ms a new review item ignores keys
# Event sources (generation/event_sources.py): a feed reply is refused past this size (bytes) or time (seconds, in
# total); a feed host that resolves to a loopback/private/reserved address is refused unless it is listed in
# EVENT_FETCH_ALLOW_HOSTS or EVENT_FETCH_ALLOW_PRIVATE is on (tests serve feeds on 127.0.0.1). Folder sources
# read only below EVENT_FOLDER_ROOT. Celery beat looks for due sources every EVENT_FETCH_BEAT_MINUTES.
EVENT_FETCH_TIMEOUT = float(os.environ.get("EVENT_FETCH_TIMEOUT", "15"))
EVENT_FETCH_MAX_BYTES = int(os.environ.get("EVENT_FETCH_MAX_BYTES", str(2 << 20)))
EVENT_FETCH_ALLOW_PRIVATE = env_bool("EVENT_FETCH_ALLOW_PRIVATE", False)
EVENT_FETCH_ALLOW_HOSTS = env_list("EVENT_FETCH_ALLOW_HOSTS", [])
EVENT_FOLDER_ROOT = Path(os.environ.get("EVENT_FOLDER_ROOT") or VAR_DIR / "event-drop")
EVENT_FETCH_BEAT_MINUTES = float(os.environ.get("EVENT_FETCH_BEAT_MINUTES", "5"))
# The live cycle (cycles/): the beat opens each enabled plan's cycle of the period and moves open cycles on every
# CYCLE_TICK_SECONDS; a failed step is tried again after CYCLE_RETRY_SECONDS (doubling) up to CYCLE_MAX_ATTEMPTS
# times, then waits for a maintainer's retry.
CYCLE_TICK_SECONDS = float(os.environ.get("CYCLE_TICK_SECONDS", "60"))
CYCLE_RETRY_SECONDS = float(os.environ.get("CYCLE_RETRY_SECONDS", "60"))
CYCLE_MAX_ATTEMPTS = int(os.environ.get("CYCLE_MAX_ATTEMPTS", "5"))
CELERY_BEAT_SCHEDULE = {
    "event-sources-fetch-due": {
        "task": "generation.tasks.event_sources_fetch_due_task",
        "schedule": EVENT_FETCH_BEAT_MINUTES * 60,
    },
    "cycles-tick": {
        "task": "cycles.tasks.cycles_tick_task",
        "schedule": CYCLE_TICK_SECONDS,
    },
}
# Lets a test (or a second deployment on one broker) keep its tasks to its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
