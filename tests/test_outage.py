"""A database that is gone, frozen or locked answers 503 `service_unavailable` with
Retry-After, never a 500 or a hang (issue #13 §3, API.md "Additions").

Real failures, no mocks: the default connection is pointed at a closed port (connection
refused), at a socket that accepts and never answers (a frozen server, as far as the
client can tell), or a row lock is held by another connection past the web lock_timeout.
The process-level "PostgreSQL SIGSTOPped" test is in tests/reliability/.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = "/v1/ledgers/reconciliation/runs"


@contextmanager
def database_at(port: int) -> Iterator[None]:
    """Every new connection of the default alias goes to 127.0.0.1:`port` meanwhile."""
    settings_dict = connections["default"].settings_dict
    saved = settings_dict["HOST"], settings_dict["PORT"]
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(port)
    try:
        yield
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens on it now: connecting is refused at once


@contextmanager
def silent_server() -> Iterator[int]:
    """A listener whose connections are accepted by the kernel and never answered: what a
    client sees of a SIGSTOPped PostgreSQL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


class FreezableProxy:
    """A TCP relay in front of the test server that can stop relaying while keeping both
    sockets open: to the client, exactly a SIGSTOPped PostgreSQL behind an established
    connection (the kernel still acknowledges, nothing answers)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._relay, args=(a, b), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                while self.frozen.is_set():  # hold the bytes; never answer
                    time.sleep(0.05)
                sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.frozen.clear()
        for sock in self.sockets:
            sock.close()


def assert_503(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    body: dict[str, Any] = response.json()
    assert body["type"] == "server_error"
    assert body["errors"][0]["code"] == "service_unavailable"
    return body


def test_an_api_request_without_a_database_is_503_and_recovers(
    api_client_for: Any, cast: Any
) -> None:
    client = api_client_for("alice")
    with database_at(closed_port()):
        assert_503(client.get("/v1/ledgers"))
        assert_503(client.post(RUNS, {"ledger_id": "x"}, format="json"))
    assert client.get("/v1/ledgers").status_code == 200  # no restart needed


def test_the_admin_without_a_database_is_a_plain_503_page(client: Any, cast: Any) -> None:
    client.force_login(cast["alice"][0])
    with database_at(closed_port()):
        response = client.get("/admin/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/plain")
    assert client.get("/admin/").status_code == 200


def test_healthz_is_503_without_a_database_and_200_again_after(client: Any) -> None:
    with database_at(closed_port()):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": False, "broker": True}
    assert client.get("/healthz").status_code == 200


def test_healthz_gives_up_on_a_server_that_never_answers(client: Any) -> None:
    with silent_server() as port, database_at(port):
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    # HEALTHZ_DB_TIMEOUT_SECONDS is 2; without it this waits as long as the socket does.
    # The bound is loose on purpose (a loaded machine), the point is that it returns.
    assert elapsed < 20


@override_settings(DB_WEB_STATEMENT_TIMEOUT_MS=45_000, DB_WEB_LOCK_TIMEOUT_MS=1234)
def test_web_requests_get_statement_and_lock_timeouts_and_other_work_does_not() -> None:
    from config.database import DatabaseUnavailableMiddleware

    def view(request: HttpRequest) -> HttpResponse:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
            )
            return HttpResponse(" ".join(cursor.fetchone()))

    connection.close()  # the request opens its own, as a web worker's first request does
    response = DatabaseUnavailableMiddleware(view)(RequestFactory().get("/v1/ledgers"))
    assert response.content == b"45s 1234ms"
    connection.close()
    with connection.cursor() as cursor:  # a worker's, a command's, a migration's connection
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
        )
        assert cursor.fetchone() == ("0", "0")


@override_settings(DB_WEB_LOCK_TIMEOUT_MS=300)
def test_an_upload_stuck_behind_a_lock_is_503_after_the_lock_timeout(
    api_client_for: Any, alice_run: Any
) -> None:
    from reconciliation.models import Run

    locked, release = threading.Event(), threading.Event()

    def hold_the_run() -> None:
        try:
            with transaction.atomic():
                Run.objects.select_for_update().get(pk=alice_run.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_run)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        client = api_client_for("rita")
        connection.close()  # the request's connection is opened inside it, with the timeouts
        handle = io.BytesIO(b"Booking date,Amount,Reference\n2026-11-02,10.00,R1\n")
        handle.name = "nov.csv"
        response = client.post(
            f"{RUNS}/{alice_run.pk}/sources/upload", {"file": handle}, format="multipart"
        )
    finally:
        release.set()
        holder.join()
        connection.close()
    assert_503(response)


def test_a_reused_connection_to_a_frozen_server_is_dropped_within_the_health_check_timeout(
    settings: Any,
) -> None:
    """Before each request's first query Django checks a reused connection; against a frozen
    server that check used to hang until gunicorn's timeout (config/postgresql/base.py)."""
    settings.DB_HEALTH_CHECK_TIMEOUT_SECONDS = 1
    db: Any = connections["default"]  # this thread's; the stubs lack the health-check flags
    settings_dict = connections["default"].settings_dict
    proxy = FreezableProxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"])))
    try:
        with database_at(proxy.port):
            with connection.cursor() as cursor:  # an earlier request left it open
                cursor.execute("SELECT 1")
            db.health_check_enabled = True  # CONN_HEALTH_CHECKS, as deployed
            db.health_check_done = False  # a new request starts
            assert db.is_usable()  # a live server passes the bounded check
            proxy.frozen.set()
            # On a thread of its own, so a regression fails here instead of hanging the suite.
            db.inc_thread_sharing()  # the checker thread uses this thread's connection
            check = threading.Thread(target=db.close_if_health_check_failed)
            check.start()
            check.join(timeout=20)  # 1 s here; loose for a loaded machine, the point: no hang
            assert not check.is_alive(), "the health check hung on a frozen server"
            db.dec_thread_sharing()
            assert db.connection is None  # dropped: the next query reconnects
    finally:
        db.health_check_enabled = False
        proxy.close()
        connection.close()
