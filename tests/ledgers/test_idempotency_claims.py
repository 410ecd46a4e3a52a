"""An idempotency key belongs to a live request only (issue #13 §4, ledgers/idempotency.py).

The owner of a claim is a thread with its own database connection, as a gunicorn worker
in the middle of a request is. Killing its connection (pg_terminate_backend, as when the
process dies or the database drops it) or closing it frees the key for the very next
retry, with no timer; while the owner lives, the retry is 409 `idempotency_in_progress`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections

from ledgers.api.idempotency import request_fingerprint
from ledgers.idempotency import idempotency_claim, idempotency_complete
from ledgers.models import IdempotencyRecord
from reconciliation.models import Run

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = "/v1/ledgers/reconciliation/runs"


class _Request:  # the fingerprint reads method and path (and the parsed body)
    method, path = "POST", RUNS


_REQUEST: Any = _Request


class Owner:
    """A request in flight that claimed `key` on its own connection and has not finished."""

    def __init__(self, *, organization_id: Any, key: str, body: dict[str, Any]) -> None:
        self.claimed = threading.Event()
        self.finish = threading.Event()
        self.pid: int | None = None
        self.how = "complete"
        self.thread = threading.Thread(
            target=self._run, args=(organization_id, key, request_fingerprint(_REQUEST, body))
        )

    def _run(self, organization_id: Any, key: str, request_hash: str) -> None:
        try:
            assert (
                idempotency_claim(
                    organization_id=organization_id, key=key, request_hash=request_hash
                )
                is None
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.claimed.set()
            self.finish.wait(timeout=60)
            if self.how == "complete":
                idempotency_complete(
                    organization_id=organization_id, key=key, status=201, body={"id": "first"}
                )
        finally:
            # The connection may have been killed on purpose.
            with contextlib.suppress(Exception):
                connections.close_all()


@contextmanager
def owner_of(organization_id: Any, key: str, body: dict[str, Any]) -> Iterator[Owner]:
    owner = Owner(organization_id=organization_id, key=key, body=body)
    owner.thread.start()
    try:
        assert owner.claimed.wait(timeout=30)
        yield owner
    finally:
        owner.finish.set()
        owner.thread.join(timeout=60)


def backend_gone(pid: int) -> bool:
    """Wait (bounded) until the server has ended backend `pid`, and with it its locks."""
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return True
        time.sleep(0.05)
    return False


def create(client: Any, body: dict[str, Any]) -> Any:
    return client.post(RUNS, body, format="json")


@pytest.fixture
def body(alice_ledger: Any) -> dict[str, Any]:
    return {"ledger_id": str(alice_ledger.pk), "idempotency_key": "nightly"}


def test_a_live_claim_answers_409_in_progress(api_client_for: Any, org_a: Any, body: Any) -> None:
    client = api_client_for("alice")
    with owner_of(org_a.pk, "nightly", body):
        response = create(client, body)
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "idempotency_in_progress"
    # ...and once it finished, the same request is its replay.
    replay = create(client, body)
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (
        201,
        {"id": "first"},
        "true",
    )
    assert Run.objects.count() == 0


def test_a_claim_whose_connection_was_terminated_is_free_at_once(
    api_client_for: Any, org_a: Any, body: Any
) -> None:
    client = api_client_for("alice")
    with owner_of(org_a.pk, "nightly", body) as owner:
        owner.how = "die"
        with connection.cursor() as cursor:
            # Waits until the backend has exited (PostgreSQL 14+): its locks are gone.
            cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [owner.pid])
            assert cursor.fetchone()[0] is True
        response = create(client, body)
        assert response.status_code == 201, response.content
    assert Run.objects.count() == 1
    assert IdempotencyRecord.objects.get(key="nightly").state == "done"
    assert create(client, body).json()["id"] == response.json()["id"]


def test_a_claim_whose_connection_was_closed_is_free_at_once(
    api_client_for: Any, org_a: Any, body: Any
) -> None:
    client = api_client_for("alice")
    with owner_of(org_a.pk, "nightly", body) as owner:
        owner.how = "vanish"
    assert owner.pid is not None
    assert backend_gone(owner.pid)
    response = create(client, body)
    assert response.status_code == 201, response.content
    assert Run.objects.count() == 1


def test_a_different_body_under_a_live_key_is_still_key_reused(
    api_client_for: Any, org_a: Any, body: Any
) -> None:
    with owner_of(org_a.pk, "nightly", body):
        response = create(api_client_for("alice"), {**body, "note": "other"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
