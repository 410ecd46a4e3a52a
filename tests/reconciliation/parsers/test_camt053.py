"""camt.053 reader: the real bank files, the rules of DESIGN.md §1, hostile input, streaming.

The expected values in `expected/camt053/<file>.json` were read off the XML by hand, not
taken from this parser's output; each file's notable feature gets its own test below.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ledgers.money import MINOR_UNITS
from reconciliation.parsers import camt053
from reconciliation.parsers.camt053 import WARNINGS_PER_CODE, read_camt053
from reconciliation.parsers.detect import detect_format
from reconciliation.parsers.types import (
    ParsedEntry,
    ParseError,
    ParseWarning,
    StatementInfo,
    TransactionDetail,
)
from reconciliation.parsers.xmlsafe import CHUNK_SIZE
from tests.fixture_paths import FIXTURES_DIR
from tests.reconciliation.parsers.camt_builder import (
    OWN_IBAN,
    VERSIONS,
    ChunkReader,
    Detail,
    Entry,
    Statement,
    camt053_bytes,
    camt053_chunks,
)
from tests.reconciliation.parsers.counting import CountingReader

CAMT_DIR = FIXTURES_DIR / "camt053"
XSD_DIR = FIXTURES_DIR / "xsd"
EXPECTED_DIR = Path(__file__).resolve().parent / "expected" / "camt053"
FIXTURE_NAMES = sorted(path.stem for path in EXPECTED_DIR.glob("*.json"))
PROJECT_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Parsed:
    entries: list[ParsedEntry]
    statements: list[StatementInfo]
    warnings: list[ParseWarning]


def parse_bytes(data: bytes, *, include_pending: bool = False) -> Parsed:
    reader = read_camt053(io.BytesIO(data), include_pending=include_pending)
    entries = list(reader.entries())
    return Parsed(entries, reader.statements, reader.warnings)


@cache
def parse_fixture(name: str) -> Parsed:
    with (CAMT_DIR / f"{name}.xml").open("rb") as stream:
        reader = read_camt053(stream)
        entries = list(reader.entries())
    return Parsed(entries, reader.statements, reader.warnings)


@cache
def expected(name: str) -> dict[str, Any]:
    return json.loads((EXPECTED_DIR / f"{name}.json").read_text(encoding="utf-8"))


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def entry_at(parsed: Parsed, line: int) -> ParsedEntry:
    return next(entry for entry in parsed.entries if entry.line == line)


# --- every real file ---------------------------------------------------------------------


def test_every_camt_fixture_has_hand_read_expectations() -> None:
    assert CAMT_DIR.is_dir(), f"fixtures not found at {CAMT_DIR}"
    assert sorted(path.stem for path in CAMT_DIR.glob("*.xml")) == FIXTURE_NAMES


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_has_the_expected_number_of_statements_and_entries(name: str) -> None:
    parsed, want = parse_fixture(name), expected(name)
    assert len(parsed.statements) == want["statement_count"]
    assert len(parsed.entries) == want["entry_count"]
    assert [entry.line for entry in parsed.entries] == list(range(1, want["entry_count"] + 1))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_amounts_currencies_and_bank_references_in_file_order(name: str) -> None:
    parsed, want = parse_fixture(name), expected(name)
    assert [entry.amount for entry in parsed.entries] == [Decimal(a) for a in want["amounts"]]
    assert [entry.bank_reference for entry in parsed.entries] == want["bank_references"]
    sums: dict[str, Decimal] = {}
    for entry in parsed.entries:
        sums[entry.currency] = sums.get(entry.currency, Decimal(0)) + entry.amount
    assert sums == {currency: Decimal(s) for currency, s in want["entry_sum_by_currency"].items()}


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_first_and_last_entry(name: str) -> None:
    parsed, want = parse_fixture(name), expected(name)
    for entry, spec in (
        (parsed.entries[0] if parsed.entries else None, want["first_entry"]),
        (parsed.entries[-1] if parsed.entries else None, want["last_entry"]),
    ):
        if spec is None:
            assert entry is None
            continue
        assert entry is not None
        assert entry.booking_date == day(spec["booking_date"])
        assert entry.value_date == day(spec["value_date"])
        assert entry.amount == Decimal(spec["amount"])
        assert entry.currency == spec["currency"]
        assert entry.bank_reference == spec["bank_reference"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_statement_metadata(name: str) -> None:
    parsed, want = parse_fixture(name), expected(name)
    for index, (info, spec) in enumerate(zip(parsed.statements, want["statements"], strict=True)):
        assert info.index == index
        assert info.statement_id == spec["statement_id"]
        assert info.account_iban == spec["account_iban"]
        assert info.account_other_id == spec["account_other_id"]
        assert info.currency == spec["currency"]
        assert info.electronic_sequence == spec["electronic_sequence"]
        assert info.legal_sequence == spec["legal_sequence"]
        assert info.period_from == day(spec["period_from"])
        assert info.period_to == day(spec["period_to"])
        assert info.opening_balance == dec(spec["opening_balance"])
        assert info.opening_date == day(spec["opening_date"])
        assert info.closing_balance == dec(spec["closing_balance"])
        assert info.closing_date == day(spec["closing_date"])
        assert info.entry_count == spec["entry_count"]
        assert info.entry_sum == Decimal(spec["entry_sum"])
        assert info.skipped_count == spec["skipped_count"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_balance_continuity_is_what_the_file_says(name: str) -> None:
    parsed, want = parse_fixture(name), expected(name)
    for info, spec in zip(parsed.statements, want["statements"], strict=True):
        if spec["continuity"] == "unknown":
            assert info.opening_balance is None or info.closing_balance is None
            continue
        assert info.opening_balance is not None
        assert info.closing_balance is not None
        computed = info.opening_balance + info.entry_sum
        if spec["continuity"] == "balanced":
            assert computed == info.closing_balance
        else:
            assert computed != info.closing_balance
            assert info.closing_balance - computed == Decimal(spec["continuity_difference"])


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_warnings_are_the_expected_kinds(name: str) -> None:
    parsed, want = parse_fixture(name), expected(name)
    assert sorted({warning.code for warning in parsed.warnings}) == want["warning_codes"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_no_fixture_amount_is_flagged_as_excess_precision(name: str) -> None:
    # 18.150 EUR, 5442.09000 RON, 105.750 EUR: more digits written, but no more precision.
    parsed = parse_fixture(name)
    assert not any(entry.excess_precision for entry in parsed.entries)
    assert "excess_precision" not in {warning.code for warning in parsed.warnings}


# --- each file's notable feature -----------------------------------------------------------


def test_multi_statement_file_chains_closing_balance_into_next_opening() -> None:
    name = "genkgo-v02-multi-statement"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    first, second = parsed.statements
    assert first.closing_balance == second.opening_balance == Decimal("27.00")
    assert [entry.statement_index for entry in parsed.entries] == [0, 1]
    for spec in notable["entries"]:
        entry = entry_at(parsed, spec["line"])
        assert entry.statement_index == spec["statement_index"]
        assert entry.bank_transaction_code == spec["bank_transaction_code"]
        assert entry.end_to_end_id == spec["end_to_end_id"]
        assert entry.counterparty_name == spec["counterparty_name"]
        assert entry.counterparty_iban == spec["counterparty_iban"]
        assert entry.description == spec["description"]


def test_three_decimal_eur_is_kept_as_written_and_is_not_excess_precision() -> None:
    name = "genkgo-v02-three-decimal-amounts"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    (entry,) = parsed.entries
    assert str(entry.amount) == notable["amount_text"]  # not rounded, not re-quantized
    assert entry.excess_precision is notable["excess_precision"]
    (info,) = parsed.statements
    assert str(info.opening_balance) == "18.150"
    assert info.opening_balance + info.entry_sum == Decimal("27.000") != info.closing_balance


def test_statement_without_entries_keeps_its_five_decimal_ron_balance() -> None:
    name = "genkgo-v02-empty-statement-no-entries-ron"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    (info,) = parsed.statements
    assert parsed.entries == []
    assert str(info.opening_balance) == notable["opening_balance_text"]
    assert info.currency == "RON"  # no Acct/Ccy: taken from the balance
    assert info.opening_date == date(2025, 7, 23)  # Dt/DtTm with nanoseconds


@pytest.mark.parametrize(
    "name", ["genkgo-v03-amount-details-four-currencies", "genkgo-v08-amount-details-jpy-sek-chf"]
)
def test_genkgo_transaction_detail_carries_its_own_amount_and_scor_reference(name: str) -> None:
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    (entry,) = parsed.entries
    assert entry.bank_transaction_code == notable["bank_transaction_code"]
    (detail,) = entry.details
    spec = notable["detail"]
    assert detail.amount == Decimal(spec["amount"])
    assert detail.currency == spec["currency"]
    assert detail.end_to_end_id == spec["end_to_end_id"]
    assert detail.creditor_reference == spec["creditor_reference"]
    assert detail.creditor_reference_type == spec["creditor_reference_type"]
    assert detail.counterparty_name == spec["counterparty_name"]
    assert detail.counterparty_iban == spec["counterparty_iban"]
    assert detail.remittance == spec["remittance"]
    assert detail.charges == dec(spec["charges"])
    # Exactly one TxDtls: its references are the entry's.
    assert entry.creditor_reference == spec["creditor_reference"]
    assert entry.counterparty_name == spec["counterparty_name"]
    assert entry.end_to_end_id == spec["end_to_end_id"]


def test_v03_closing_balance_in_another_currency_is_reported() -> None:
    name = "genkgo-v03-amount-details-four-currencies"
    parsed = parse_fixture(name)
    (warning,) = parsed.warnings
    assert warning.code == "balance_currency_mismatch"
    assert expected(name)["notable"]["closing_balance_currency"] in warning.message


def test_finland_batches_keep_every_transaction_detail() -> None:
    name = "finland-v02-batches-eur-usd-charges"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    assert [entry.batch_count for entry in parsed.entries] == notable["batch_counts"]
    assert [len(entry.details) for entry in parsed.entries] == notable["detail_counts"]
    assert [entry.value_date for entry in parsed.entries] == [
        day(d) for d in notable["value_dates"]
    ]
    assert [entry.bank_transaction_code for entry in parsed.entries] == notable[
        "bank_transaction_codes"
    ]
    credits = [e.amount for e in parsed.entries if e.amount > 0]
    debits = [e.amount for e in parsed.entries if e.amount < 0]
    assert (len(credits), sum(credits)) == (notable["credit_count"], Decimal(notable["credit_sum"]))
    assert (len(debits), sum(debits)) == (notable["debit_count"], Decimal(notable["debit_sum"]))

    batch = entry_at(parsed, notable["batch_entry"]["line"])
    for detail, spec in zip(batch.details, notable["batch_entry"]["details"], strict=True):
        assert detail.amount == Decimal(spec["amount"])
        assert detail.currency == spec["currency"]
        assert detail.instruction_id == spec["instruction_id"]
        assert detail.end_to_end_id == spec["end_to_end_id"]
        assert detail.creditor_reference == spec["creditor_reference"]
        assert detail.creditor_reference_type == spec["creditor_reference_type"]
        assert detail.remittance == spec["remittance"]
        assert detail.counterparty_name == spec["counterparty_name"]
        assert detail.counterparty_iban == spec["counterparty_iban"]
        assert detail.charges == dec(spec["charges"])
    assert sum(d.amount for d in batch.details if d.amount is not None) == batch.amount
    # More than one detail: nothing is copied up to the entry.
    assert batch.end_to_end_id is None
    assert batch.counterparty_name is None


def test_finland_charges_and_usd_instructed_amount() -> None:
    name = "finland-v02-batches-eur-usd-charges"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    for spec in notable["charged_entries"]:
        entry = entry_at(parsed, spec["line"])
        (detail,) = entry.details
        # The EUR transaction amount, not the USD 3200.00 instructed amount.
        assert (detail.amount, detail.currency) == (Decimal(spec["detail_amount"]), "EUR")
        assert detail.charges == Decimal(spec["charges"])
        assert entry.counterparty_name == spec["counterparty_name"]
        assert detail.instruction_id == spec["instruction_id"]
        if "remittance" in spec:
            assert entry.description == spec["remittance"]
        if "creditor_reference" in spec:
            assert entry.creditor_reference == spec["creditor_reference"]
    sct = entry_at(parsed, notable["sct_entry"]["line"])
    assert sct.end_to_end_id == notable["sct_entry"]["end_to_end_id"]
    assert sct.creditor_reference == notable["sct_entry"]["creditor_reference"]
    assert sct.counterparty_name == notable["sct_entry"]["counterparty_name"]
    salary_batch = parsed.entries[0]
    assert salary_batch.details[0].amount is None  # a TxDtls with only a purpose code


def test_postfinance_batches_add_up_and_carry_their_charges() -> None:
    name = "postfinance-v04-chf-batches-reversals-charges"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    assert sum(len(entry.details) for entry in parsed.entries) == notable["detail_count_total"]
    assert [entry.batch_count for entry in parsed.entries] == notable["batch_counts"]
    assert [entry.booking_date for entry in parsed.entries] == [
        day(d) for d in notable["booking_dates"]
    ]
    assert [entry.value_date for entry in parsed.entries] == [
        day(d) for d in notable["value_dates"]
    ]
    for spec in notable["batches"]:
        entry = entry_at(parsed, spec["line"])
        assert [d.amount for d in entry.details] == [Decimal(a) for a in spec["detail_amounts"]]
        assert sum(d.amount for d in entry.details if d.amount is not None) == entry.amount
        assert entry.charges == dec(spec["entry_charges"])
        first = entry.details[0]
        assert first.creditor_reference == spec["first_detail"]["creditor_reference"]
        assert first.creditor_reference_type == spec["first_detail"]["creditor_reference_type"]
        assert first.charges == dec(spec["first_detail"]["charges"])
        assert first.counterparty_name == spec["first_detail"]["counterparty_name"]
    assert parsed.entries[0].description == notable["first_description"]


def test_postfinance_reversals_keep_the_booked_sign_and_the_original_debtor() -> None:
    name = "postfinance-v04-chf-batches-reversals-charges"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    reversals = [entry for entry in parsed.entries if entry.is_reversal]
    assert [entry.line for entry in reversals] == [spec["line"] for spec in notable["reversals"]]
    for entry, spec in zip(reversals, notable["reversals"], strict=True):
        assert entry.amount == Decimal(spec["amount"]) < 0  # DBIT + RvslInd: still money out
        assert entry.bank_reference == spec["bank_reference"]
        assert entry.end_to_end_id == spec["end_to_end_id"]
        assert entry.counterparty_name == spec["counterparty_name"]
        assert entry.counterparty_iban == spec["counterparty_iban"]
        assert entry.charges == Decimal(spec["charges"])
        assert entry.details[0].amount == entry.amount


def test_iso_business_sample_zero_decimal_amounts_and_foreign_currency_detail() -> None:
    name = "iso-business-sample-v04-eur-sek"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    assert [str(entry.amount) for entry in parsed.entries] == ["105678.50", "-200000", "30000"]
    assert [entry.batch_count for entry in parsed.entries] == notable["batch_counts"]
    assert [len(entry.details) for entry in parsed.entries] == notable["detail_counts"]
    assert [e.bank_transaction_code for e in parsed.entries] == notable["bank_transaction_codes"]
    first = parsed.entries[0].details[0]
    spec = notable["first_detail"]
    assert (first.amount, first.currency) == (Decimal(spec["amount"]), spec["currency"])
    assert first.end_to_end_id == spec["end_to_end_id"]
    assert first.counterparty_name == spec["counterparty_name"]
    fx = entry_at(parsed, notable["fx_detail"]["line"])
    (detail,) = fx.details
    assert (detail.amount, detail.currency) == (Decimal("3255"), "EUR")
    assert detail.instruction_id == notable["fx_detail"]["instruction_id"]
    assert fx.end_to_end_id == notable["fx_detail"]["end_to_end_id"]
    assert fx.counterparty_name is None


def test_ubs_swiss_qr_and_rf_references_and_a_eur_entry_on_a_chf_account() -> None:
    name = "ubs-swiss-v08-qrr-scor-fx-invalid-uetr"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    for spec in notable["entries"]:
        entry = entry_at(parsed, spec["line"])
        assert entry.entry_reference == spec["entry_reference"]
        assert entry.end_to_end_id == spec["end_to_end_id"]
        assert entry.creditor_reference == spec["creditor_reference"]
        assert entry.counterparty_name == spec["counterparty_name"]
        assert entry.counterparty_iban == spec["counterparty_iban"]
        assert entry.description == spec["description"]
        assert entry.bank_transaction_code == spec["bank_transaction_code"]
        assert entry.batch_count == spec["batch_count"]
        (detail,) = entry.details
        assert detail.remittance == spec["detail_remittance"]
        assert detail.creditor_reference_type == spec["creditor_reference_type"]
        assert detail.instruction_id == spec["instruction_id"]
    assert str(parsed.entries[0].amount) == "474.4"
    (warning,) = parsed.warnings
    assert (warning.code, warning.line) == ("foreign_currency_entry", 3)
    (info,) = parsed.statements
    chf = sum(entry.amount for entry in parsed.entries if entry.currency == "CHF")
    assert (
        info.opening_balance + chf == Decimal(notable["chf_only_closing"]) != info.closing_balance
    )


def test_wise_datetime_booking_entry_level_charges_and_no_details() -> None:
    name = "wise-v10-usd-datetime-charges-no-txdtls"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    (entry,) = parsed.entries
    assert entry.booking_date == date(2023, 6, 21)
    assert entry.value_date is None
    assert entry.entry_reference == notable["entry_reference"]
    assert entry.bank_transaction_code == notable["bank_transaction_code"]
    assert entry.charges == Decimal(notable["charges"])
    assert len(entry.details) == notable["detail_count"]
    assert entry.description == notable["description"]
    (info,) = parsed.statements
    assert info.opening_balance is None
    assert info.closing_date == date(2023, 7, 7)  # DtTm at +02:00, not moved to UTC


def test_vr_bank_schema_invalid_file_imports_with_prcd_opening() -> None:
    name = "vr-bank-de-v02-batch-schema-invalid"
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    assert parsed.entries[0].entry_reference == notable["entry_reference"]  # after Amt
    assert [e.bank_transaction_code for e in parsed.entries] == notable["bank_transaction_codes"]
    for spec in notable["entries"]:
        entry = entry_at(parsed, spec["line"])
        assert entry.end_to_end_id == spec["end_to_end_id"]  # NOTPROVIDED is dropped
        assert entry.counterparty_name == spec["counterparty_name"]
        assert entry.counterparty_iban == spec["counterparty_iban"]
        assert entry.description == spec["description"]
    batch = entry_at(parsed, notable["batch_entry"]["line"])
    assert batch.batch_count == notable["batch_entry"]["batch_count"]
    for detail, spec in zip(batch.details, notable["batch_entry"]["details"], strict=True):
        assert detail.amount == Decimal(spec["amount"])
        assert detail.end_to_end_id == spec["end_to_end_id"]
        assert detail.counterparty_name == spec["counterparty_name"]
        assert detail.counterparty_iban == spec["counterparty_iban"]
        assert detail.remittance == spec["remittance"]


def test_lithuanian_single_line_file_without_status_dates_or_balance_direction_imports() -> None:
    name = "lithuania-v08-anonymised-multistmt-invalid"
    raw = (CAMT_DIR / f"{name}.xml").read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert raw.count(b"\n") == 2  # declaration line, then the whole document on one line
    parsed, notable = parse_fixture(name), expected(name)["notable"]
    assert {entry.booking_date for entry in parsed.entries} == {date(2024, 4, 11)}
    assert all(entry.value_date is None for entry in parsed.entries)
    assert [entry.batch_count for entry in parsed.entries] == notable["batch_counts"]
    assert all(len(entry.details) == 1 for entry in parsed.entries)
    assert all(e.details[0].amount == e.amount for e in parsed.entries)  # sign from the entry
    assert sum(e.amount > 0 for e in parsed.entries) == notable["credit_count"]
    assert sum(e.amount < 0 for e in parsed.entries) == notable["debit_count"]
    first_ref, last_ref = notable["entry_references_first_last"]
    assert (parsed.entries[0].entry_reference, parsed.entries[-1].entry_reference) == (
        first_ref,
        last_ref,
    )
    assert (
        sorted({e.bank_transaction_code for e in parsed.entries})
        == notable["bank_transaction_codes_distinct"]
    )
    counts = Counter(warning.code for warning in parsed.warnings)
    assert dict(counts) == notable["warning_counts"]
    fallback = next(w for w in parsed.warnings if w.code == "missing_booking_date")
    assert (fallback.line, "2024-04-11" in fallback.message) == (1, True)
    assert parsed.statements[1].entry_count == 0


def test_bah_envelope_is_read_through_to_the_document() -> None:
    name = "prowide-v07-bah-envelope-empty-usd"
    raw = (CAMT_DIR / f"{name}.xml").read_bytes()
    notable = expected(name)["notable"]
    assert etree.fromstring(raw).tag == notable["root"]
    assert detect_format(raw[:8192]) == notable["detected_format"]
    (info,) = parse_fixture(name).statements
    assert (info.opening_balance, info.closing_balance) == (None, None)  # only OPAV/ITBD


# --- rules, on generated files --------------------------------------------------------------


def one_entry_file(entry: Entry, *, version: int = 8, **statement: Any) -> bytes:
    return camt053_bytes([Statement(entries=[entry], **statement)], version=version)


def test_reversal_is_flagged_without_flipping_the_sign() -> None:
    parsed = parse_bytes(one_entry_file(Entry(amount=Decimal("50.00"), reversal=True)))
    (entry,) = parsed.entries
    assert (entry.amount, entry.is_reversal) == (Decimal("50.00"), True)


@pytest.mark.parametrize("version", [2, 6, 7, 14])
def test_pending_and_info_entries_are_skipped_and_counted(version: int) -> None:
    data = camt053_bytes(
        [
            Statement(
                entries=[
                    Entry(amount=Decimal("1.00"), bank_reference="BOOKED"),
                    Entry(amount=Decimal("2.00"), status="PDNG"),
                    Entry(amount=Decimal("3.00"), status="INFO"),
                    Entry(amount=Decimal("4.00"), status="FUTR"),
                ]
            )
        ],
        version=version,
    )
    parsed = parse_bytes(data)
    assert [entry.bank_reference for entry in parsed.entries] == ["BOOKED"]
    (info,) = parsed.statements
    assert (info.entry_count, info.entry_sum, info.skipped_count) == (1, Decimal("1.00"), 3)
    codes = Counter(warning.code for warning in parsed.warnings)
    assert codes == {"skipped_pending": 2, "skipped_info": 1}

    with_pending = parse_bytes(data, include_pending=True)
    assert [entry.amount for entry in with_pending.entries] == [
        Decimal("1.00"),
        Decimal("2.00"),
        Decimal("4.00"),
    ]
    assert [entry.line for entry in with_pending.entries] == [1, 2, 4]
    assert with_pending.statements[0].skipped_count == 1


def test_missing_status_is_read_as_booked_with_a_warning() -> None:
    parsed = parse_bytes(one_entry_file(Entry(amount=Decimal("1.00"), status=None)))
    assert len(parsed.entries) == 1
    assert [(w.code, w.line) for w in parsed.warnings] == [("missing_status", 1)]


def test_datetime_booking_keeps_the_date_in_the_banks_offset() -> None:
    late_evening_in_new_york = Entry(
        amount=Decimal("1.00"), booking_date=date(2024, 1, 31), booking_time="23:30:00-05:00"
    )
    (entry,) = parse_bytes(one_entry_file(late_evening_in_new_york)).entries
    assert entry.booking_date == date(2024, 1, 31)  # 2024-02-01T04:30Z in UTC


def test_missing_booking_date_falls_back_to_value_date_with_a_warning() -> None:
    data = one_entry_file(
        Entry(amount=Decimal("1.00"), booking_date=None, value_date=date(2024, 2, 2))
    )
    parsed = parse_bytes(data)
    assert parsed.entries[0].booking_date == date(2024, 2, 2)
    assert [w.code for w in parsed.warnings] == ["missing_booking_date"]


def test_missing_booking_date_falls_back_to_the_statement_period() -> None:
    data = one_entry_file(
        Entry(amount=Decimal("1.00"), booking_date=None),
        period=("2024-03-01T00:00:00+01:00", "2024-03-31T23:59:59+01:00"),
    )
    assert parse_bytes(data).entries[0].booking_date == date(2024, 3, 31)


@pytest.mark.parametrize(
    ("amount", "currency", "excess"),
    [
        ("1.005", "EUR", True),
        ("1.050", "EUR", False),
        ("100.5", "JPY", True),
        ("100", "JPY", False),
        ("1.2345", "BHD", True),
        ("1.234", "BHD", False),
    ],
)
def test_excess_precision_is_kept_exactly_and_flagged(
    amount: str, currency: str, excess: bool
) -> None:
    parsed = parse_bytes(
        one_entry_file(Entry(amount=Decimal(amount), currency=currency), currency=currency)
    )
    (entry,) = parsed.entries
    assert str(entry.amount) == amount
    assert entry.excess_precision is excess
    assert ("excess_precision" in {w.code for w in parsed.warnings}) is excess


def single_ntry(
    ntry: str, *, namespace: str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
) -> bytes:
    return (
        f'<Document xmlns="{namespace}"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId>'
        "<CreDtTm>2024-01-31T10:00:00</CreDtTm></GrpHdr><Stmt><Id>S</Id>"
        "<Acct><Id><IBAN>CH9300762011623852957</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        '<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
        "<BookgDt><Dt>2024-01-31</Dt></BookgDt><BkTxCd/></Ntry>"
        f"{ntry}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


GOOD_TAIL = "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-01-31</Dt></BookgDt><BkTxCd/>"


@pytest.mark.parametrize(
    ("ntry", "code", "element"),
    [
        (
            f"<Ntry><CdtDbtInd>CRDT</CdtDbtInd>{GOOD_TAIL}</Ntry>",
            "missing_amount",
            "Stmt[1]/Ntry[2]/Amt",
        ),
        (
            f'<Ntry><Amt Ccy="EUR">12,50</Amt><CdtDbtInd>CRDT</CdtDbtInd>{GOOD_TAIL}</Ntry>',
            "invalid_amount",
            "Stmt[1]/Ntry[2]/Amt",
        ),
        (
            f'<Ntry><Amt Ccy="EUR">-5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{GOOD_TAIL}</Ntry>',
            "invalid_amount",
            "Stmt[1]/Ntry[2]/Amt",
        ),
        (
            f'<Ntry><Amt Ccy="EUR">1e3</Amt><CdtDbtInd>CRDT</CdtDbtInd>{GOOD_TAIL}</Ntry>',
            "invalid_amount",
            "Stmt[1]/Ntry[2]/Amt",
        ),
        (
            f'<Ntry><Amt Ccy="XXQ">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{GOOD_TAIL}</Ntry>',
            "unknown_currency",
            "Stmt[1]/Ntry[2]/Amt",
        ),
        (
            f'<Ntry><Amt Ccy="EUR">1.00</Amt>{GOOD_TAIL}</Ntry>',
            "invalid_direction",
            "Stmt[1]/Ntry[2]/CdtDbtInd",
        ),
        (
            '<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
            "<BookgDt><Dt>31.01.2024</Dt></BookgDt><BkTxCd/></Ntry>",
            "invalid_date",
            "Stmt[1]/Ntry[2]/BookgDt/Dt",
        ),
        (
            '<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
            "<BookgDt><Dt>2024-02-30</Dt></BookgDt><BkTxCd/></Ntry>",
            "invalid_date",
            "Stmt[1]/Ntry[2]/BookgDt/Dt",
        ),
        (
            '<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
            "<BookgDt><Dt>2024-01-31</Dt></BookgDt><ValDt><DtTm>2024-01-31T25:00:00</DtTm>"
            "</ValDt><BkTxCd/></Ntry>",
            "invalid_date",
            "Stmt[1]/Ntry[2]/ValDt/DtTm",
        ),
        (
            f'<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>{GOOD_TAIL}<NtryDtls>'
            '<TxDtls><Amt Ccy="EUR">abc</Amt></TxDtls></NtryDtls></Ntry>',
            "invalid_amount",
            "Stmt[1]/Ntry[2]/NtryDtls[1]/TxDtls[1]/Amt",
        ),
    ],
)
def test_what_cannot_be_understood_is_a_parse_error_naming_the_element(
    ntry: str, code: str, element: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_bytes(single_ntry(ntry))
    assert caught.value.code == code
    assert caught.value.element == element
    assert element in str(caught.value)
    assert caught.value.line == 1


def test_an_entry_before_the_bad_one_is_still_yielded_first() -> None:
    reader = read_camt053(
        io.BytesIO(single_ntry(f"<Ntry><CdtDbtInd>CRDT</CdtDbtInd>{GOOD_TAIL}</Ntry>"))
    )
    entries = reader.entries()
    assert next(entries).amount == Decimal("1.00")
    with pytest.raises(ParseError):
        next(entries)


def test_a_file_without_statements_is_a_parse_error() -> None:
    camt052 = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"><BkToCstmrAcctRpt>'
        b"<Rpt><Id>R</Id></Rpt></BkToCstmrAcctRpt></Document>"
    )
    with pytest.raises(ParseError) as caught:
        parse_bytes(camt052)
    assert caught.value.code == "no_statement"


def test_entries_can_only_be_streamed_once() -> None:
    reader = read_camt053(io.BytesIO(one_entry_file(Entry(amount=Decimal("1.00")))))
    list(reader.entries())
    with pytest.raises(RuntimeError):
        list(reader.entries())


def test_hostile_tags_and_dates_cannot_grow_the_readers_caches() -> None:
    # Both caches outlive a parse, so no upload may fill them past their bounds.
    statements = "".join(
        f"<Stmt><Id>S{n}</Id><CreDtTm>{n}</CreDtTm><CreDtTm>{n:0>100}</CreDtTm>"
        f"<Junk{n}/><Junk{n}{'x' * 300}/></Stmt>"
        for n in range(max(camt053._NAMES_MAX, camt053._DATE_CACHE_MAX) + 10)
    )
    parse_bytes(f"<Document><BkToCstmrStmt>{statements}</BkToCstmrStmt></Document>".encode())
    assert len(camt053._NAMES) <= camt053._NAMES_MAX
    assert max(map(len, camt053._NAMES)) <= camt053._NAMES_KEY_CHARS
    assert len(camt053._DATE_CACHE) <= camt053._DATE_CACHE_MAX
    assert max(map(len, camt053._DATE_CACHE)) <= camt053._DATE_CACHE_KEY_CHARS


def test_repeated_warnings_are_summarised_not_accumulated() -> None:
    entries = [Entry(amount=Decimal("1.00"), status=None) for _ in range(WARNINGS_PER_CODE + 30)]
    parsed = parse_bytes(camt053_bytes([Statement(entries=entries)]))
    listed = [w for w in parsed.warnings if w.code == "missing_status"]
    assert len(listed) == WARNINGS_PER_CODE + 1
    assert "30 more" in listed[-1].message


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            b"<Document><BkToCstmrStmt><Stmt><Id>S</Id>{ntry}</Stmt></BkToCstmrStmt></Document>",
            id="no-namespace",
        ),
        pytest.param(
            b'<c:Document xmlns:c="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
            b"<c:BkToCstmrStmt>"
            b"<c:Stmt><c:Id>S</c:Id>{ntry}</c:Stmt></c:BkToCstmrStmt></c:Document>",
            id="prefixed",
        ),
    ],
)
def test_namespace_and_prefix_do_not_matter(document: bytes) -> None:
    prefix = b"c:" if b"<c:" in document else b""
    ntry = (
        b"<{p}Ntry><{p}Amt Ccy='EUR'>3.00</{p}Amt><{p}CdtDbtInd>DBIT</{p}CdtDbtInd>"
        b"<{p}Sts>BOOK</{p}Sts><{p}BookgDt><{p}Dt>2024-01-31</{p}Dt></{p}BookgDt></{p}Ntry>"
    ).replace(b"{p}", prefix)
    (entry,) = parse_bytes(document.replace(b"{ntry}", ntry)).entries
    assert entry.amount == Decimal("-3.00")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_from_02_to_14_reads_the_same(version: int) -> None:
    detail = Detail(
        amount=Decimal("40.00"),
        end_to_end_id="E2E-1",
        instruction_id="INSTR-1",
        creditor_reference="RF18539007547034",
        creditor_reference_type="SCOR",
        remittance=("Invoice 7", "and 8"),
        counterparty_name="Müller & Söhne <GmbH>",
        counterparty_iban="DE89370400440532013000",
        charges=(Decimal("0.50"), Decimal("0.25")),
    )
    entry = Entry(
        amount=Decimal("40.00"),
        credit=False,
        reversal=False,
        bank_reference="BANK-REF",
        entry_reference="NTRY-REF",
        value_date=date(2024, 2, 1),
        domain_code=("PMNT", "ICDT", "ESCT"),
        proprietary_code="ignored-when-domain-given",
        batch_count=1,
        details=(detail,),
        charges=(Decimal("1.20"),),
    )
    parsed = parse_bytes(
        one_entry_file(entry, version=version, opening=Decimal("100.00"), closing=Decimal("60.00"))
    )
    (got,) = parsed.entries
    assert got.amount == Decimal("-40.00")
    assert got.bank_transaction_code == "PMNT/ICDT/ESCT"
    assert got.counterparty_name == "Müller & Söhne <GmbH>"  # the creditor of a debit
    assert got.counterparty_iban == "DE89370400440532013000"
    assert got.description == "Invoice 7 and 8"
    assert got.charges == Decimal("1.20")
    (got_detail,) = got.details
    assert got_detail.amount == Decimal("-40.00")
    assert got_detail.charges == Decimal("0.75")
    assert got_detail.creditor_reference_type == "SCOR"
    (info,) = parsed.statements
    assert info.opening_balance + info.entry_sum == info.closing_balance


@pytest.mark.parametrize("version", VERSIONS)
def test_the_builder_writes_schema_valid_documents(version: int) -> None:
    entry = Entry(
        amount=Decimal("10.00"),
        credit=False,
        reversal=True,
        bank_reference="R&1",
        entry_reference="N<1",
        value_date=date(2024, 2, 1),
        domain_code=("PMNT", "RCDT", "ESCT"),
        proprietary_code="X1",
        description="desc é €",
        batch_count=2,
        charges=(Decimal("1.20"),),
        details=(
            Detail(
                amount=Decimal("6.00"),
                end_to_end_id="E2E",
                instruction_id="I1",
                creditor_reference="RF18",
                creditor_reference_type="SCOR",
                remittance=("a", "b"),
                counterparty_name="Bob",
                counterparty_iban="DE89370400440532013000",
                charges=(Decimal("0.5"),),
            ),
            Detail(
                amount=Decimal("4.00"), creditor_reference="0" * 27, creditor_reference_type="QRR"
            ),
        ),
    )
    document = one_entry_file(
        entry, version=version, electronic_sequence=1, legal_sequence=1, closing=Decimal("-10.00")
    )
    schema = etree.XMLSchema(etree.parse(str(XSD_DIR / f"camt.053.001.{version:02d}.xsd")))
    assert schema.validate(etree.fromstring(document)), schema.error_log


def test_bah_envelope_from_the_builder() -> None:
    data = camt053_bytes([Statement(entries=[Entry(amount=Decimal("1.00"))])], envelope=True)
    assert len(parse_bytes(data).entries) == 1


@pytest.mark.parametrize("encoding", ["UTF-16", "UTF-16-LE", "UTF-16-BE", "ISO-8859-1"])
def test_other_encodings_parse_like_utf8(encoding: str) -> None:
    statement = Statement(entries=[Entry(amount=Decimal("9.99"), description="Zahlung für Müller")])
    utf8 = parse_bytes(camt053_bytes([statement]))
    data = camt053_bytes([statement], encoding=encoding)
    if encoding == "UTF-16-LE":
        data = b"\xff\xfe" + data  # without a BOM libxml2 cannot guess UTF-16
    elif encoding == "UTF-16-BE":
        data = b"\xfe\xff" + data
    assert parse_bytes(data).entries == utf8.entries


# --- properties ---------------------------------------------------------------------------

TEXT = (
    st.text(
        alphabet=st.characters(
            codec="utf-8", categories=("L", "N"), include_characters=" -/&<>'\".,:€"
        ),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
REFERENCE = TEXT.map(lambda text: text[:35].strip()).filter(
    lambda text: bool(text) and text.upper() != "NOTPROVIDED"
)
CURRENCIES = ("EUR", "CHF", "USD", "JPY", "BHD", "SEK", "CLF")
IBAN = st.from_regex(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,20}", fullmatch=True)


@st.composite
def money(draw: st.DrawFn, currency: str) -> Decimal:
    units = draw(st.integers(min_value=0, max_value=10**12))
    return Decimal(units).scaleb(-MINOR_UNITS[currency])


@st.composite
def details(draw: st.DrawFn, currency: str) -> Detail:
    kind = draw(st.none() | st.sampled_from(["SCOR", "QRR", "ISR Reference"]))
    return Detail(
        amount=draw(st.none() | money(currency)),
        currency=currency,
        end_to_end_id=draw(st.none() | REFERENCE),
        instruction_id=draw(st.none() | REFERENCE),
        creditor_reference=draw(REFERENCE) if kind else draw(st.none() | REFERENCE),
        creditor_reference_type=kind,
        remittance=tuple(draw(st.lists(TEXT, max_size=3))),
        counterparty_name=draw(st.none() | TEXT),
        counterparty_iban=draw(st.none() | IBAN),
        charges=tuple(draw(st.lists(money(currency), max_size=2))),
    )


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    currency = draw(st.sampled_from(CURRENCIES))
    booked = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    return Entry(
        amount=draw(money(currency)),
        currency=currency,
        credit=draw(st.booleans()),
        reversal=draw(st.none() | st.booleans()),
        booking_date=booked,
        booking_time=draw(
            st.none() | st.sampled_from(["00:00:00+14:00", "23:59:59-12:00", "12:00:00.123456Z"])
        ),
        value_date=draw(st.none() | st.just(booked + timedelta(days=1))),
        bank_reference=draw(st.none() | REFERENCE),
        entry_reference=draw(st.none() | REFERENCE),
        domain_code=draw(st.none() | st.just(("PMNT", "RCDT", "ESCT"))),
        proprietary_code=draw(st.none() | REFERENCE),
        description=draw(st.none() | TEXT),
        batch_count=draw(st.none() | st.integers(min_value=1, max_value=10_000)),
        details=tuple(draw(st.lists(details(currency), max_size=3))),
        charges=tuple(draw(st.lists(money(currency), max_size=2))),
    )


def signed(amount: Decimal, credit: bool) -> Decimal:
    return amount if credit or not amount else -amount


def expected_detail(detail: Detail, entry: Entry) -> TransactionDetail:
    return TransactionDetail(
        amount=None if detail.amount is None else signed(detail.amount, entry.credit),
        currency=None if detail.amount is None else detail.currency,
        end_to_end_id=detail.end_to_end_id,
        instruction_id=detail.instruction_id,
        creditor_reference=detail.creditor_reference,
        creditor_reference_type=detail.creditor_reference_type
        if detail.creditor_reference
        else None,
        remittance=" ".join(detail.remittance) or None,
        counterparty_name=detail.counterparty_name,
        counterparty_iban=detail.counterparty_iban,
        charges=sum(detail.charges, Decimal(0)) if detail.charges else None,
    )


def expected_entry(entry: Entry, line: int, *, iban: str | None = OWN_IBAN) -> ParsedEntry:
    wanted = tuple(expected_detail(detail, entry) for detail in entry.details)
    only = wanted[0] if len(wanted) == 1 else None
    remittances = " / ".join(d.remittance for d in wanted if d.remittance)
    if len(remittances) > 500:
        remittances = remittances[:499] + "…"
    code = "PMNT/RCDT/ESCT" if entry.domain_code else entry.proprietary_code
    return ParsedEntry(
        line=line,
        statement_index=0,
        booking_date=entry.booking_date,
        value_date=entry.value_date,
        amount=signed(entry.amount, entry.credit),
        currency=entry.currency,
        excess_precision=False,
        bank_reference=entry.bank_reference,
        entry_reference=entry.entry_reference,
        end_to_end_id=only.end_to_end_id if only else None,
        creditor_reference=only.creditor_reference if only else None,
        description=entry.description or remittances,
        counterparty_name=only.counterparty_name if only else None,
        counterparty_iban=only.counterparty_iban if only else None,
        bank_transaction_code=code,
        is_reversal=bool(entry.reversal),
        batch_count=entry.batch_count,
        details=wanted,
        charges=sum(entry.charges, Decimal(0)) if entry.charges else None,
        account_iban=iban,
    )


@pytest.mark.slow
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(version=st.sampled_from(VERSIONS), generated=st.lists(entries(), max_size=6))
def test_generated_statements_round_trip(version: int, generated: list[Entry]) -> None:
    statement = Statement(currency=None, entries=generated)
    parsed = parse_bytes(camt053_bytes([statement], version=version))
    assert parsed.entries == [expected_entry(entry, n) for n, entry in enumerate(generated, 1)]
    (info,) = parsed.statements
    assert info.entry_count == len(generated)
    assert info.entry_sum == sum((signed(e.amount, e.credit) for e in generated), Decimal(0))


def read_to_the_end_or_raise(stream: CountingReader) -> int:
    """How many entries `stream` holds; raises ParseError as the parser does."""
    return sum(1 for _entry in read_camt053(stream).entries())


def is_parse_error_or_success(data: bytes) -> None:
    stream = CountingReader(data)
    with contextlib.suppress(ParseError):
        read_to_the_end_or_raise(stream)
    assert stream.bytes_read <= len(data)  # one pass: nothing is read twice


@settings(deadline=None)
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_raise_nothing_but_parse_error(data: bytes) -> None:
    is_parse_error_or_success(data)


@settings(deadline=None)
@given(
    name=st.sampled_from(FIXTURE_NAMES),
    cuts=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 64), st.binary(max_size=16)), max_size=6
    ),
)
def test_mutated_fixture_bytes_raise_nothing_but_parse_error(
    name: str, cuts: list[tuple[float, int, bytes]]
) -> None:
    data = bytearray((CAMT_DIR / f"{name}.xml").read_bytes())
    for position, length, replacement in cuts:
        start = int(position * len(data))
        data[start : start + length] = replacement
    is_parse_error_or_success(bytes(data))


MUTABLE_TEXT = (b">1.00<", b">CRDT<", b">DBIT<", b">BOOK<", b">2024-01-31<", b'Ccy="EUR"')


@settings(deadline=None)
@given(
    target=st.sampled_from(MUTABLE_TEXT),
    replacement=st.text(max_size=12).map(lambda text: text.encode("utf-8", "replace")),
)
def test_mutated_field_values_raise_nothing_but_parse_error(
    target: bytes, replacement: bytes
) -> None:
    data = one_entry_file(Entry(amount=Decimal("1.00"), booking_date=date(2024, 1, 31)))
    is_parse_error_or_success(data.replace(target, replacement, 1))


# --- hostile input -------------------------------------------------------------------------

CAMT_BODY = single_ntry("").decode()
PASSWD = Path("/etc/passwd")


# Legal after the root element and four read chunks long: what a refusal leaves unread.
AFTER = "<!--" + "." * (4 * CHUNK_SIZE) + "-->"


def hostile(doctype: str) -> bytes:
    body = CAMT_BODY.replace("<Id>S</Id>", "<Id>&x;</Id>")
    return f'<?xml version="1.0"?>\n{doctype}\n{body}{AFTER}'.encode()


BILLION_LAUGHS = (
    '<!DOCTYPE Document [<!ENTITY x0 "ha">'
    + "".join(f'<!ENTITY x{i} "{f"&x{i - 1};" * 10}">' for i in range(1, 10))
    + '<!ENTITY x "&x9;">]>'
)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(hostile(BILLION_LAUGHS), id="billion-laughs"),
        pytest.param(
            hostile('<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'), id="xxe-file"
        ),
        pytest.param(
            hostile('<!DOCTYPE Document [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>'), id="xxe-url"
        ),
        pytest.param(
            hostile('<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/camt.dtd">'), id="external-dtd"
        ),
        pytest.param(
            hostile('<!DOCTYPE Document [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'),
            id="parameter-entity",
        ),
        pytest.param(
            hostile("<!-- " + "padding " * 20_000 + "-->\n<!DOCTYPE Document [<!ENTITY x 'y'>]>"),
            id="doctype-after-a-long-comment",
        ),
        pytest.param(
            hostile('<!DOCTYPE Document [<!ENTITY x "y">]>').decode().encode("utf-16"),
            id="utf-16-doctype",
        ),
    ],
)
def test_doctypes_are_refused_without_reading_past_them(document: bytes) -> None:
    stream = CountingReader(document)
    with pytest.raises(ParseError) as caught:
        read_to_the_end_or_raise(stream)
    # No entry built, and nothing read beyond the chunk after the one that holds the
    # DOCTYPE (the document body and most of AFTER stay unread).
    doctype_end = max(document.find(b"Document"), document.find("Document".encode("utf-16-le")))
    assert stream.bytes_read <= doctype_end + 2 * CHUNK_SIZE < len(document)
    assert caught.value.code == "xml_doctype_forbidden"
    if PASSWD.exists():
        secret_lines = [line for line in PASSWD.read_text().splitlines() if line.strip()]
        assert not any(line in str(caught.value) for line in secret_lines)


def test_deep_nesting_inside_an_entry_is_refused() -> None:
    nested = "<X>" * 200 + "</X>" * 200
    document = single_ntry(f"<Ntry>{nested}</Ntry>") + AFTER.encode()
    stream = CountingReader(document)
    with pytest.raises(ParseError) as caught:
        read_to_the_end_or_raise(stream)
    assert stream.bytes_read <= CHUNK_SIZE < len(document)  # refused in the first chunk
    assert caught.value.code in {"xml_too_deep", "xml_malformed"}


def test_deep_nesting_outside_any_statement_is_refused() -> None:
    nested = "<X>" * 100 + "</X>" * 100
    document = single_ntry("").replace(b"<GrpHdr>", f"<Junk>{nested}</Junk><GrpHdr>".encode())
    with pytest.raises(ParseError) as caught:
        parse_bytes(document)
    assert caught.value.code == "xml_too_deep"


@pytest.mark.parametrize(
    ("size", "codes"),
    [(2_000_000, {"xml_text_too_long"}), (10_500_000, {"xml_text_too_long", "xml_malformed"})],
)
def test_huge_text_nodes_are_refused(size: int, codes: set[str]) -> None:
    huge = Entry(amount=Decimal("1.00"), description="x" * size)
    behind = [Entry(amount=Decimal("1.00"))] * 2000  # about 300 kB, several read chunks
    document = camt053_bytes([Statement(entries=[huge, *behind])])
    stream = CountingReader(document)
    with pytest.raises(ParseError) as caught:
        read_to_the_end_or_raise(stream)
    # Refused by the end of the huge text (the 10 MB one sooner, at libxml2's own cap),
    # never after reading the entries behind it.
    huge_text_end = document.index(b"x" * 100) + size
    assert stream.bytes_read <= huge_text_end + CHUNK_SIZE < len(document)
    assert caught.value.code in codes
    assert "xxxx" not in str(caught.value)


def test_truncated_xml_is_a_parse_error_with_a_line_number() -> None:
    data = (CAMT_DIR / "finland-v02-batches-eur-usd-charges.xml").read_bytes()
    with pytest.raises(ParseError) as caught:
        parse_bytes(data[: len(data) // 2])
    assert caught.value.code == "xml_malformed"
    assert caught.value.line is not None
    assert caught.value.line > 100


def test_utf16_encoded_real_file_parses_like_the_original() -> None:
    data = (CAMT_DIR / "postfinance-v04-chf-batches-reversals-charges.xml").read_bytes()
    utf16 = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert (
        parse_bytes(utf16).entries
        == parse_fixture("postfinance-v04-chf-batches-reversals-charges").entries
    )


# --- streaming ------------------------------------------------------------------------------

MEMORY_PROBE = """
import json, sys, tracemalloc
from decimal import Decimal
from reconciliation.parsers.camt053 import read_camt053
from tests.reconciliation.parsers.camt_builder import Entry, Statement, camt053_chunks

count, path = int(sys.argv[1]), sys.argv[2]
generated = (
    Entry(amount=Decimal(n % 100_000).scaleb(-2), credit=n % 3 != 0, bank_reference=f"R{n}")
    for n in range(count)
)
with open(path, "wb") as out:
    for chunk in camt053_chunks([Statement(entries=generated)]):
        out.write(chunk)

tracemalloc.start()
with open(path, "rb") as stream:
    reader = read_camt053(stream)
    parsed = sum(1 for _ in reader.entries())
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({
    "parsed": parsed,
    "entry_count": reader.statements[0].entry_count,
    "peak_traced_mb": peak / 2**20,
    # VmHWM, not ru_maxrss: Linux carries the parent's peak RSS into ru_maxrss across
    # fork+exec, so a big pytest process would make any child look big.
    "max_rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status")
                       if line.startswith("VmHWM:")) / 1024,
}))
"""


@pytest.mark.slow
def test_a_200000_entry_statement_streams_in_flat_memory(tmp_path: Path) -> None:
    # A fresh interpreter, so that its peak RSS belongs to this parse alone: tracemalloc
    # catches Python-side growth (entries or index nodes kept), RSS catches libxml2's tree
    # growing (elements never cleared). The ~45 MB file is written before tracing starts.
    result = subprocess.run(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", MEMORY_PROBE, "200000", str(tmp_path / "big.xml")],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(result.stdout)
    assert probe["parsed"] == probe["entry_count"] == 200_000
    assert probe["peak_traced_mb"] < 30
    assert probe["max_rss_mb"] < 200


def test_the_builder_streams_chunks_without_building_the_document() -> None:
    def endless() -> Any:
        number = 0
        while True:
            number += 1
            yield Entry(amount=Decimal(number))

    chunks = camt053_chunks([Statement(entries=endless())], chunk_size=1024)
    first = [next(chunks) for _ in range(5)]
    assert all(1024 <= len(chunk) < 4096 for chunk in first[1:])
    assert first[0].startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert OWN_IBAN.encode() in b"".join(first)
    reader = ChunkReader(iter([b"abc", b"defg", b"h"]))
    assert [reader.read(2), reader.read(5), reader.read(-1)] == [b"ab", b"cdefg", b"h"]
