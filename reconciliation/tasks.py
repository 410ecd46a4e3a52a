"""Celery entry points: ids in, one service call (services import this module to enqueue)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="reconciliation.run_auto_match", max_retries=None)
def run_auto_match_task(self: Task[Any, Any], *, run_id: str) -> None:
    from reconciliation.services.auto_match import run_auto_match_job
    from reconciliation.services.match_requests import retry_countdown

    try:
        # The task id owns the lease, and a retry keeps the id: it takes its lease back.
        run_auto_match_job(run_id=UUID(run_id), owner=self.request.id or "")
    except (OperationalError, InterfaceError) as exc:
        # Database away: capped exponential backoff (RUN_MATCH_RETRY_*) that outlasts
        # minutes of outage. When even that is used up, the lease expires and the sweep
        # queues the run again (RUN_MATCH_MAX_ATTEMPTS).
        retries = self.request.retries
        if retries >= settings.RUN_MATCH_MAX_RETRIES:
            raise
        countdown = retry_countdown(retries)
        logger.warning(
            "run %s: database error (%s); retry %d in %.1f s",
            run_id,
            type(exc).__name__,
            retries + 1,
            countdown,
        )
        raise self.retry(
            exc=exc, countdown=countdown, max_retries=settings.RUN_MATCH_MAX_RETRIES
        ) from exc


@shared_task(name="reconciliation.run_auto_match_part")
def run_auto_match_part_task(*, run_id: str) -> int:
    """A helper of a run's pass split into parts (services/match_parts.py); returns how many
    parts it matched (the worker logs it). No lease and no retry: whatever part it does not
    finish, the task holding the run's lease matches."""
    from reconciliation.services.match_parts import match_parts_work

    try:
        return match_parts_work(run_id=UUID(run_id))
    except (OperationalError, InterfaceError) as exc:
        logger.warning("run %s: a match helper lost the database (%s)", run_id, exc)
        return 0


@shared_task(name="reconciliation.recover_stale_runs")
def recover_stale_runs_task() -> int:
    from reconciliation.services.auto_match import runs_recover_stale

    return runs_recover_stale()


@worker_ready.connect
def drain_match_requests_on_start(**_: Any) -> None:
    """A worker that starts delivers what waited for it (the broker or every worker was
    down), without waiting for the first beat."""
    from reconciliation.services.auto_match import runs_recover_stale

    try:
        runs_recover_stale()
    except DatabaseError:
        logger.warning("match request sweep at worker start failed; beat will retry")
    finally:
        # The main process does no other database work: no idle connection left open.
        connection.close()
