"""A real Celery worker process on the real Redis broker (no eager mode, no mocks).

The worker is a separate `celery -A config worker` process pointed at the test database,
so it sees only what the test committed (`transaction=True`), exactly like production.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciliation.models import Run
from tests.live import subprocess_database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def celery_on_redis() -> Iterator[None]:
    """Point the in-process Celery app (the producer) at Redis instead of eager mode."""
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    from config.celery import app

    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=REDIS_URL)
    app._pool = None  # the producer pool was built for the eager memory:// broker
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    yield
    app.conf.update(saved)
    app._pool = None


@pytest.fixture
def worker_process(celery_on_redis: None) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "false",
    }
    log = open(ROOT / "var" / "test-worker.log", "wb")  # noqa: SIM115 -- lives as long as the worker
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_an_automatic_upload_is_matched_by_a_real_worker(worker_process, alice_ledger, alice):
    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.demo import build_demo, demo_statement_xml
    from reconciliation.services.imports import source_file_upload
    from reconciliation.services.runs import run_create

    data = build_demo()
    ledger_entries_create(
        ledger=alice_ledger,
        actor=alice,
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
    run = run_create(ledger=alice_ledger, mode="automatic", actor=alice)
    content = demo_statement_xml(data)
    result = source_file_upload(
        run=run, stream=io.BytesIO(content), filename="nov.xml", size=len(content), actor=alice
    )
    assert result.imported == 240
    assert Run.objects.get(pk=run.pk).status == "running"  # handed to the worker

    deadline = time.monotonic() + 90
    status = "running"
    while time.monotonic() < deadline and status == "running":
        assert worker_process.poll() is None, (ROOT / "var" / "test-worker.log").read_text()[-3000:]
        time.sleep(0.5)
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
    run.refresh_from_db()
    assert run.status == "completed", (
        run.error,
        (ROOT / "var" / "test-worker.log").read_text()[-3000:],
    )
    assert run.matches.filter(status="accepted").count() > 200
    assert run.matches.filter(status="suggested").exists()
