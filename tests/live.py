"""Helpers for tests that start processes of their own against the test database."""

from __future__ import annotations

import socket
from urllib.parse import quote


def redis_up() -> bool:
    """Whether Redis answers on 127.0.0.1:6379, where the worker tests expect it."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def subprocess_database_url() -> str:
    """A DATABASE_URL for the test database, for a process a test starts (a worker, a
    live server). The host may be a Unix socket directory (the embedded server)."""
    from django.db import connection

    settings = connection.settings_dict
    user = quote(settings["USER"] or "", safe="")
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings["PASSWORD"] else ""
    host = quote(settings["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{user}{password}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"
