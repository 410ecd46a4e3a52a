"""`make run`: DATABASE_URL, else the embedded PostgreSQL in var/postgres that `make run`
starts (config/embedded_db.py); Celery eager unless REDIS_URL is set."""

from config import embedded_db

from .base import *  # noqa: F403
from .base import DATABASE_URL, env_bool, postgresql_database

DEBUG = env_bool("DEBUG", default=True)

if not DATABASE_URL:
    DATABASES = {"default": postgresql_database(embedded_db.database_url())}

# The embedded server's data and the static root live in the ignored var/ folder.
VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
