"""The durable hand-off of matching (the match outbox), leases and the recovery sweep.

"Broker down" is a real failure: the Celery app is pointed at a TCP port nobody listens on,
so publishing fails inside kombu exactly as with a stopped Redis.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from ledgers.models import Ledger
from reconciliation.demo import build_demo, demo_statement_xml
from reconciliation.models import Match, MatchRequest, Run
from reconciliation.services.auto_match import run_auto_match_job, runs_recover_stale
from reconciliation.services.match_requests import (
    Claim,
    match_request_claim,
    match_request_heartbeat,
    retry_countdown,
)

pytestmark = pytest.mark.django_db
BrokerSwitch = Callable[..., None]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens


def _use_broker(url: str, *, eager: bool) -> None:
    from config.celery import app

    app.conf.update(task_always_eager=eager, broker_url=url)
    _forget_connections(app)


def _forget_connections(app: object) -> None:
    # Both pools are built for the broker they first saw: the connection pool and the
    # producer pool on top of it.
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]


@pytest.fixture
def broker() -> Iterator[BrokerSwitch]:
    """Switch the in-process Celery app between brokers; restored afterwards."""
    from config.celery import app

    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url")}
    yield _use_broker
    app.conf.update(saved)
    _forget_connections(app)


@pytest.fixture
def redis_queue() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    client.flushdb()
    return client


def _upload_automatic(ledger: Ledger, actor: User) -> Run:
    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.services.imports import source_file_upload
    from reconciliation.services.runs import run_create

    data = build_demo()
    ledger_entries_create(
        ledger=ledger,
        actor=actor,
        items=[
            LedgerEntryInput(
                external_id=e.external_id,
                amount=e.amount,
                currency="EUR",
                booking_date=e.booking_date,
                reference=e.reference,
                description=e.description,
                counterparty=e.counterparty,
            )
            for e in data.gl
        ],
    )
    run = run_create(ledger=ledger, mode="automatic", actor=actor)
    content = demo_statement_xml(data)
    source_file_upload(
        run=run, stream=io.BytesIO(content), filename="nov.xml", size=len(content), actor=actor
    )
    return Run.objects.get(pk=run.pk)


def test_the_upload_writes_the_match_request_in_its_own_transaction(
    alice_ledger: Ledger, alice: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        run = _upload_automatic(alice_ledger, alice)
    request = MatchRequest.objects.get(run=run)
    assert run.status == "running"
    assert request.enqueued_at is None  # delivered only after commit
    assert [c.__qualname__.rsplit(".", 1)[-1] for c in callbacks][-1] == "deliver_match_request"


def test_a_rolled_back_upload_leaves_no_match_request(alice_ledger: Ledger, alice: User) -> None:
    def upload_then_crash() -> None:
        with transaction.atomic():
            _upload_automatic(alice_ledger, alice)
            raise RuntimeError("the request dies after the import")

    with pytest.raises(RuntimeError):
        upload_then_crash()
    assert not MatchRequest.objects.exists()


def test_in_process_matching_leaves_nothing_in_the_outbox(
    alice_ledger: Ledger, alice: User, django_capture_on_commit_callbacks: Any
) -> None:
    # `make run` without Redis: the delivery runs the match right after commit.
    with django_capture_on_commit_callbacks(execute=True):
        run = _upload_automatic(alice_ledger, alice)
    run.refresh_from_db()
    assert run.status == "completed"
    assert not MatchRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_request_the_broker_refused_is_delivered_by_the_sweep(
    alice_ledger: Ledger, alice: User, broker: BrokerSwitch, redis_queue: Any
) -> None:
    broker(f"redis://127.0.0.1:{_closed_port()}/0", eager=False)
    run = _upload_automatic(alice_ledger, alice)  # commits: the fast path fails, logged

    request = MatchRequest.objects.get(run=run)
    assert (run.status, request.enqueued_at) == ("running", None)
    assert runs_recover_stale() == 0  # still down: stays in the outbox
    assert MatchRequest.objects.get(run=run).enqueued_at is None

    broker(REDIS_URL, eager=False)  # the broker is back
    a_minute_ago = timezone.now() - dt.timedelta(minutes=1)
    MatchRequest.objects.filter(run=run).update(requested_at=a_minute_ago)
    assert runs_recover_stale() == 1
    assert MatchRequest.objects.get(run=run).enqueued_at is not None
    assert redis_queue.llen("celery") == 1  # one message for the run, waiting for a worker

    run_auto_match_job(run_id=run.pk, owner="worker-1")  # what that worker does
    run.refresh_from_db()
    assert run.status == "completed"
    assert not MatchRequest.objects.filter(run=run).exists()


def _running_with_request(run: Run, **fields: Any) -> MatchRequest:
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status="running", match_requested_at=now)
    return MatchRequest.objects.create(run=run, requested_at=now, enqueued_at=now, **fields)


def test_an_expired_lease_is_queued_again_with_one_more_attempt(
    alice_run: Run, broker: BrokerSwitch
) -> None:
    broker(f"redis://127.0.0.1:{_closed_port()}/0", eager=False)  # keep the requeued request
    _running_with_request(
        alice_run, lease_owner="killed-worker", lease_expires_at=timezone.now() - dt.timedelta(1)
    )
    runs_recover_stale()
    request = MatchRequest.objects.get(run=alice_run)
    assert (request.attempts, request.lease_owner, request.lease_expires_at) == (1, "", None)
    assert request.enqueued_at is None  # owed to the broker again
    assert Run.objects.get(pk=alice_run.pk).status == "running"


def test_an_expired_lease_is_matched_again_in_process(alice_run: Run) -> None:
    _running_with_request(
        alice_run, lease_owner="killed-worker", lease_expires_at=timezone.now() - dt.timedelta(1)
    )
    assert runs_recover_stale() == 1
    assert Run.objects.get(pk=alice_run.pk).status == "completed"
    assert not MatchRequest.objects.exists()


def test_a_live_lease_is_left_alone_by_the_sweep(alice_run: Run) -> None:
    _running_with_request(
        alice_run, lease_owner="busy-worker", lease_expires_at=timezone.now() + dt.timedelta(1)
    )
    assert runs_recover_stale() == 0
    request = MatchRequest.objects.get(run=alice_run)
    assert (request.attempts, request.lease_owner) == (0, "busy-worker")


@pytest.mark.django_db(transaction=True)
def test_an_expired_lease_on_a_run_being_matched_is_not_taken_away(alice_run: Run) -> None:
    # A slow worker whose heartbeat could not get through: its lease looks dead, but its
    # pass holds the run row. Another connection plays that pass.
    _running_with_request(
        alice_run, lease_owner="slow-worker", lease_expires_at=timezone.now() - dt.timedelta(1)
    )
    locked, release = threading.Event(), threading.Event()

    def slow_pass() -> None:
        try:
            with transaction.atomic():
                Run.objects.select_for_update().get(pk=alice_run.pk)
                locked.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_pass)
    thread.start()
    try:
        assert locked.wait(timeout=60)
        assert runs_recover_stale() == 0
        request = MatchRequest.objects.get(run=alice_run)
        assert (request.attempts, request.lease_owner) == (0, "slow-worker")
    finally:
        release.set()
        thread.join(timeout=60)
    assert runs_recover_stale() == 1  # the pass is gone (it died): now it is re-queued


def test_a_second_task_does_not_take_a_live_lease(alice_run: Run) -> None:
    _running_with_request(
        alice_run, lease_owner="busy-worker", lease_expires_at=timezone.now() + dt.timedelta(1)
    )
    assert match_request_claim(run_id=alice_run.pk, owner="late-copy") is Claim.BUSY
    run_auto_match_job(run_id=alice_run.pk, owner="late-copy")
    assert Run.objects.get(pk=alice_run.pk).status == "running"  # the busy worker finishes it


def test_a_retry_takes_its_own_lease_back(alice_run: Run) -> None:
    _running_with_request(
        alice_run, lease_owner="task-1", lease_expires_at=timezone.now() + dt.timedelta(1)
    )
    assert match_request_claim(run_id=alice_run.pk, owner="task-1") is Claim.TAKEN


def test_a_heartbeat_extends_only_its_own_lease(alice_run: Run) -> None:
    soon = timezone.now() + dt.timedelta(seconds=1)
    _running_with_request(alice_run, lease_owner="task-1", lease_expires_at=soon)
    assert match_request_heartbeat(run_id=alice_run.pk, owner="task-1")
    extended = MatchRequest.objects.get(run=alice_run).lease_expires_at
    assert extended is not None
    assert extended > soon
    assert not match_request_heartbeat(run_id=alice_run.pk, owner="task-2")


def test_a_late_message_for_a_matched_run_changes_nothing(
    alice_ledger: Ledger, alice: User
) -> None:
    from ledgers.models import AuditEvent

    run = _upload_automatic(alice_ledger, alice)
    run_auto_match_job(run_id=run.pk, owner="worker-1")
    matches, events = Match.objects.filter(run=run).count(), AuditEvent.objects.count()
    assert Run.objects.get(pk=run.pk).status == "completed"

    # The broker redelivers the first message after its visibility timeout, or a sweep
    # re-queued a run whose worker was only slow: the pass is not run again.
    MatchRequest.objects.create(run=run, requested_at=timezone.now())
    run_auto_match_job(run_id=run.pk, owner="worker-2")
    assert (Match.objects.filter(run=run).count(), AuditEvent.objects.count()) == (matches, events)
    assert not MatchRequest.objects.exists()


def test_make_run_matches_what_a_stopped_server_left_unfinished(alice_run: Run) -> None:
    from reconciliation.services.match_requests import match_requests_recover_in_process

    # The previous `make run` died in the middle of a match; its lease has not expired yet.
    _running_with_request(
        alice_run, lease_owner="old-server", lease_expires_at=timezone.now() + dt.timedelta(1)
    )
    match_requests_recover_in_process()
    assert Run.objects.get(pk=alice_run.pk).status == "completed"
    assert not MatchRequest.objects.exists()


def test_requests_of_runs_no_longer_running_are_dropped(alice_run: Run) -> None:
    MatchRequest.objects.create(run=alice_run, requested_at=timezone.now())  # run is pending
    runs_recover_stale()
    assert not MatchRequest.objects.exists()


def test_database_retries_back_off_exponentially_to_a_cap_and_outlast_five_minutes(
    settings: Any,
) -> None:
    delays = [retry_countdown(n) for n in range(settings.RUN_MATCH_MAX_RETRIES)]
    assert all(d <= settings.RUN_MATCH_RETRY_MAX_SECONDS for d in delays)
    assert delays[0] <= settings.RUN_MATCH_RETRY_BASE_SECONDS
    assert sum(delays) >= 5 * 60  # even with the jitter at its shortest
