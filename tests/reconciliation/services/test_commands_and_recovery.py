from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reconciliation.models import MatchRequest, Run, SourceEntry
from reconciliation.services.auto_match import runs_recover_stale

pytestmark = pytest.mark.django_db
DEMO = Path(__file__).resolve().parents[3] / "demo" / "statement-2026-11.camt053.xml"


def test_import_statement_imports_a_file_into_a_run(alice_run):
    out = StringIO()
    call_command("import_statement", str(alice_run.pk), str(DEMO), "--no-progress", stdout=out)
    assert "imported 240 entries" in out.getvalue()
    assert SourceEntry.objects.filter(run=alice_run).count() == 240


def test_import_statement_reports_domain_errors(alice_run, tmp_path):
    bad = tmp_path / "x.pdf"
    bad.write_bytes(b"%PDF-1.4 nope")
    with pytest.raises(CommandError, match="unsupported_format"):
        call_command("import_statement", str(alice_run.pk), str(bad), "--no-progress")


def test_a_stale_running_run_without_a_request_is_requeued(alice_run, settings):
    # A run left `running` by code older than the match outbox gets a request.
    long_ago = timezone.now() - settings.RUN_STALE_AFTER - dt.timedelta(minutes=1)
    Run.objects.filter(pk=alice_run.pk).update(status="running", match_requested_at=long_ago)
    # The eager in-process task finds no entries and completes the run: recovered.
    assert runs_recover_stale() == 1
    assert Run.objects.get(pk=alice_run.pk).status == "completed"
    assert not MatchRequest.objects.filter(run=alice_run).exists()


def test_a_run_whose_lease_expired_too_often_fails_as_stale(alice_run: Run, settings: Any) -> None:
    now = timezone.now()
    Run.objects.filter(pk=alice_run.pk).update(status="running", match_requested_at=now)
    MatchRequest.objects.create(
        run=alice_run,
        requested_at=now,
        enqueued_at=now,
        attempts=settings.RUN_MATCH_MAX_ATTEMPTS - 1,
        lease_owner="dead-worker",
        lease_expires_at=now - dt.timedelta(seconds=1),
    )
    assert runs_recover_stale() == 0
    run = Run.objects.get(pk=alice_run.pk)
    assert (run.status, run.error["code"]) == ("failed", "stale_run")
    assert not MatchRequest.objects.filter(run=alice_run).exists()


def test_a_recent_running_run_is_left_alone(alice_run):
    Run.objects.filter(pk=alice_run.pk).update(status="running", match_requested_at=timezone.now())
    assert runs_recover_stale() == 0
    assert Run.objects.get(pk=alice_run.pk).status == "running"
