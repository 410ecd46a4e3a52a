"""Tasks run in-process when no broker is configured (`make run` without Redis)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_process_broker() -> Iterator[None]:
    """The Celery app as `make run` configures it without REDIS_URL: eager, in-memory."""
    from config.celery import app

    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=True, broker_url=settings.IN_PROCESS_BROKER_URL)
    app._pool = None  # the producer pool is built for the broker it first saw
    yield
    app.conf.update(saved)
    app._pool = None


def test_an_in_process_task_runs_without_a_broker_warning(in_process_broker, caplog):
    from reconciliation.tasks import run_auto_match_task

    with caplog.at_level(logging.INFO):
        run_auto_match_task.delay(run_id=str(uuid.uuid4()))

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("succeeded" in r.getMessage() for r in caplog.records)
