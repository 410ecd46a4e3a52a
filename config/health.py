"""`/healthz` for load balancers: database and broker reachable -> 200, else 503."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure means "not healthy", which is the answer we give
        logger.warning("healthz: database check failed", exc_info=True)
        return False


def _broker_ok() -> bool:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True  # in-process worker: there is no broker to reach
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.warning("healthz: broker check failed", exc_info=True)
        return False


def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
