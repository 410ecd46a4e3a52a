"""A real Celery worker process on the real Redis broker (no eager mode, no mocks).

The worker is a separate `celery -A config worker` process pointed at the test database,
so it sees only what the test committed (`transaction=True`), exactly like production.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciliation.models import Run
from tests.live import redis_up, subprocess_database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def celery_on_redis() -> Iterator[None]:
    """Point the in-process Celery app (the producer) at Redis instead of eager mode."""
    if not redis_up():
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


WorkerStarter = Callable[..., "subprocess.Popen[bytes]"]
WORKER_LOG = ROOT / "var" / "test-worker.log"


@pytest.fixture
def start_worker(celery_on_redis: None) -> Iterator[WorkerStarter]:
    """Start `celery -A config worker` on the test database and Redis; stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(*, pool: str = "solo", concurrency: int = 1, **env_extra: str) -> Any:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": subprocess_database_url(),
            "REDIS_URL": REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DEBUG": "false",
            **env_extra,
        }
        log = open(WORKER_LOG, "wb")  # noqa: SIM115 -- lives as long as the worker
        logs.append(log)
        process = subprocess.Popen(  # noqa: S603 -- a fixed argv: our own worker
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
    for log in logs:
        log.close()


@pytest.fixture
def worker_process(start_worker: WorkerStarter) -> Any:
    return start_worker()


def _wait_until_done(run: Run, worker: Any, *, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    status = "running"
    while time.monotonic() < deadline and status == "running":
        assert worker.poll() is None, WORKER_LOG.read_text()[-3000:]
        time.sleep(0.5)
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
    run.refresh_from_db()
    assert run.status == "completed", (run.error, WORKER_LOG.read_text()[-3000:])


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

    _wait_until_done(run, worker_process)
    assert run.matches.filter(status="accepted").count() > 200
    assert run.matches.filter(status="suggested").exists()


def test_a_big_run_is_shared_by_the_worker_processes(start_worker: WorkerStarter) -> None:
    """RUN_MATCH_WORKERS=2 on a prefork worker of two processes: the lease holder queues a
    helper task through Redis, the two match the run's currency parts, the run completes."""
    import dataclasses

    from django.db import transaction

    from benchmarks import data
    from benchmarks.synthetic import generate
    from reconciliation.models import MatchPart
    from reconciliation.services.match_requests import match_request_create

    source, ledger = [], []
    for seed, currency in enumerate(("EUR", "USD", "GBP"), start=21):
        truth = generate(300, seed=seed)
        source += [dataclasses.replace(r, currency=currency) for r in truth.source]
        ledger += [dataclasses.replace(r, currency=currency) for r in truth.ledger]
    context = data.context_create(scenario="worker-parts", with_account=False)
    data.load_truth_set(context=context, source=source, ledger=ledger)
    worker = start_worker(
        pool="prefork", concurrency=2, RUN_MATCH_WORKERS="2", RUN_MATCH_PARTITION_MIN_ROWS="1"
    )
    with transaction.atomic():
        run = Run.objects.get(pk=context.run_id)
        run.status = "running"
        run.save(update_fields=["status"])
        match_request_create(run=run)  # delivered to Redis after commit

    _wait_until_done(run, worker)
    log = WORKER_LOG.read_text()
    assert "matched in 3 parts by up to 2 workers" in log
    assert re.search(r"Task reconciliation\.run_auto_match_part\[[^]]+\] succeeded", log), log[
        -3000:
    ]
    assert not MatchPart.objects.filter(run=run).exists()
    assert run.matches.count() > 600
