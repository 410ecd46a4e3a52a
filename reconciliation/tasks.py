"""Celery entry points: ids in, one service call (services import this module to enqueue)."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="reconciliation.run_auto_match",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_kwargs={"max_retries": 5},
)
def run_auto_match_task(*, run_id: str) -> None:
    from reconciliation.services.auto_match import run_auto_match_job

    run_auto_match_job(run_id=UUID(run_id))


@shared_task(name="reconciliation.recover_stale_runs")
def recover_stale_runs_task() -> int:
    from reconciliation.services.auto_match import runs_recover_stale

    return runs_recover_stale()
