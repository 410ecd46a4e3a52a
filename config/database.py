"""The web side of database outages (issue #13 §3, README "Faults").

- Timeouts: a connection opened while a web request is being served gets the web
  `statement_timeout` and `lock_timeout` (DB_WEB_*_MS) for its whole life. They are session
  settings rather than libpq `options` in DATABASES, because the worker, `migrate` and the
  benchmark use the same DATABASES and legitimately run statements for minutes; and the
  connection is the web process's own (CONN_MAX_AGE), so it never serves anything else.
  A request runs its handler on the thread that opened the connection, so a context
  variable tells `connection_created` whose connection it is.
- 503: an `OperationalError`/`InterfaceError` (server gone, connect timeout, statement or
  lock timeout) escaping a view is not a bug: it answers 503 `service_unavailable` with
  `Retry-After`, in the API's error shape under /v1/ and /healthz and as a plain page
  elsewhere (the admin). DRF views get the same from `config.api.DomainExceptionHandler`;
  `config.api.json_500` covers errors raised outside a view (a middleware's query).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

_serving_request: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "serving_request", default=False
)

JSON_PREFIXES = ("/v1/", "/healthz")


@receiver(connection_created)
def _web_timeouts(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    # Only the configured aliases: /healthz's probe brings its own, shorter timeout.
    if not _serving_request.get() or connection.alias not in settings.DATABASES:
        return
    with connection.cursor() as cursor:
        # Session-level (not SET LOCAL): the connection is reused by the next requests.
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false), "
            "set_config('lock_timeout', %s, false)",
            [f"{settings.DB_WEB_STATEMENT_TIMEOUT_MS}ms", f"{settings.DB_WEB_LOCK_TIMEOUT_MS}ms"],
        )


def is_database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def service_unavailable_response(request: HttpRequest) -> HttpResponse:
    retry_after = str(settings.DB_UNAVAILABLE_RETRY_AFTER_SECONDS)
    response: HttpResponse
    if request.path.startswith(JSON_PREFIXES):
        from config.api import error_body

        response = JsonResponse(
            error_body(
                status=503,
                code="service_unavailable",
                detail="The database is unavailable; retry later.",
            ),
            status=503,
        )
    else:
        response = HttpResponse(
            "Service unavailable: the database cannot be reached. Retry in a few seconds.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    response["Retry-After"] = retry_after
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _serving_request.set(True)
        try:
            return self.get_response(request)
        finally:
            _serving_request.reset(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        logger.warning("database unavailable: %s: %s", type(exception).__name__, exception)
        return service_unavailable_response(request)
