"""Django's PostgreSQL backend with a health check that cannot hang (issue #13 §3).

Django checks a persistent connection (CONN_HEALTH_CHECKS) with `SELECT 1` before the first
query of each request. Against a frozen server (SIGSTOP, a hung VM) that check waits as long
as the server's kernel keeps acknowledging, so every request of a web worker that already
held a connection hung until gunicorn's timeout, while new connections gave up after
DB_CONNECT_TIMEOUT. Here the check has a deadline (DB_HEALTH_CHECK_TIMEOUT_SECONDS): past it
the connection is dropped, Django connects afresh, and that either works or fails within the
connect timeout -> 503. The ping speaks libpq directly because psycopg has no per-query
client-side timeout, and server-side `statement_timeout` needs a server that runs.
"""

from __future__ import annotations

import select
import time

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import pq


def ping(pgconn: pq.abc.PGconn, *, timeout: float) -> bool:
    """True when the server answers `SELECT 1` within `timeout` seconds."""
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False  # mid-transaction or broken: not a connection to hand to a new request
    deadline = time.monotonic() + timeout
    try:
        pgconn.send_query(b"SELECT 1")
        while pgconn.flush():  # non-blocking connections may not send everything at once
            if not _wait(pgconn.socket, deadline, write=True):
                return False
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            if not _wait(pgconn.socket, deadline, write=False):
                return False
        ok = True
        while (result := pgconn.get_result()) is not None:
            ok = ok and result.status == pq.ExecStatus.TUPLES_OK
        return ok
    except Exception:  # psycopg.OperationalError and friends: the connection is gone
        return False


def _wait(fileno: int, deadline: float, *, write: bool) -> bool:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    poller = select.poll()  # not select.select: a busy process may hold fds past 1024
    poller.register(fileno, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(remaining * 1000))


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        return ping(self.connection.pgconn, timeout=settings.DB_HEALTH_CHECK_TIMEOUT_SECONDS)
