"""Settings shared by every environment. Environment variables are read here and nowhere else."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Lets the code subscript Django's generic classes (QuerySet[Run], admin.ModelAdmin[Run]) at
# run time, as django-stubs types them for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-change-me")
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "ledgers",
    "reconciliation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",
    # Web statement/lock timeouts, and 503 instead of 500 when the database is gone.
    "config.database.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# The API's paths have no trailing slash (seed route list); never redirect a POST.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only (STYLE.md §2): one implementation of every query, proven where it runs.
# Unset, local.py falls back to the embedded server of `make run`; production and test
# settings refuse to start.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", "60"))

# --- Database outages (issue #13 §3) -------------------------------------------------------
# Every process: give up connecting after DB_CONNECT_TIMEOUT s (a stopped or frozen server
# otherwise hangs the caller for as long as TCP retries), and TCP keepalives plus a user
# timeout so a connection to a host that vanished (network cut, VM frozen) fails within about
# a minute instead of the kernel's two hours. Keepalives cannot tell a SIGSTOPped server
# process from a slow one (its kernel still acknowledges), which is why /healthz checks on a
# fresh connection of its own (config/health.py). Unix sockets ignore the TCP options.
DB_CONNECT_TIMEOUT = int(os.environ.get("DB_CONNECT_TIMEOUT", "3"))
DB_KEEPALIVES_IDLE = int(os.environ.get("DB_KEEPALIVES_IDLE", "30"))
DB_KEEPALIVES_INTERVAL = int(os.environ.get("DB_KEEPALIVES_INTERVAL", "10"))
DB_KEEPALIVES_COUNT = int(os.environ.get("DB_KEEPALIVES_COUNT", "3"))
# Web requests only (config.database.WebDatabaseTimeoutsMiddleware sets them on the
# connections it opens): a runaway statement or a lock queue ends as a 503 well before
# gunicorn's worker timeout (120 s in docker-compose.yml). Workers, commands (migrate,
# benchmark) and the test suite run without them: a 1M x 1M auto-match legitimately runs
# minutes. The web statement limit still leaves room for a 1M-row CSV upload (~35 s).
DB_WEB_STATEMENT_TIMEOUT_MS = int(os.environ.get("DB_WEB_STATEMENT_TIMEOUT_MS", "60000"))
DB_WEB_LOCK_TIMEOUT_MS = int(os.environ.get("DB_WEB_LOCK_TIMEOUT_MS", "10000"))
# /healthz: its own connection, answering 503 after at most this long (psycopg's minimum
# connect timeout is 2 s).
HEALTHZ_DB_TIMEOUT_SECONDS = int(os.environ.get("HEALTHZ_DB_TIMEOUT_SECONDS", "2"))
# The check of a reused connection before a request's first query (CONN_HEALTH_CHECKS) gives
# up after this long, so a frozen server costs a request this plus DB_CONNECT_TIMEOUT, not a
# hang (config/postgresql/base.py).
DB_HEALTH_CHECK_TIMEOUT_SECONDS = float(os.environ.get("DB_HEALTH_CHECK_TIMEOUT_SECONDS", "2"))
# The Retry-After of a 503 for a database outage or timeout.
DB_UNAVAILABLE_RETRY_AFTER_SECONDS = int(os.environ.get("DB_UNAVAILABLE_RETRY_AFTER_SECONDS", "5"))


def database_connection_options() -> dict[str, Any]:
    """The libpq options every process connects with (see above)."""
    return {
        "connect_timeout": DB_CONNECT_TIMEOUT,
        "keepalives": 1,
        "keepalives_idle": DB_KEEPALIVES_IDLE,
        "keepalives_interval": DB_KEEPALIVES_INTERVAL,
        "keepalives_count": DB_KEEPALIVES_COUNT,
        # Unacknowledged data (the host is gone) fails the connection after this long.
        "tcp_user_timeout": (DB_KEEPALIVES_IDLE + DB_KEEPALIVES_INTERVAL * DB_KEEPALIVES_COUNT)
        * 1000,
    }


# --- end of database outages ----------------------------------------------------------------


def postgresql_database(url: str) -> dict[str, Any]:
    """Django's DATABASES entry for `url`, which must name a PostgreSQL database."""
    try:
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    if config["ENGINE"] != "django.db.backends.postgresql":
        scheme = url.split(":", 1)[0]
        raise ImproperlyConfigured(
            f"DATABASE_URL names a {scheme!r} database, but this service runs on PostgreSQL "
            "only (SQLite and other databases are not supported). Set "
            "DATABASE_URL=postgres://user:password@host:5432/name, or leave it unset under "
            "`make run` for the embedded PostgreSQL."
        )
    # Options given in the URL's query string win over the defaults.
    config["OPTIONS"] = {**database_connection_options(), **config.get("OPTIONS", {})}
    # Django's backend with a health check that has a deadline (config/postgresql/base.py).
    config["ENGINE"] = "config.postgresql"
    return config


DATABASES = {"default": postgresql_database(DATABASE_URL)} if DATABASE_URL else {}
# Services, admin, tasks and commands own their transactions (STYLE.md §3).
ATOMIC_REQUESTS = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Uploads: the size limit is checked before parsing (413); anything bigger than the
# in-memory threshold streams to a temporary file so a 50 MB statement never sits in RAM twice.
STATEMENT_MAX_UPLOAD_BYTES = int(os.environ.get("STATEMENT_MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024  # JSON bodies: 10,000 GL entries fit comfortably
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous call with the first class's challenge, so 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ledgers.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.LimitOffsetPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "config.api.FilterBackend",
        "config.api.StrictOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON only (API.md); the statement upload declares multipart on its own view.
    "DEFAULT_PARSER_CLASSES": ["ledgers.api.fields.DecimalJSONParser"],
    "DEFAULT_METADATA_CLASS": "config.metadata.ApiMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_standardized_errors.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "ORDERING_PARAM": "ordering",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    # Maps a lost or timed-out database to 503 `service_unavailable` (issue #13 §3).
    "EXCEPTION_HANDLER_CLASS": "config.api.DomainExceptionHandler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Bank reconciliation API",
    "DESCRIPTION": (
        "Imports bank statements (CSV, ISO 20022 camt.053), matches them against a ledger's "
        "GL entries and exposes the review workflow. Money is always a decimal string."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are validated as written (no partial=True): `note` is required in
    # PATCH .../runs/{id}; a "Patched" copy with every field optional would say otherwise.
    "COMPONENT_SPLIT_PATCH": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "reconciliation.choices.RunStatus",
        "MatchStatusEnum": "reconciliation.choices.MatchStatus",
        "ItemMatchStatusEnum": "reconciliation.choices.SourceEntryMatchStatus",
        "SourceFileStatusEnum": "reconciliation.choices.SourceFileStatus",
        "DiscrepancyStatusEnum": "reconciliation.choices.DiscrepancyStatus",
        "CloseReasonEnum": "reconciliation.choices.CloseReason",
        "ReconciliationStatusEnum": "ledgers.choices.ReconciliationStatus",
        "CurrencyEnum": "ledgers.money.CURRENCY_CODES",
        "SourceFileFormatEnum": "reconciliation.choices.SourceFileFormat",
        "ValidationErrorEnum": (
            "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices"
        ),
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "config.schema.postprocess_errors_and_strict_inputs",
    ],
}

# Per-process memory: it holds only the run counts, keyed by each run's counts_version, so
# a process never serves counts older than the run row it read, and a Redis outage cannot
# turn a page view into an error.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
}

# Run counts (reconciliation.selectors.run_counts_attach), keyed by the run's
# counts_version: shared by every web worker through Redis when REDIS_URL is set, so one
# recount serves them all; local memory while Redis is down (config/cache.py), so an
# outage costs recounts, never a 500.
RUN_COUNTS_CACHE_URL = os.environ.get("RUN_COUNTS_CACHE_URL", "") or os.environ.get("REDIS_URL", "")
CACHES["run_counts"] = (
    {
        "BACKEND": "config.cache.RedisWithLocalFallback",
        "LOCATION": RUN_COUNTS_CACHE_URL,
        "KEY_PREFIX": "recon",
    }
    if RUN_COUNTS_CACHE_URL
    else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "run_counts",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
)

# Celery: state lives on the Run row, so results are ignored; acks late + reject on worker
# lost means a killed worker's task is redelivered, and the task time limit stays below the
# Redis visibility timeout so a task that is still running is never delivered twice.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Without Redis, tasks run in-process (eager). Eager mode still takes a producer from the
# broker's pool: "memory://" without a host makes kombu warn, on every task, that it
# reverts to localhost, which reads like a broker outage on a first `make run`.
IN_PROCESS_BROKER_URL = "memory://localhost/"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or IN_PROCESS_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 28 * 60
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60 * 60}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Matching hand-off and recovery (reconciliation/services/auto_match.py): the upload writes a
# match request (outbox) in its transaction; the sweep delivers undelivered requests and
# re-queues runs whose worker stopped heart-beating. A dead worker's run is matched again
# within RUN_LEASE_SECONDS + RUN_SWEEP_SECONDS.
RUN_SWEEP_SECONDS = float(os.environ.get("RUN_SWEEP_SECONDS", "10"))
RUN_HEARTBEAT_SECONDS = float(os.environ.get("RUN_HEARTBEAT_SECONDS", "10"))
RUN_LEASE_SECONDS = float(os.environ.get("RUN_LEASE_SECONDS", "45"))
# Lost leases (worker killed, message lost) before the run fails with `stale_run`.
RUN_MATCH_MAX_ATTEMPTS = int(os.environ.get("RUN_MATCH_MAX_ATTEMPTS", "3"))
# Database errors during a match: retry after base * 2^n seconds (capped, 75-100 % of it, so
# workers that failed together do not return together). 12 retries wait at least 6 minutes.
RUN_MATCH_RETRY_BASE_SECONDS = float(os.environ.get("RUN_MATCH_RETRY_BASE_SECONDS", "2"))
RUN_MATCH_RETRY_MAX_SECONDS = float(os.environ.get("RUN_MATCH_RETRY_MAX_SECONDS", "60"))
RUN_MATCH_MAX_RETRIES = int(os.environ.get("RUN_MATCH_MAX_RETRIES", "12"))
# Scale-out (reconciliation/services/match_parts.py): a run with at least
# RUN_MATCH_PARTITION_MIN_ROWS free bank rows in two or more (account, currency) parts is
# matched by up to RUN_MATCH_WORKERS Celery tasks at once, one part each at a time. 1 keeps
# every run in one task; set it to the workers' total concurrency.
RUN_MATCH_WORKERS = int(os.environ.get("RUN_MATCH_WORKERS", "1"))
RUN_MATCH_PARTITION_MIN_ROWS = int(os.environ.get("RUN_MATCH_PARTITION_MIN_ROWS", "20000"))
CELERY_BEAT_SCHEDULE = {
    "recover-stale-runs": {
        "task": "reconciliation.recover_stale_runs",
        "schedule": timedelta(seconds=RUN_SWEEP_SECONDS),
        # While no worker runs, beat would pile up a sweep per interval; one is enough.
        "options": {"expires": RUN_SWEEP_SECONDS},
    },
    "expire-idempotency-records": {
        "task": "ledgers.expire_idempotency_records",
        "schedule": timedelta(hours=1),
    },
    "purge-api-tokens-and-login-counters": {
        "task": "ledgers.purge_api_tokens_and_login_counters",
        "schedule": timedelta(hours=6),
    },
}

# Domain settings.
IDEMPOTENCY_KEY_TTL = timedelta(hours=int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "48")))
RUN_STALE_AFTER = timedelta(minutes=int(os.environ.get("RUN_STALE_AFTER_MINUTES", "45")))
GL_BULK_MAX = 10_000
DISCREPANCY_SEVERITY = {
    # |amount| at or above -> severity; age in days of the oldest date involved -> raise one level
    "warning_amount": os.environ.get("DISCREPANCY_WARNING_AMOUNT", "100.00"),
    "critical_amount": os.environ.get("DISCREPANCY_CRITICAL_AMOUNT", "10000.00"),
    "warning_age_days": int(os.environ.get("DISCREPANCY_WARNING_AGE_DAYS", "7")),
    "critical_age_days": int(os.environ.get("DISCREPANCY_CRITICAL_AGE_DAYS", "30")),
}

# Authentication (API.md "Auth", issue #12 §2).
# Each login issues a fresh API token valid for this many days; revoked and expired tokens
# are kept API_TOKEN_RETENTION longer (so their use answers token_expired/token_revoked),
# then purged. last_used_at is written at most once per resolution window, not per request.
API_TOKEN_TTL = timedelta(days=max(1, int(os.environ.get("API_TOKEN_TTL_DAYS", "30"))))
API_TOKEN_RETENTION = timedelta(days=int(os.environ.get("API_TOKEN_RETENTION_DAYS", "30")))
API_TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=15)
# Failed logins (API token route and admin login), counted in PostgreSQL per username and
# per client address: after N failures the key is locked for lockout_seconds, doubling with
# each further failure up to lockout_max_seconds; counts are forgotten window_seconds after
# the last failure or lock.
LOGIN_THROTTLE = {
    "username_failures": int(os.environ.get("LOGIN_USERNAME_FAILURES", "5")),
    "address_failures": int(os.environ.get("LOGIN_ADDRESS_FAILURES", "20")),
    "lockout_seconds": int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "60")),
    "lockout_max_seconds": int(os.environ.get("LOGIN_LOCKOUT_MAX_SECONDS", "3600")),
    "window_seconds": int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "3600")),
}
# Who the client is: the socket address (REMOTE_ADDR) unless the request came through
# proxies we trust. TRUSTED_PROXIES (CIDRs, e.g. "10.0.0.0/8,127.0.0.1/32"): walk
# X-Forwarded-For from the right past trusted hops. Or NUM_PROXIES: that many hops in
# front of the app each append one entry. Neither set: X-Forwarded-For is ignored.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
NUM_PROXIES = int(os.environ.get("NUM_PROXIES", "0"))

# Admin pages' Content-Security-Policy hashes the static inline scripts found here.
CSP_TEMPLATE_DIRS = [BASE_DIR / "templates" / "admin"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
