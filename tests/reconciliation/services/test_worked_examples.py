"""Matching stories told on real bank files (hordak-style worked examples).

Each test imports a real statement from tests/fixtures/statements, pushes the GL entries a
bookkeeper would have, auto-matches, and checks what a reviewer would see.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from ledgers.services import LedgerEntryInput, ledger_create, ledger_entries_create
from reconciliation.models import Discrepancy, Match, SourceEntry
from reconciliation.services.auto_match import run_auto_match
from reconciliation.services.imports import source_file_upload, source_file_upload_path
from reconciliation.services.runs import run_create

pytestmark = pytest.mark.django_db
D = Decimal


def book(ledger, actor, *rows: tuple[str, str, str, str, str]) -> list:
    """rows: (external_id, amount, date, reference, counterparty)."""
    return ledger_entries_create(
        ledger=ledger,
        actor=actor,
        items=[
            LedgerEntryInput(
                external_id=ext,
                amount=D(amount),
                currency=ledger.currency,
                booking_date=dt.date.fromisoformat(day),
                reference=ref,
                counterparty=party,
            )
            for ext, amount, day, ref, party in rows
        ],
    ).entries


def links(match: Match) -> tuple[list[Decimal], list[str]]:
    bank = sorted(link.source_entry.amount for link in match.source_links.all())
    gl = sorted(link.ledger_entry.external_id for link in match.ledger_links.all())
    return bank, gl


@pytest.fixture
def chf_ledger(org_a, alice):
    return ledger_create(organization=org_a, name="CHF", currency="CHF", actor=alice)


def test_a_postfinance_batch_credit_pays_three_open_invoices(chf_ledger, alice, fixtures_dir):
    # PostFinance booked one collective credit of CHF 110.00 ("SAMMELGUTSCHRIFT RETOUREN")
    # on 2016-04-06; its transaction details are three payments by Max Mustermann.
    book(
        chf_ledger,
        alice,
        ("INV-20", "20.00", "2016-04-05", "", "Max Mustermann"),
        ("INV-40", "40.00", "2016-04-06", "", "Max Mustermann"),
        ("INV-50", "50.00", "2016-04-06", "", "Max Mustermann"),
    )
    run = run_create(ledger=chf_ledger, actor=alice)
    source_file_upload_path(
        run=run,
        path=fixtures_dir / "camt053" / "postfinance-v04-chf-batches-reversals-charges.xml",
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    # The matcher pairs the one bank entry with all three GL entries, not one of them.
    [batch] = [m for m in Match.objects.filter(run=run) if m.shape == "one_to_many"]
    assert links(batch) == ([D("110.00")], ["INV-20", "INV-40", "INV-50"])
    assert batch.difference == 0


def test_a_vr_bank_batch_debit_is_split_over_its_end_to_end_ids(alice_ledger, alice, fixtures_dir):
    # VR-Bank's "Sammelueberweisung" of EUR -6.00 carries two TxDtls with end-to-end ids.
    book(
        alice_ledger,
        alice,
        ("PAY-1", "-3.50", "2013-12-27", "STZV-EtE27122013-11:02-1", "Testkonto Nummer 1"),
        ("PAY-2", "-2.50", "2013-12-27", "STZV-EtE27122013-11:02-2", "Testkonto Nummer 1"),
    )
    run = run_create(ledger=alice_ledger, actor=alice)
    source_file_upload_path(
        run=run,
        path=fixtures_dir / "camt053" / "vr-bank-de-v02-batch-schema-invalid.xml",
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    [batch] = Match.objects.filter(run=run, shape="one_to_many")
    assert links(batch) == ([D("-6.00")], ["PAY-1", "PAY-2"])
    assert batch.status == "accepted"  # exact, unique and corroborated by both references


def test_a_postfinance_reversal_pairs_with_the_collection_it_takes_back(
    chf_ledger, alice, fixtures_dir
):
    # The direct debit collected from Bernasconi Maria (end-to-end EndToEnd-2B6C-CHDDBB5)
    # arrived on the previous statement; on 2016-04-10 PostFinance booked its reversal
    # (RvslInd) of CHF -6.00. The two bank entries cancel out and need no GL entry.
    run = run_create(ledger=chf_ledger, actor=alice)
    earlier = (
        b"Booking date,Amount,Reference,Description,Counterparty\n"
        b"2016-04-08,6.00,EndToEnd-2B6C-CHDDBB5,CH-DD collection,Bernasconi Maria\n"
    )
    source_file_upload(
        run=run, stream=io.BytesIO(earlier), filename="march.csv", size=len(earlier), actor=alice
    )
    source_file_upload_path(
        run=run,
        path=fixtures_dir / "camt053" / "postfinance-v04-chf-batches-reversals-charges.xml",
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    [pair] = Match.objects.filter(run=run, shape="reversal")
    assert links(pair) == ([D("-6.00"), D("6.00")], [])
    reversal = SourceEntry.objects.get(run=run, amount=D("-6.00"))
    assert reversal.is_reversal
    assert pair.difference == 0


def test_a_finnish_payment_short_by_a_fee_is_partial_with_an_amount_mismatch(
    alice_ledger, alice, fixtures_dir
):
    # The FFFS sample credits EUR 2,120.00 for invoice US20291092; the ledger expected
    # 2,125.00. With a EUR 10 tolerance the match is proposed, never auto-accepted.
    alice_ledger.amount_tolerance_abs = D("10")
    alice_ledger.save()
    book(
        alice_ledger, alice, ("AR-US20291092", "2125.00", "2009-10-29", "US20291092", "Debtor Name")
    )
    run = run_create(ledger=alice_ledger, actor=alice)
    source_file_upload_path(
        run=run,
        path=fixtures_dir / "camt053" / "finland-v02-batches-eur-usd-charges.xml",
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    [match] = [m for m in Match.objects.filter(run=run) if links(m)[1] == ["AR-US20291092"]]
    assert (match.status, match.difference) == ("suggested", D("-5.00"))
    assert links(match)[0] == [D("2120.00")]
    mismatch = Discrepancy.objects.get(run=run, kind="amount_mismatch", match=match)
    assert mismatch.amount == D("-5.00")
    from reconciliation.services.matches import match_accept

    match_accept(match=match, actor=alice)
    item = match.source_links.get().source_entry
    item.refresh_from_db()
    assert item.match_status == "partial"


def test_two_equal_postfinance_debits_on_one_day_are_ambiguous(chf_ledger, alice, fixtures_dir):
    # PostFinance booked two CHF -24.00 debits on 2016-04-30; the ledger has two -24.00
    # payments that day with nothing to tell them apart. Either pairing scores the same,
    # so both are suggested as ambiguous and neither is auto-accepted.
    book(
        chf_ledger,
        alice,
        ("FEE-A", "-24.00", "2016-04-30", "", ""),
        ("FEE-B", "-24.00", "2016-04-30", "", ""),
    )
    run = run_create(ledger=chf_ledger, actor=alice)
    source_file_upload_path(
        run=run,
        path=fixtures_dir / "camt053" / "postfinance-v04-chf-batches-reversals-charges.xml",
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    twins = [m for m in Match.objects.filter(run=run) if links(m)[0] == [D("-24.00")]]
    assert len(twins) == 2
    assert all(m.is_ambiguous and m.status == "suggested" for m in twins)


def test_vr_bank_statement_gives_the_discrepancy_list_a_reviewer_expects(
    alice_ledger, alice, fixtures_dir
):
    # The bookkeeper booked three of the four VR-Bank movements, plus a customer receipt of
    # EUR 50.00 the bank never shows, plus an old entry from November (outside the period).
    book(
        alice_ledger,
        alice,
        ("GL-E2E", "-2.00", "2013-12-27", "EndToEndReference", "Testkonto Nummer 2"),
        ("PAY-1", "-3.50", "2013-12-27", "STZV-EtE27122013-11:02-1", "Testkonto Nummer 1"),
        ("PAY-2", "-2.50", "2013-12-27", "STZV-EtE27122013-11:02-2", "Testkonto Nummer 1"),
        ("GL-TRF", "-3.00", "2013-12-27", "", "Testkonto Nummer 2"),
        ("GL-AR", "50.00", "2013-12-27", "AR-77", "Customer"),
        ("GL-OLD", "-100.00", "2013-11-01", "", "Landlord"),
    )
    run = run_create(ledger=alice_ledger, actor=alice)
    source_file_upload_path(
        run=run,
        path=fixtures_dir / "camt053" / "vr-bank-de-v02-batch-schema-invalid.xml",
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    found = sorted((d.kind, d.amount, d.severity) for d in Discrepancy.objects.filter(run=run))
    # The statement balances (33.06 - 10.00 = 23.06), so no balance_mismatch. The EUR 1.00
    # "RÜCKBUCHUNG" credit has no GL entry; the EUR 50.00 receipt is not on the statement.
    # Age is measured to the statement's end (its closing balance is dated 2013-12-27, it
    # has no FrToDt), not to today: both are 0 days old and small, so info (#14.4).
    assert found == [
        ("missing_in_ledger", D("1.00"), "info"),
        ("missing_in_statement", D("50.00"), "info"),
    ]
