"""Entry points of a spawned benchmark phase (imported before Django is set up).

Nothing here may import models at module level: the child unpickles these functions
first and only then runs `init()`, which sets Django up.
"""

from __future__ import annotations

import os
from typing import Any


def init(db_name: str, settings_module: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = db_name
    # Production runs with DEBUG off; with it on, Django would keep every statement's SQL
    # (bulk inserts included) in memory and the peak RSS would measure that log.
    settings.DEBUG = False


def call(function: str, kwargs: dict[str, Any]) -> Any:
    from django.db import connections

    from benchmarks import scenarios

    try:
        return getattr(scenarios, function)(**kwargs)
    finally:
        connections.close_all()
