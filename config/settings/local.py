"""`make run`: SQLite in var/ unless DATABASE_URL is set; Celery eager unless REDIS_URL is set."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", default=True)

# The quickstart's SQLite file and static root live in the ignored var/ folder.
VAR_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
