"""CSV: what German and English exports state around the table, SEPA tags in the purpose
text, and currencies named in money headers (issue #15, items 4-6)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from reconciliation.parsers.csv_statement import CsvStatementReader, read_csv_statement
from reconciliation.parsers.sepa_text import sepa_tags
from reconciliation.parsers.types import ParsedEntry


def _parse(data: str, currency: str = "EUR") -> tuple[CsvStatementReader, list[ParsedEntry]]:
    reader = read_csv_statement(io.BytesIO(data.encode()), default_currency=currency)
    return reader, list(reader.entries())


ROWS = """Buchungstag;Valutadatum;Auftraggeber/Empfänger;Verwendungszweck;Betrag;Währung
01.03.2024;01.03.2024;ACME GmbH;Rechnung 4711;-100,00;EUR
29.03.2024;29.03.2024;Muster AG;Gutschrift;250,50;EUR
"""


def test_a_german_preamble_states_the_period_and_the_opening_balance_of_the_day_before() -> None:
    # The period ends on Sunday 31.03.; the last booking is on Friday 29.03. The balance
    # "vom 29.02.2024" is the one before the period: the opening balance, not the closing.
    data = (
        "Kontonummer/IBAN:;DE89 3704 0044 0532 0130 00\n"
        "Zeitraum:;01.03.2024 - 31.03.2024\n"
        "Kontostand vom 29.02.2024:;1.000,00 EUR\n"
        "\n" + ROWS + "\n"
        "Kontostand vom 31.03.2024:;1.150,50 EUR\n"
    )
    reader, _ = _parse(data)
    info = reader.statements[0]
    assert (info.period_from, info.period_to) == (date(2024, 3, 1), date(2024, 3, 31))
    assert (info.opening_balance, info.opening_date) == (Decimal("1000.00"), date(2024, 2, 29))
    assert (info.closing_balance, info.closing_date) == (Decimal("1150.50"), date(2024, 3, 31))
    assert info.account_iban == "DE89370400440532013000"


def test_the_period_and_balance_may_sit_in_one_cell_each() -> None:
    data = (
        "Zeitraum: 01.03.2024 bis 31.03.2024\n"
        "Kontostand vom 29.02.2024: 1.000,00 EUR\n"
        + ROWS
        + "Kontostand vom 31.03.2024: 1.150,50 EUR\n"
    )
    info = _parse(data)[0].statements[0]
    assert (info.period_from, info.period_to) == (date(2024, 3, 1), date(2024, 3, 31))
    assert (info.opening_balance, info.closing_balance) == (Decimal("1000.00"), Decimal("1150.50"))


def test_a_balance_dated_at_the_period_end_on_top_is_the_closing_one() -> None:
    # DKB prints "Von", "Bis" and today's balance above the table.
    data = (
        '"Von:";"01.03.2024";\n"Bis:";"31.03.2024";\n'
        '"Kontostand vom 31.03.2024:";"1.150,50 EUR";\n\n' + ROWS
    )
    info = _parse(data)[0].statements[0]
    assert (info.period_from, info.period_to) == (date(2024, 3, 1), date(2024, 3, 31))
    assert info.opening_balance is None
    assert info.closing_balance == Decimal("1150.50")


def test_english_wording_states_period_and_balances() -> None:
    data = (
        "Account number,GB29NWBK60161331926819\n"
        "Statement period,01/03/2024 to 31/03/2024\n"
        "Opening balance,1000.00\n"
        "Closing balance,1150.50\n\n"
        "Date,Description,Amount\n01/03/2024,Invoice 4711,-100.00\n29/03/2024,Credit,250.50\n"
    )
    info = _parse(data)[0].statements[0]
    assert (info.period_from, info.period_to) == (date(2024, 3, 1), date(2024, 3, 31))
    assert (info.opening_balance, info.closing_balance) == (Decimal("1000.00"), Decimal("1150.50"))


def test_balances_dated_as_of_read_in_the_files_own_day_month_order() -> None:
    data = (
        "Balance as of 02/29/2024,1000.00\n\nDate,Description,Amount\n"
        "03/01/2024,Invoice 4711,-100.00\n03/29/2024,Credit,250.50\n"
        "Balance as of 03/31/2024,1150.50\n"
    )
    info = _parse(data)[0].statements[0]
    assert (info.opening_balance, info.opening_date) == (Decimal("1000.00"), date(2024, 2, 29))
    assert (info.closing_balance, info.closing_date) == (Decimal("1150.50"), date(2024, 3, 31))


def test_without_a_stated_period_the_rows_give_it() -> None:
    info = _parse(ROWS)[0].statements[0]
    assert (info.period_from, info.period_to) == (date(2024, 3, 1), date(2024, 3, 29))


def test_a_stated_period_that_misses_rows_is_widened_with_a_warning() -> None:
    reader, _ = _parse("Zeitraum:;01.03.2024 - 15.03.2024\n" + ROWS)
    info = reader.statements[0]
    assert (info.period_from, info.period_to) == (date(2024, 3, 1), date(2024, 3, 29))
    assert "period_mismatch" in {w.code for w in reader.warnings}


def test_soll_and_haben_markers_sign_a_stated_balance() -> None:
    data = "Alter Kontostand;1.000,00 S\nNeuer Kontostand;1.150,50 H\n" + ROWS
    info = _parse(data)[0].statements[0]
    assert (info.opening_balance, info.closing_balance) == (Decimal("-1000.00"), Decimal("1150.50"))


# --- SEPA tags ---------------------------------------------------------------------------


def test_sepa_tags_of_a_return_become_the_entrys_references() -> None:
    data = (
        "Buchungstag;Buchungstext;Verwendungszweck;Betrag\n"
        "04.03.2024;SEPA-Basislastschrift;EREF: E2E-7F3A MREF: M-88 CRED: DE98ZZZ09999999999 "
        "SVWZ: Beitrag 03/2024;49,90\n"
        "11.03.2024;Ruecklastschrift;RUECKLASTSCHRIFT EREF: E2E-7F3A MREF: M-88 "
        "CRED: DE98ZZZ09999999999 SVWZ: Beitrag 03/2024 AC04;-49,90\n"
    )
    _, (original, returned) = _parse(data)
    assert original.end_to_end_id == returned.end_to_end_id == "E2E-7F3A"
    (detail,) = returned.details
    assert detail.amount == Decimal("-49.90")
    assert (detail.end_to_end_id, detail.mandate_reference, detail.creditor_id) == (
        "E2E-7F3A",
        "M-88",
        "DE98ZZZ09999999999",
    )
    assert detail.remittance == "Beitrag 03/2024 AC04"
    assert returned.description.startswith("RUECKLASTSCHRIFT")  # the text stays whole


def test_an_end_to_end_column_wins_over_the_tag() -> None:
    data = "Datum;Betrag;EndToEndId;Verwendungszweck\n01.03.2024;1,00;COL-1;EREF: TAG-1\n"
    (entry,) = _parse(data)[1]
    assert entry.end_to_end_id == "COL-1"
    assert entry.details[0].end_to_end_id == "TAG-1"


def test_a_purpose_text_without_tags_gets_no_details() -> None:
    data = "Datum;Betrag;Verwendungszweck\n01.03.2024;1,00;SAMMLER 4 POSTEN PMTINF-77\n"
    (entry,) = _parse(data)[1]
    assert entry.details == ()
    assert entry.end_to_end_id is None


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("EREF+ABC123KREF+PMTINF-9SVWZ+RE 4711", "customer_reference", "PMTINF-9"),
        ("EREF+ABC123KREF+PMTINF-9SVWZ+RE 4711", "end_to_end_id", "ABC123"),
        ("EREF: NOTPROVIDED SVWZ: RE 4711", "end_to_end_id", None),
        ("SVWZ: Miete ABWA: Hausverwaltung Nord", "ultimate_party", "Hausverwaltung Nord"),
        (
            "EREF: E2E-1 IBAN: DE02 1203 0000 0000 2020 51",
            "counterparty_iban",
            "DE02120300000000202051",
        ),
        # a reference cut by the bank's line break is joined while it fits 35 characters
        ("EREF: E2E-2960F2 3562B7 SVWZ: x", "end_to_end_id", "E2E-2960F23562B7"),
        ("EREF: E2E-1 danke fuer die schnelle Lieferung im Maerz", "end_to_end_id", "E2E-1"),
    ],
)
def test_sepa_tag_forms(text: str, field: str, value: str | None) -> None:
    tags = sepa_tags(text)
    assert tags is not None
    assert getattr(tags, field) == value


def test_words_that_look_like_tags_are_not_tags() -> None:
    assert sepa_tags("Referenz 4711 Iban bitte pruefen") is None


# --- currencies in money headers ----------------------------------------------------------


def test_any_iso_code_in_a_money_header_is_the_rows_currency() -> None:
    # OCBC (Singapore): "Withdrawals (SGD)" / "Deposits (SGD)", no currency column.
    data = (
        "Transaction date,Value date,Description,Cheque,Withdrawals (SGD),Deposits (SGD)\n"
        "01/03/2024,01/03/2024,FAST PAYMENT,,100.00,\n"
        "13/03/2024,13/03/2024,GIRO,,,2500.50\n"
    )
    reader, entries = _parse(data)
    assert reader.columns["debit"] == "Withdrawals (SGD)"
    assert [(e.amount, e.currency) for e in entries] == [
        (Decimal("-100.00"), "SGD"),
        (Decimal("2500.50"), "SGD"),
    ]


def test_a_currency_column_still_decides_over_the_header() -> None:
    data = "Date,Amount (SGD),Currency\n2024-03-01,1.00,USD\n"
    (entry,) = _parse(data)[1]
    assert entry.currency == "USD"
