"""`/healthz` for load balancers: database and broker reachable -> 200, else 503.

The database is checked on a fresh connection of its own with a short connect and
statement timeout (HEALTHZ_DB_TIMEOUT_SECONDS): the request's persistent connection would
wait for a frozen server as long as the kernel keeps acknowledging (SIGSTOP, a hung
host), and a balancer needs its answer within seconds. A fresh connection also proves
that new connections work, which is what the next requests need, and recovers by itself.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    timeout = settings.HEALTHZ_DB_TIMEOUT_SECONDS
    connection = connections[DEFAULT_DB_ALIAS]
    settings_dict = {
        **connection.settings_dict,
        "OPTIONS": {
            **connection.settings_dict["OPTIONS"],
            "connect_timeout": timeout,
            "options": f"-c statement_timeout={timeout * 1000}",
        },
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
    }
    probe = type(connection)(settings_dict, alias="healthz")
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any failure means "not healthy", which is the answer we give
        logger.warning("healthz: database check failed", exc_info=True)
        return False
    finally:
        probe.close()


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
