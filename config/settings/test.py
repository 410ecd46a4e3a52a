"""Tests: PostgreSQL when DATABASE_URL is set (CI and `make test` with a server), else SQLite."""

import os

import dj_database_url

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES

SECRET_KEY = "test-only-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures
DATABASES["default"] = dj_database_url.parse(
    os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'test.sqlite3'}"
)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "recon_test")}
# Eager by default; the worker tests switch the app to the real Redis broker themselves.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = os.environ.get("TEST_REDIS_URL", "memory://")
