"""Tests: the PostgreSQL of DATABASE_URL, which `make test` sets (scripts/test.sh: the
server on 127.0.0.1:5432 when one answers, else an embedded one it starts)."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASE_URL, IN_PROCESS_BROKER_URL, postgresql_database

if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: run the suite with `make test`, which finds or starts "
        "PostgreSQL, or set DATABASE_URL=postgres://user@host:5432/postgres yourself."
    )
SECRET_KEY = "test-only-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures
DATABASES = {"default": postgresql_database(DATABASE_URL)}
# Each test's connection is closed at its end, as pytest-django expects.
DATABASES["default"].update(CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "recon_test")}
# Eager by default; the worker tests switch the app to the real Redis broker themselves.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = os.environ.get("TEST_REDIS_URL", IN_PROCESS_BROKER_URL)
