"""Every discrepancy kind, each from a small statement and GL set up through the services.

Each test imports what a bank would send (camt.053 with balances and sequence numbers, or
a CSV export), books what the bookkeeper booked, matches, and checks the one discrepancy
a reviewer would see: kind, amount, currency, severity and message. Severity is judged as
of the run's period end (the latest statement's closing date here, as the statements have
no FrToDt), with the default thresholds: 100.00 / 10,000.00 and 7 / 30 days.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from ledgers.models import Ledger, LedgerEntry
from ledgers.services import LedgerEntryInput, ledger_entries_create
from reconciliation.models import Discrepancy, Run, SourceEntry
from reconciliation.services.auto_match import run_auto_match
from reconciliation.services.discrepancies import discrepancies_recompute, discrepancy_update
from reconciliation.services.imports import source_file_upload
from reconciliation.services.matches import match_create_manual
from reconciliation.services.runs import run_create
from tests.reconciliation.parsers.camt_builder import Detail, Entry, Statement, camt053_bytes

pytestmark = pytest.mark.django_db
D = Decimal
IBAN = "DE89370400440532013000"


def upload(run: Run, actor: User, data: bytes, filename: str) -> None:
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename=filename, size=len(data), actor=actor
    )


def camt(statement: Statement) -> bytes:
    return camt053_bytes([statement], version=8)


def book(ledger: Ledger, actor: User, *rows: tuple[str, str, str, str]) -> list[LedgerEntry]:
    """rows: (external_id, amount, booking date, reference), in the ledger's currency."""
    return ledger_entries_create(
        ledger=ledger,
        actor=actor,
        items=[
            LedgerEntryInput(
                external_id=ext,
                amount=D(amount),
                currency="EUR",
                booking_date=dt.date.fromisoformat(day),
                reference=ref,
            )
            for ext, amount, day, ref in rows
        ],
    ).entries


def receipt(amount: str, day: str, ref: str, payer: str = "ACME GmbH") -> Entry:
    return Entry(
        amount=D(amount),
        credit=True,
        booking_date=dt.date.fromisoformat(day),
        value_date=dt.date.fromisoformat(day),
        bank_reference=f"BR-{ref}",
        domain_code=("PMNT", "RCDT", "ESCT"),
        details=(Detail(amount=D(amount), remittance=(ref,), counterparty_name=payer),),
    )


def payment(amount: str, day: str, ref: str, payee: str = "Stadtwerke Köln") -> Entry:
    return Entry(
        amount=D(amount),
        credit=False,
        booking_date=dt.date.fromisoformat(day),
        value_date=dt.date.fromisoformat(day),
        bank_reference=f"BR-{ref}",
        domain_code=("PMNT", "ICDT", "ESCT"),
        details=(Detail(amount=D(amount), remittance=(ref,), counterparty_name=payee),),
    )


def november(*, closing: str = "1210.00") -> Statement:
    """November: 1,000.00 + 250.00 - 40.00 = 1,210.00 when the bank's closing agrees."""
    return Statement(
        statement_id="2026-11-0042",
        iban=IBAN,
        electronic_sequence=42,
        created="2026-11-30T18:00:00+01:00",
        opening=D("1000.00"),
        opening_date=dt.date(2026, 10, 31),
        closing=D(closing),
        closing_date=dt.date(2026, 11, 30),
        entries=[
            receipt("250.00", "2026-11-05", "INV-2026-101"),
            payment("40.00", "2026-11-12", "ELEC-11"),
        ],
    )


def only(run: Run, kind: str) -> Discrepancy:
    [discrepancy] = Discrepancy.objects.filter(run=run, kind=kind)
    return discrepancy


def facts(d: Discrepancy) -> tuple[object, ...]:
    return (d.kind, d.amount, d.currency, d.severity, d.status)


# --- statement checks: on import ---------------------------------------------------------


def test_a_closing_balance_that_disagrees_with_the_entries_is_a_balance_mismatch(
    alice_ledger: Ledger, alice: User
) -> None:
    run = run_create(ledger=alice_ledger, actor=alice)
    # The bank says 1,060.00; opening and entries make 1,210.00.
    upload(run, alice, camt(november(closing="1060.00")), "2026-11.xml")
    mismatch = only(run, "balance_mismatch")
    assert facts(mismatch) == ("balance_mismatch", D("-150.00"), "EUR", "warning", "open")
    assert mismatch.statement is not None
    assert mismatch.statement.statement_id == "2026-11-0042"
    assert mismatch.message == (
        "2026-11-0042: opening 1000.00 + entries 210.00 = 1210.00, but the closing balance "
        "is 1060.00 (difference -150.00)."
    )


def test_a_statement_that_balances_has_no_balance_mismatch(
    alice_ledger: Ledger, alice: User
) -> None:
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, camt(november()), "2026-11.xml")
    assert not Discrepancy.objects.filter(run=run, kind="balance_mismatch").exists()


def test_an_opening_balance_that_is_not_the_previous_closing_is_a_balance_mismatch(
    alice_ledger: Ledger, alice: User
) -> None:
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, camt(november()), "2026-11.xml")
    december = Statement(
        statement_id="2026-12-0043",
        iban=IBAN,
        electronic_sequence=43,
        created="2026-12-31T18:00:00+01:00",
        opening=D("1200.00"),  # November closed at 1,210.00
        opening_date=dt.date(2026, 11, 30),
        closing=D("1300.00"),
        closing_date=dt.date(2026, 12, 31),
        entries=[receipt("100.00", "2026-12-03", "INV-2026-131")],
    )
    upload(run, alice, camt(december), "2026-12.xml")
    gap = only(run, "balance_mismatch")
    assert facts(gap) == ("balance_mismatch", D("-10.00"), "EUR", "info", "open")
    assert gap.key == f"continuity:{gap.statement_id}"
    assert gap.statement is not None
    assert gap.statement.statement_id == "2026-12-0043"
    assert gap.message == (
        "2026-12-0043: opening balance 1200.00 differs from the previous statement's "
        "closing balance 1210.00."
    )


def test_a_jump_in_the_electronic_sequence_is_a_sequence_gap(
    alice_ledger: Ledger, alice: User
) -> None:
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, camt(november()), "2026-11.xml")
    # Statements 43 (December) and 44 (January) never arrived; February's opening carries
    # on from November's closing, so the balances alone would not tell.
    february = Statement(
        statement_id="2027-02-0045",
        iban=IBAN,
        electronic_sequence=45,
        created="2027-02-28T18:00:00+01:00",
        opening=D("1210.00"),
        opening_date=dt.date(2027, 1, 31),
        closing=D("1170.00"),
        closing_date=dt.date(2027, 2, 28),
        entries=[payment("40.00", "2027-02-12", "ELEC-02")],
    )
    upload(run, alice, camt(february), "2027-02.xml")
    gap = only(run, "sequence_gap")
    assert facts(gap) == ("sequence_gap", None, "EUR", "warning", "open")
    assert gap.statement is not None
    assert gap.statement.statement_id == "2027-02-0045"
    assert gap.message == "2027-02-0045: sequence number 45 follows 42; 2 statement(s) missing."
    assert not Discrepancy.objects.filter(run=run, kind="balance_mismatch").exists()


# --- matching checks: on auto-match and after each decision --------------------------------

CARD_EXPORT = (
    b"Booking date,Amount,Currency,Description,Counterparty\n"
    b"2026-11-03,-49.90,EUR,CARD 4711 OFFICE SUPPLIES,Buerobedarf Mueller\n"
    b"2026-11-03,-49.90,EUR,CARD 4711 OFFICE SUPPLIES,Buerobedarf Mueller\n"
    b"2026-11-04,1250.00,EUR,INV-2026-118,ACME GmbH\n"
)


def test_the_same_row_twice_in_one_export_is_a_duplicate_entry(
    alice_ledger: Ledger, alice: User
) -> None:
    book(
        alice_ledger,
        alice,
        ("AP-881", "-49.90", "2026-11-03", "CARD 4711"),
        ("AR-118", "1250.00", "2026-11-04", "INV-2026-118"),
    )
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    run_auto_match(run=run, actor=alice)
    twins = SourceEntry.objects.filter(run=run, amount=D("-49.90"))
    assert twins.count() == 2  # both kept: it may be a genuine second purchase
    duplicate = only(run, "duplicate_entry")
    assert facts(duplicate) == ("duplicate_entry", D("-49.90"), "EUR", "warning", "open")
    assert duplicate.source_entry in twins
    assert duplicate.message == (
        "Bank entry of 2026-11-03 (-49.90 EUR) repeats an identical entry of the same "
        "statement: a genuine second payment or a duplicate booking?"
    )


def test_a_match_further_apart_than_the_window_is_a_date_mismatch(
    alice_ledger: Ledger, alice: User
) -> None:
    # The invoice was booked on Thursday 2026-10-22; ACME paid it on Wednesday 2026-11-04,
    # 13 calendar days and 9 business days later: far outside the ledger's window of 3
    # business days, so only a person pairs them.
    [invoice] = book(alice_ledger, alice, ("AR-118", "1250.00", "2026-10-22", "INV-2026-118"))
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    run_auto_match(run=run, actor=alice)
    paid = SourceEntry.objects.get(run=run, amount=D("1250.00"))
    match = match_create_manual(
        run=run, source_entry_ids=[paid.pk], ledger_entry_ids=[invoice.pk], actor=alice
    )
    late = only(run, "date_mismatch")
    assert facts(late) == ("date_mismatch", None, "", "info", "open")
    assert late.match == match
    assert late.message == "Bank and ledger dates are 9 business days apart (window 3)."


def test_the_date_mismatch_uses_the_runs_own_window_not_the_ledgers(
    alice_ledger: Ledger, alice: User
) -> None:
    [invoice] = book(alice_ledger, alice, ("AR-118", "1250.00", "2026-10-22", "INV-2026-118"))
    run = run_create(ledger=alice_ledger, actor=alice, match_settings={"date_window_days": 14})
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    paid = SourceEntry.objects.get(run=run, amount=D("1250.00"))
    match_create_manual(
        run=run, source_entry_ids=[paid.pk], ledger_entry_ids=[invoice.pk], actor=alice
    )
    discrepancies_recompute(run=run)
    assert not Discrepancy.objects.filter(run=run, kind="date_mismatch").exists()


def test_a_match_linking_two_currencies_is_a_currency_mismatch(
    alice_ledger: Ledger, alice: User
) -> None:
    # No service makes such a match any more: a manual match across currencies is refused
    # (409 currency_mismatch) and the matcher never mixes them. The check guards matches
    # made before that rule, so the state is reached the way they were left: a EUR match
    # whose GL side is in USD in the database.
    [invoice] = book(alice_ledger, alice, ("AR-118", "1250.00", "2026-11-04", "INV-2026-118"))
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    paid = SourceEntry.objects.get(run=run, amount=D("1250.00"))
    match = match_create_manual(
        run=run, source_entry_ids=[paid.pk], ledger_entry_ids=[invoice.pk], actor=alice
    )
    assert not Discrepancy.objects.filter(run=run, kind="currency_mismatch").exists()
    LedgerEntry.objects.filter(pk=invoice.pk).update(currency="USD")
    discrepancies_recompute(run=run)
    mixed = only(run, "currency_mismatch")
    assert facts(mixed) == ("currency_mismatch", None, "", "critical", "open")
    assert mixed.match == match
    assert mixed.message == "The match links entries in EUR, USD."


def test_a_bank_entry_without_a_gl_entry_is_missing_in_ledger(
    alice_ledger: Ledger, alice: User
) -> None:
    book(alice_ledger, alice, ("AP-881", "-49.90", "2026-11-03", "CARD 4711"))
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    run_auto_match(run=run, actor=alice)
    missing = Discrepancy.objects.get(
        run=run, kind="missing_in_ledger", source_entry__amount=D("1250.00")
    )
    # 1,250.00 is past the 100.00 warning threshold; it is 0 days old at the period end.
    assert facts(missing) == ("missing_in_ledger", D("1250.00"), "EUR", "warning", "open")
    assert missing.message == (
        "Bank entry of 2026-11-04 (1250.00 EUR) has no GL counterpart: INV-2026-118."
    )


def test_a_gl_entry_the_bank_does_not_show_is_missing_in_statement(
    alice_ledger: Ledger, alice: User
) -> None:
    book(
        alice_ledger,
        alice,
        ("AP-881", "-49.90", "2026-11-03", "CARD 4711"),
        ("AR-118", "1250.00", "2026-11-04", "INV-2026-118"),
        ("AR-120", "80.00", "2026-11-03", "INV-2026-120"),  # booked as paid, never arrived
    )
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    run_auto_match(run=run, actor=alice)
    missing = only(run, "missing_in_statement")
    # A CSV export has no statement period: its first and last booking day stand in, so
    # a GL entry dated inside them counts. 80.00 is below the warning threshold.
    assert facts(missing) == ("missing_in_statement", D("80.00"), "EUR", "info", "open")
    assert missing.ledger_entry is not None
    assert missing.ledger_entry.external_id == "AR-120"
    assert missing.message == (
        "GL entry AR-120 of 2026-11-03 (80.00 EUR) is not on the bank statement."
    )


def test_a_match_with_a_difference_is_an_amount_mismatch(alice_ledger: Ledger, alice: User) -> None:
    # ACME paid 1,250.00 against an invoice of 1,262.50: the bank kept a 12.50 fee.
    [invoice] = book(alice_ledger, alice, ("AR-118", "1262.50", "2026-11-04", "INV-2026-118"))
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    paid = SourceEntry.objects.get(run=run, amount=D("1250.00"))
    match = match_create_manual(
        run=run, source_entry_ids=[paid.pk], ledger_entry_ids=[invoice.pk], actor=alice
    )
    short = only(run, "amount_mismatch")
    assert facts(short) == ("amount_mismatch", D("-12.50"), "EUR", "info", "open")
    assert short.match == match
    assert short.message == (
        "Matched with a difference of -12.50 EUR (bank minus ledger), e.g. bank fees."
    )


# --- a person's decision outlives recomputes -----------------------------------------------


def test_a_closed_discrepancy_stays_closed_and_single_on_recompute(
    alice_ledger: Ledger, alice: User
) -> None:
    book(alice_ledger, alice, ("AP-881", "-49.90", "2026-11-03", "CARD 4711"))
    run = run_create(ledger=alice_ledger, actor=alice)
    upload(run, alice, CARD_EXPORT, "card-2026-11.csv")
    run_auto_match(run=run, actor=alice)
    missing = Discrepancy.objects.get(
        run=run, kind="missing_in_ledger", source_entry__amount=D("1250.00")
    )
    discrepancy_update(
        discrepancy=missing,
        status="closed",
        note="Booked in December by the AR team",
        reason="timing_difference",
        actor=alice,
    )
    # The finding still holds (no GL entry came), and the run is matched again.
    run_auto_match(run=run, actor=alice)
    discrepancies_recompute(run=run)
    [again] = Discrepancy.objects.filter(run=run, source_entry=missing.source_entry)
    assert again.pk == missing.pk
    assert (again.status, again.close_reason, again.is_current) == (
        "closed",
        "timing_difference",
        True,
    )
    assert again.note == "Booked in December by the AR team"
    assert again.resolved_at is not None
