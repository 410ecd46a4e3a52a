"""date_mismatch counts business days, like the matcher's window: a match across a
weekend is no date mismatch just because Saturday and Sunday lie in between."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from ledgers.services import LedgerEntryInput, ledger_entries_create, ledger_update
from reconciliation.models import Discrepancy, SourceEntry
from reconciliation.services.imports import source_file_upload
from reconciliation.services.matches import match_create_manual

pytestmark = pytest.mark.django_db


def _matched_across_the_weekend(run, ledger, actor) -> None:
    # GL booked Thursday 2024-03-07, the bank booked Monday 2024-03-11: 4 calendar days,
    # 2 business days.
    (gl,) = ledger_entries_create(
        ledger=ledger,
        actor=actor,
        items=[
            LedgerEntryInput(
                external_id="GL-1",
                amount=Decimal("50.00"),
                currency="EUR",
                booking_date=date(2024, 3, 7),
            )
        ],
    ).entries
    data = b"Booking date,Amount,Description\n2024-03-11,50.00,late payment\n"
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename="a.csv", size=len(data), actor=actor
    )
    match_create_manual(
        run=run,
        source_entry_ids=[SourceEntry.objects.get(run=run).pk],
        ledger_entry_ids=[gl.pk],
        actor=actor,
    )


def test_a_match_across_a_weekend_within_the_window_is_no_date_mismatch(
    alice_run, alice_ledger, alice
):
    _matched_across_the_weekend(alice_run, alice_ledger, alice)  # window: 3 business days
    assert not Discrepancy.objects.filter(run=alice_run, kind="date_mismatch").exists()


def test_beyond_the_window_the_gap_is_given_in_business_days(alice_run, alice_ledger, alice):
    ledger_update(ledger=alice_ledger, actor=alice, date_window_days=1)
    alice_run.ledger.refresh_from_db()
    _matched_across_the_weekend(alice_run, alice_ledger, alice)
    finding = Discrepancy.objects.get(run=alice_run, kind="date_mismatch")
    assert finding.message == "Bank and ledger dates are 2 business days apart (window 1)."
