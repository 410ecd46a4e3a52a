"""The SQL integrity checks find what a fault could leave behind, and nothing on a clean run."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db.models import F

from ledgers.models import Ledger, LedgerEntry
from reconciliation.integrity import integrity_violations
from reconciliation.models import Match, MatchRequest, Run, SourceEntry, SourceFile
from tests.reconciliation.tasks.test_match_requests import _upload_automatic

pytestmark = pytest.mark.django_db


@pytest.fixture
def matched_run(alice_ledger: Ledger, alice: User) -> Run:
    from reconciliation.services.auto_match import run_auto_match_job

    run = _upload_automatic(alice_ledger, alice)
    run_auto_match_job(run_id=run.pk, owner="worker-1")
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.matches.filter(status="accepted").count() > 200
    return run


def _violations(run: Run) -> list[str]:
    found = integrity_violations(run_id=run.pk)
    assert integrity_violations() == found  # one run in the database: the same answer
    return found


def test_a_cleanly_matched_demo_run_has_no_violations(matched_run: Run) -> None:
    assert _violations(matched_run) == []


def test_a_gl_status_that_disagrees_with_its_links_is_found(matched_run: Run) -> None:
    entry = LedgerEntry.objects.filter(reconciliation_status="reconciled").first()
    assert entry is not None
    LedgerEntry.objects.filter(pk=entry.pk).update(reconciliation_status="unreconciled")
    assert _violations(matched_run) == [
        f"GL entry reconciliation_status disagrees with its accepted matches: 1 [{entry.pk}]"
    ]


def test_a_match_whose_total_is_not_its_links_is_found(matched_run: Run) -> None:
    match = Match.objects.filter(run=matched_run, status="accepted").first()
    assert match is not None
    Match.objects.filter(pk=match.pk).update(
        source_total=F("source_total") + Decimal("0.01"),
        ledger_total=F("ledger_total") + Decimal("0.01"),
    )
    assert _violations(matched_run) == [
        f"match totals differ from the sum of its links: 1 [{match.pk}]"
    ]


def test_an_item_in_two_live_matches_is_found(matched_run: Run) -> None:
    from reconciliation.models import MatchSourceLink

    first, second = Match.objects.filter(run=matched_run, status="suggested")[:2]
    item = MatchSourceLink.objects.filter(match=first).values_list("source_entry_id", flat=True)[0]
    # What the partial unique index forbids: drop it for this transaction to plant the fault.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX source_entry_in_one_active_match")
    MatchSourceLink.objects.create(match=second, source_entry_id=item)
    found = _violations(matched_run)
    assert f"bank item in more than one live match: 1 [{item}]" in found


def test_a_file_imported_twice_is_found(matched_run: Run) -> None:
    source_file = SourceFile.objects.get(run=matched_run)
    copy = SourceFile.objects.create(
        run=matched_run,
        ledger=source_file.ledger,
        filename="again.xml",
        status="processed",
        sha256=source_file.sha256,
        size_bytes=source_file.size_bytes,
    )
    entry = SourceEntry.objects.filter(run=matched_run).first()
    assert entry is not None
    entry.pk, entry.source_file, entry.match_status = None, copy, "unmatched"
    entry.save()
    found = _violations(matched_run)
    assert any(line.startswith("one file processed more than once") for line in found)
    assert any(line.startswith("bank entry imported twice") for line in found)


def test_a_running_run_with_nothing_owed_is_found(alice_ledger: Ledger, alice: User) -> None:
    run = _upload_automatic(alice_ledger, alice)
    assert _violations(run) == []  # its match request is owed to a worker
    MatchRequest.objects.filter(run=run).delete()
    assert _violations(run) == [f"run running with no match owed to a worker: 1 [{run.pk}]"]
