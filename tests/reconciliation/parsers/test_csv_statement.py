"""CSV statement parser: the real bank files, then each rule on small hand-written files.

Expected values for the real files (`expected/csv/<name>.json`) were read from the bytes
with xxd/iconv, not from the parser; each file's notable feature has its own test.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconciliation.parsers.csv_decoding import CHUNK_BYTES, LINE_LIMIT, SAMPLE_BYTES
from reconciliation.parsers.csv_export import escape_csv_cell
from reconciliation.parsers.csv_statement import CsvStatementReader, read_csv_statement
from reconciliation.parsers.types import CsvMapping, ParsedEntry, ParseError
from tests.fixture_paths import FIXTURES_DIR
from tests.reconciliation.parsers.counting import CountingReader

CSV_DIR = FIXTURES_DIR / "csv"
EXPECTED_DIR = Path(__file__).parent / "expected" / "csv"
CSV_FILES = sorted(CSV_DIR.glob("*.csv"))


def _open(name: str, currency: str, mapping: CsvMapping | None = None) -> CsvStatementReader:
    with (CSV_DIR / name).open("rb") as stream:
        return read_csv_statement(stream, default_currency=currency, mapping=mapping)


def _read_file(name: str, currency: str) -> tuple[CsvStatementReader, list[ParsedEntry]]:
    with (CSV_DIR / name).open("rb") as stream:
        reader = read_csv_statement(stream, default_currency=currency)
        return reader, list(reader.entries())


def _parse(
    data: bytes | str,
    currency: str = "EUR",
    mapping: CsvMapping | None = None,
    encoding: str = "utf-8",
) -> tuple[CsvStatementReader, list[ParsedEntry]]:
    raw = data.encode(encoding) if isinstance(data, str) else data
    reader = read_csv_statement(io.BytesIO(raw), default_currency=currency, mapping=mapping)
    return reader, list(reader.entries())


def _error(data: bytes | str, mapping: CsvMapping | None = None) -> ParseError:
    with pytest.raises(ParseError) as info:
        _parse(data, mapping=mapping)
    return info.value


def _amounts(entries: Iterable[ParsedEntry]) -> list[Decimal]:
    return [entry.amount for entry in entries]


# --- the real files ------------------------------------------------------------------------


def test_every_fixture_has_expectations() -> None:
    assert CSV_FILES, f"no CSV fixtures found in {CSV_DIR}"
    missing = [path.name for path in CSV_FILES if not (EXPECTED_DIR / f"{path.stem}.json").exists()]
    assert missing == []


def _check_entry(entry: ParsedEntry, expected: dict[str, Any]) -> None:
    assert entry.line == expected["line"]
    assert entry.booking_date == date.fromisoformat(expected["booking_date"])
    assert entry.amount == Decimal(expected["amount"])
    assert entry.description.startswith(expected["description"])


@pytest.mark.parametrize("path", CSV_FILES, ids=lambda path: path.stem)
def test_fixture_matches_hand_read_expectations(path: Path) -> None:
    expected = json.loads((EXPECTED_DIR / f"{path.stem}.json").read_text(encoding="utf-8"))
    reader, entries = _read_file(path.name, expected["default_currency"])
    info = reader.statements[0]

    assert reader.format == "csv"
    assert reader.encoding == expected["encoding"]
    assert reader.delimiter == expected["delimiter"]
    assert reader.header_line == expected["header_line"]
    assert len(entries) == info.entry_count == expected["entry_count"]
    assert info.skipped_count == expected["skipped_count"]
    assert info.entry_sum == sum(_amounts(entries)) == Decimal(expected["entry_sum"])
    assert info.currency == expected["currency"]
    assert {entry.currency for entry in entries} == {expected["currency"]}
    assert info.index == 0
    assert all(entry.statement_index == 0 for entry in entries)
    for key in ("opening_balance", "closing_balance"):
        value = expected[key]
        assert getattr(info, key) == (Decimal(value) if value is not None else None)
    _check_entry(entries[0], expected["first"])
    _check_entry(entries[-1], expected["last"])
    assert [entry.line for entry in entries] == sorted({entry.line for entry in entries})
    assert not any(entry.excess_precision for entry in entries)


def test_ubs_apostrophe_thousands_and_debit_credit_columns() -> None:
    reader, entries = _read_file("ubs-ch-apostrophe-thousands-debit-credit-cols.csv", "CHF")
    assert reader.columns["debit"] == "Débit"
    assert reader.columns["credit"] == "Crédit"
    assert reader.columns["balance"] == "Solde"
    assert reader.decimal_separator == "."
    # debit -> negative, credit -> positive
    assert _amounts(entries) == [Decimal("-10.00"), Decimal("240.00"), Decimal("-200.00")]
    # the balance column is only readable with the apostrophe as thousands separator
    assert reader.statements[0].opening_balance == Decimal("11383.94")
    assert reader.statements[0].closing_balance == Decimal("11413.94")
    # 'Date de valeur' is the only date: booking and value date
    assert entries[1].booking_date == entries[1].value_date == date(2019, 2, 28)
    assert "Quuz-baz SàrL" in entries[2].description  # UTF-8 decoded, not mojibake
    assert entries[0].bank_reference == "A01234BC01234567"
    assert reader.statements[0].account_other_id == "0123 45678901.23A"


def test_gls_latin1_umlaut_and_split_purpose_columns() -> None:
    reader, entries = _read_file("gls-bank-de-latin1-semicolon-decimal-comma.csv", "EUR")
    assert reader.encoding in ("cp1252", "iso8859-1")
    assert reader.columns["counterparty_name"] == ("Auftraggeber/Empfänger",)
    assert reader.columns["currency"] == "Währung"
    assert reader.columns["description"] == tuple(f"VWZ{n}" for n in range(1, 15))
    assert reader.decimal_separator == ","
    (entry,) = entries
    assert entry.amount == Decimal("-98.76")
    assert entry.counterparty_name == "Drillisch Online AG"
    assert entry.description == "B4658645 U123456789 B123456 987 SIMply Rechnung"
    assert entry.bank_transaction_code == "SEPA-Basislastschrift"
    assert entry.value_date == date(2017, 10, 10)


def test_schwab_dollar_amounts_and_withdrawal_deposit_columns() -> None:
    reader, entries = _read_file("schwab-us-mdy-dollar-withdrawal-deposit-cols.csv", "USD")
    assert reader.columns["debit"] == "Withdrawal"
    assert reader.columns["credit"] == "Deposit"
    assert reader.date_order == "MDY"
    assert _amounts(entries) == [
        Decimal("20.00"),
        Decimal("-103.00"),
        Decimal("-75.00"),
        Decimal("-57.27"),
    ]
    assert entries[0].booking_date == date(2022, 8, 17)
    assert entries[2].creditor_reference == "558"  # CheckNumber
    assert entries[2].bank_transaction_code == "CHECK"
    # '$1,036.47' in RunningBalance: $ stripped, ',' read as thousands
    assert reader.statements[0].opening_balance == Decimal("1093.74")


def test_mint_cr_only_line_endings() -> None:
    raw = (CSV_DIR / "mint-us-cr-only-line-endings-mdyy.csv").read_bytes()
    assert b"\n" not in raw  # the point of this file
    reader, entries = _read_file("mint-us-cr-only-line-endings-mdyy.csv", "USD")
    assert [entry.line for entry in entries] == [2, 3, 4, 5]
    assert reader.date_order == "MDY"  # 6/13/15 decides
    assert reader.columns["direction"] == "Transaction Type"
    assert [entry.booking_date for entry in entries] == [
        date(2015, 6, 12),
        date(2015, 6, 12),
        date(2015, 6, 13),
        date(2015, 6, 14),
    ]
    assert _amounts(entries) == [
        Decimal("-1000.00"),
        Decimal("-1500.00"),
        Decimal("2000.00"),
        Decimal("-2500.00"),
    ]


def test_mands_bom_pound_credit_column_and_pending_rows() -> None:
    reader, entries = _read_file("mands-bank-uk-bom-pound-ddmonyyyy-pending.csv", "GBP")
    assert reader.had_bom
    assert reader.columns["booking_date"] == "Date Processed"  # BOM not part of the name
    pending = [w for w in reader.warnings if w.code == "skipped_pending"]
    assert [w.line for w in pending] == [2, 3, 4]
    assert reader.statements[0].skipped_count == 3
    assert entries[0].booking_date == date(2019, 12, 12)  # 12-Dec-2019
    # unmarked charges are money out; '+ £1,100.00' marked CR is money in
    assert entries[0].amount == Decimal("-1183.23")
    assert entries[-1].amount == Decimal("1100.00")
    assert sum(1 for e in entries if e.amount > 0) == 1


def test_rabobank_cp1252_crcrlf_and_broken_quote_tolerated() -> None:
    reader, entries = _read_file("rabobank-nl-cp1252-crcrlf-broken-quote.csv", "EUR")
    assert reader.encoding == "cp1252"
    assert "Naam initiërende partij" in reader.columns["counterparty_name"]  # 0xEB
    # CR CR LF is one line ending: data rows are lines 2, 3, 4
    assert [entry.line for entry in entries] == [2, 3, 4]
    # line 3 lacks its opening quote but keeps 26 fields: read, with a warning
    (broken,) = [w for w in reader.warnings if w.code == "malformed_quote"]
    assert broken.line == 3
    assert entries[1].amount == Decimal("50.00")  # '+50,00'
    assert entries[1].counterparty_name == "Nederlandse Loterij Organisatie B.V."
    assert entries[1].counterparty_iban == "NL62INGB0663707048"
    assert entries[1].end_to_end_id == "18753493.6094"
    assert reader.statements[0].account_iban == "NL77RABO0311467415"  # stray quote gone
    assert entries[0].counterparty_iban is None  # '3114904483' is a BBAN, not an IBAN
    assert entries[0].bank_reference == "000000000000009565"
    assert entries[2].value_date == date(2018, 3, 16)


def test_paypal_gross_is_the_amount() -> None:
    reader, entries = _read_file("paypal-de-bom-decimal-comma-gross-fee-net.csv", "EUR")
    # Brutto (gross) is the amount; Entgelt (fee) and Netto (net) are not read
    assert reader.columns["amount"] == "Brutto"
    assert "Entgelt" not in str(reader.columns)
    assert "Netto" not in str(reader.columns)
    assert reader.columns["balance"] == "Guthaben"
    assert _amounts(entries) == [Decimal("60.00"), Decimal("-3.00")]
    assert entries[0].description == "Handyzahlung, asdf"  # quoted ',' inside a field
    assert entries[0].bank_reference == "8SB179"
    assert entries[0].counterparty_name == "asdf"
    assert reader.had_bom


def test_wise_multicurrency_and_direction_column() -> None:
    reader, entries = _read_file("wise-ddmmyyyy-multicurrency.csv", "CHF")
    # the account currency comes from the Currency column, not the card's TRY/USD
    assert {entry.currency for entry in entries} == {"EUR"}
    assert reader.columns["amount"] == "Amount"
    assert reader.columns["direction"] == "Transaction Type"
    assert "Exchange To Amount" not in str(reader.columns)
    assert all(entry.amount < 0 for entry in entries)  # every row is DEBIT
    assert entries[0].amount == Decimal("-61.13")
    assert "-2,759.17 TRY" in entries[0].description
    assert reader.date_order == "DMY"  # 26-02-2025 decides
    assert entries[1].booking_date == date(2025, 2, 26)
    assert entries[0].bank_reference == "CARD-2274732690"
    assert entries[0].counterparty_name == "Department Store"  # Merchant
    assert entries[0].bank_transaction_code == "CARD"


def test_tbank_cp1251_cyrillic() -> None:
    reader, entries = _read_file("tbank-ru-cp1251-semicolon-decimal-comma.csv", "RUB")
    assert reader.encoding == "cp1251"
    assert reader.columns["booking_date"] == "Дата операции"
    assert reader.columns["amount"] == "Сумма платежа"  # in the account's currency
    assert reader.columns["currency"] == "Валюта платежа"
    assert entries[0].description == "Пиццерия"
    assert entries[0].booking_date == date(2025, 4, 2)  # '02.04.2025 15:28:24'
    assert entries[0].amount == Decimal("-929.00")
    assert entries[1].amount == Decimal("0.08")


# --- numbers -------------------------------------------------------------------------------


def _one_amount(cell: str, currency: str = "EUR") -> Decimal:
    _, entries = _parse(f'Date;Amount\n2024-01-05;"{cell}"\n', currency)
    return entries[0].amount


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1'234.56", "1234.56"),
        ("1\u2019234.56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,56", "1234.56"),
        ("1\u202f234,56", "1234.56"),
        ("(12.00)", "-12.00"),
        ("12.00-", "-12.00"),
        ("+12.00", "12.00"),
        ("-12.00", "-12.00"),
        ("\u221212.00", "-12.00"),
        ("$1,036.47", "1036.47"),
        ("-$5.00", "-5.00"),
        ("£67.40", "67.40"),
        ("€ 3,50", "3.50"),
        ("CHF 1'250.00", "1250.00"),
        ("-98,76 EUR", "-98.76"),
        ("12.00 CR", "12.00"),
        ("12.00 DR", "-12.00"),
        ("0.5", "0.5"),
        (".50", "0.50"),
        ("1,234,567.89", "1234567.89"),
        ("1.234.567,89", "1234567.89"),
    ],
)
def test_amount_styles(cell: str, expected: str) -> None:
    assert _one_amount(cell) == Decimal(expected)


def test_decimal_separator_is_decided_by_the_whole_column() -> None:
    # '1,234' alone is ambiguous; the next row's '1,5' makes ',' the decimal separator
    _, entries = _parse("Date;Amount\n2024-01-05;1,234\n2024-01-06;1,5\n")
    assert _amounts(entries) == [Decimal("1.234"), Decimal("1.5")]
    _, entries = _parse("Date;Amount\n2024-01-05;1,234\n2024-01-06;1.50\n")
    assert _amounts(entries) == [Decimal("1234"), Decimal("1.50")]


def test_only_ambiguous_amounts_is_an_error() -> None:
    error = _error("Date;Amount\n2024-01-05;1,234\n2024-01-06;2,500\n")
    assert error.code == "ambiguous_decimal_separator"
    assert "decimal_separator" in error.detail
    mapping = CsvMapping(decimal_separator=",")
    _, entries = _parse("Date;Amount\n2024-01-05;1,234\n2024-01-06;2,500\n", mapping=mapping)
    assert _amounts(entries) == [Decimal("1.234"), Decimal("2.500")]


def test_mixed_decimal_separators_are_an_error() -> None:
    error = _error("Date;Amount\n2024-01-05;1.50\n2024-01-06;2,75\n")
    assert error.code == "decimal_separator_conflict"
    assert error.line == 3


def test_unreadable_amount_names_its_line() -> None:
    error = _error("Date,Amount\n2024-01-05,1.00\n2024-01-06,12abc\n2024-01-07,3.00\n")
    assert error.code == "amount_invalid"
    assert error.line == 3


def test_data_row_without_amount_is_an_error() -> None:
    error = _error("Date,Amount,Description\n2024-01-05,1.00,a\n2024-01-06,,b\n")
    assert error.code == "amount_missing"
    assert error.line == 3


def test_debit_already_negative_stays_negative() -> None:
    data = "Date;Debit;Credit\n2024-01-05;-10.00;\n2024-01-06;10.00;\n2024-01-07;;5.00\n"
    _, entries = _parse(data)
    assert _amounts(entries) == [Decimal("-10.00"), Decimal("-10.00"), Decimal("5.00")]


@pytest.mark.parametrize(
    ("header", "debit", "credit"),
    [
        ("Soll/Haben", "S", "H"),
        ("Dr/Cr", "DR", "CR"),
        ("Direction", "debit", "credit"),
        ("Af Bij", "Af", "Bij"),
        ("Sign", "-", "+"),
    ],
)
def test_direction_column(header: str, debit: str, credit: str) -> None:
    data = f"Date;Amount;{header}\n2024-01-05;10.00;{debit}\n2024-01-06;5.00;{credit}\n"
    _, entries = _parse(data)
    assert _amounts(entries) == [Decimal("-10.00"), Decimal("5.00")]


def test_invert_sign_mapping() -> None:
    _, entries = _parse(
        "Date,Amount\n2024-01-05,10.00\n2024-01-06,-2.50\n", mapping=CsvMapping(invert_sign=True)
    )
    assert _amounts(entries) == [Decimal("-10.00"), Decimal("2.50")]


def test_excess_precision_is_kept_and_flagged() -> None:
    reader, entries = _parse("Date,Amount\n2024-01-05,10.125\n2024-01-06,1.50\n")
    assert entries[0].amount == Decimal("10.125")
    assert entries[0].excess_precision
    assert not entries[1].excess_precision
    assert [w.line for w in reader.warnings if w.code == "excess_precision"] == [2]
    _, entries = _parse("Date,Amount\n2024-01-05,10.125\n2024-01-06,1.5\n", currency="BHD")
    assert not entries[0].excess_precision


def test_amount_beyond_the_column_size_is_an_error() -> None:
    error = _error("Date,Amount\n2024-01-05,1.1234567\n")
    assert error.code == "amount_invalid"
    assert error.line == 2


def test_currency_column_and_unknown_currency() -> None:
    _, entries = _parse("Date,Amount,Currency\n2024-01-05,1.00,usd\n2024-01-06,2.00,\n")
    assert [e.currency for e in entries] == ["USD", "EUR"]
    error = _error("Date,Amount,Currency\n2024-01-05,1.00,XYZ\n")
    assert error.code == "currency_invalid"
    assert error.line == 2


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["2019-03-31", "2019-04-01"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["31.03.2019", "01.04.2019"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["31/03/2019", "01/04/2019"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["03/31/2019", "04/01/2019"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["31-03-2019", "01-04-2019"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["31-Mar-2019", "01-Apr-2019"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["31. Mär 2019", "01. Okt 2019"], [date(2019, 3, 31), date(2019, 10, 1)]),
        (["31-Dez-2019", "01-Mrz-2020"], [date(2019, 12, 31), date(2020, 3, 1)]),
        (["31.03.19", "01.04.19"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["3/31/19", "4/1/19"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["31.03.2019 14:22:05", "01.04.2019 00:00:00"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["2019-03-31T23:30:00+02:00", "2019-04-01"], [date(2019, 3, 31), date(2019, 4, 1)]),
        (["20190331", "20190401"], [date(2019, 3, 31), date(2019, 4, 1)]),
    ],
)
def test_date_styles(cells: list[str], expected: list[date]) -> None:
    rows = "".join(f"{cell},1.00\n" for cell in cells)
    _, entries = _parse(f"Date,Amount\n{rows}")
    assert [entry.booking_date for entry in entries] == expected


def test_all_ambiguous_dates_ask_for_a_date_format() -> None:
    data = "Date,Amount\n05/06/2019,1.00\n07/06/2019,2.00\n"
    error = _error(data)
    assert error.code == "ambiguous_date_format"
    assert "date_format" in error.detail
    _, entries = _parse(data, mapping=CsvMapping(date_format="%m/%d/%Y"))
    assert entries[0].booking_date == date(2019, 5, 6)
    _, entries = _parse(data, mapping=CsvMapping(date_format="%d/%m/%Y"))
    assert entries[0].booking_date == date(2019, 6, 5)


def test_locale_hints_settle_ambiguous_dates_day_first() -> None:
    # dots: day first everywhere
    _, entries = _parse("Date;Amount\n05.06.2019;1.00\n")
    assert entries[0].booking_date == date(2019, 6, 5)
    # decimal comma: day first
    _, entries = _parse("Date;Amount\n05/06/2019;1,50\n")
    assert entries[0].booking_date == date(2019, 6, 5)


def test_an_unambiguous_date_later_in_the_file_decides() -> None:
    rows = "".join(f"0{d}/0{d + 1}/2019,1.00\n" for d in range(1, 8)) + "05/20/2019,2.00\n"
    reader, entries = _parse("Date,Amount\n" + rows)
    assert reader.date_order == "MDY"
    assert entries[0].booking_date == date(2019, 1, 2)


def test_a_later_row_contradicting_the_decided_order_is_an_error() -> None:
    lines = ["13/01/2019,1.00"] + ["05/06/2019,1.00"] * 20000 + ["01/13/2019,1.00"]
    error = _error("Date,Amount\n" + "\n".join(lines) + "\n")
    assert error.code == "date_format_conflict"
    assert error.line == 20003
    assert "date_format" in error.detail


def test_unreadable_date_in_a_data_row_names_its_line() -> None:
    error = _error("Date,Amount,Text\n2024-01-05,1.00,a\n2024-13-45,2.00,b\n")
    assert error.code == "date_invalid"
    assert error.line == 3


def test_value_date_column_and_mapping_date_format_with_time() -> None:
    data = "Buchungstag;Valuta;Betrag\n31.03.2019 10:00;01.04.2019;-1,00\n"
    _, entries = _parse(data, mapping=CsvMapping(date_format="%d.%m.%Y"))
    assert entries[0].booking_date == date(2019, 3, 31)
    assert entries[0].value_date == date(2019, 4, 1)


# --- structure -----------------------------------------------------------------------------

PREAMBLE_FILE = """\
Kontonummer:;DE89370400440532013000
Zeitraum:;01.03.2019 - 31.03.2019
Anfangssaldo:;1.000,00 EUR

Buchungstag;Wertstellung;Empfänger;Verwendungszweck;Umsatz in EUR
01.03.2019;01.03.2019;ACME GmbH;"Rechnung 17; danke";-100,00
15.03.2019;15.03.2019;Muster AG;"Gutschrift
zweite Zeile";250,50
Summe;;;;150,50
Endsaldo:;1.150,50 EUR
"""


def test_preamble_header_search_and_footer() -> None:
    reader, entries = _parse(PREAMBLE_FILE)
    assert reader.header_line == 5
    assert reader.delimiter == ";"
    assert [entry.line for entry in entries] == [6, 7]
    assert entries[1].description == "Gutschrift zweite Zeile"  # quoted newline
    assert entries[0].description == "Rechnung 17; danke"
    assert entries[0].counterparty_name == "ACME GmbH"
    assert entries[1].amount == Decimal("250.50")
    codes = {(w.code, w.line) for w in reader.warnings}
    assert ("skipped_summary", 9) in codes
    assert ("skipped_footer", 10) in codes
    info = reader.statements[0]
    assert info.account_iban == "DE89370400440532013000"
    assert info.opening_balance == Decimal("1000.00")
    assert info.closing_balance == Decimal("1150.50")
    assert info.entry_sum == Decimal("150.50")


@pytest.mark.parametrize(("delimiter"), [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(delimiter: str) -> None:
    rows = [["Date", "Description", "Amount"], ["2024-01-05", "a, b; c", "-1.00"]]
    rows.append(["2024-01-06", "plain", "2.00"])
    data = "\r\n".join(delimiter.join(f'"{c}"' for c in row) for row in rows) + "\r\n"
    reader, entries = _parse(data)
    assert reader.delimiter == delimiter
    assert entries[0].description == "a, b; c"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", "\r\r\n"])
def test_line_endings_keep_line_numbers(ending: str) -> None:
    data = ending.join(["Date,Amount", "2024-01-05,1.00", "2024-01-06,2.00"]) + ending
    _, entries = _parse(data)
    assert [entry.line for entry in entries] == [2, 3]


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "cp1251"]
)
def test_encodings(encoding: str) -> None:
    text = "Datum;Betrag;Währung;Beschreibung\n05.03.2024;-1,00;EUR;Café Müller\n"
    if encoding == "cp1251":
        text = "Дата;Сумма;Валюта;Описание\n05.03.2024;-1,00;RUB;Перевод между счетами\n"
    raw = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        raw = (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + raw
    _, entries = _parse(raw)
    assert entries[0].description in ("Café Müller", "Перевод между счетами")
    assert entries[0].amount == Decimal("-1.00")


def test_utf16_without_bom_is_detected() -> None:
    _, entries = _parse("Date,Amount,Description\n2024-01-05,1.00,ok\n".encode("utf-16-le"))
    assert entries[0].description == "ok"


def test_undecodable_byte_later_in_the_file_names_its_line() -> None:
    good = "".join(f"2024-01-05,1.00,Zeile {n} é\n" for n in range(5000)).encode()
    data = b"Date,Amount,Text\n" + good + b"2024-01-06,2.00,Caf\xe9\n2024-01-07,3.00,x\n"
    error = _error(data)
    assert error.code == "encoding_error"
    assert error.line == 5002
    assert "encoding" in error.detail


def test_wrong_encoding_in_mapping_is_an_error_not_mojibake() -> None:
    data = "Datum;Betrag;Beschreibung\n05.03.2024;-1,00;Caf\xe9\n".encode("cp1252")
    error = _error(data, mapping=CsvMapping(encoding="utf-8"))
    assert error.code == "encoding_error"
    assert error.line == 2
    _, entries = _parse(data, mapping=CsvMapping(encoding="cp1252"))
    assert entries[0].description == "Café"


def test_unknown_encoding_in_mapping() -> None:
    error = _error("Date,Amount\n2024-01-05,1.00\n", mapping=CsvMapping(encoding="klingon-8"))
    assert error.code == "mapping_invalid"


def test_explicit_mapping_by_name_and_index() -> None:
    data = "When;What;How much;Who\n2024-01-05;rent;-700,00;Landlord\n"
    mapping = CsvMapping(
        booking_date="when",
        amount="2",
        description=("What",),
        counterparty_name="3",
        decimal_separator=",",
    )
    reader, entries = _parse(data, mapping=mapping)
    assert reader.header_line == 1
    assert entries[0].amount == Decimal("-700.00")
    assert entries[0].description == "rent"
    assert entries[0].counterparty_name == "Landlord"


def test_mapping_with_unknown_column_is_mapping_invalid() -> None:
    error = _error("Date,Amount\n2024-01-05,1.00\n", mapping=CsvMapping(amount="Betrag"))
    assert error.code == "mapping_invalid"
    assert "Betrag" in error.detail
    error = _error("Date,Amount\n2024-01-05,1.00\n", mapping=CsvMapping(amount="7"))
    assert error.code == "mapping_invalid"


def test_mapping_header_row_and_delimiter() -> None:
    data = "export 2024\nA|B|C\n05.01.2024|x|1,00\n"
    mapping = CsvMapping(header_row=2, delimiter="|", booking_date="A", amount="C")
    reader, entries = _parse(data, mapping=mapping)
    assert reader.header_line == 2
    assert entries[0].amount == Decimal("1.00")
    assert entries[0].line == 3


def test_header_not_found_lists_the_columns_seen() -> None:
    error = _error("foo,bar,baz\n1,2,3\n4,5,6\n")
    assert error.code == "header_not_found"
    assert "'foo'" in error.detail
    assert len(str(error)) < 400


def test_status_column_skips_pending_and_failed_rows() -> None:
    data = (
        "Date,Status,Amount\n2024-01-05,Posted,1.00\n2024-01-06,Pending,2.00\n"
        "2024-01-07,FAILED,3.00\n"
    )
    reader, entries = _parse(data)
    assert _amounts(entries) == [Decimal("1.00")]
    assert reader.statements[0].skipped_count == 2


def test_repeated_header_and_blank_lines_are_skipped() -> None:
    data = "Date,Amount\n2024-01-05,1.00\n\n,\nDate,Amount\n2024-01-06,2.00\n"
    reader, entries = _parse(data)
    assert [entry.line for entry in entries] == [2, 6]
    assert [w.code for w in reader.warnings] == ["skipped_header"]


def test_row_with_extra_filled_fields_is_an_error() -> None:
    error = _error("Date,Description,Amount\n2024-01-05,a,1.00\n2024-01-06,b,c,2.00\n")
    assert error.code == "column_count"
    assert error.line == 3


def test_short_data_row_is_an_error_short_footer_is_skipped() -> None:
    error = _error("Date,Description,Amount\n2024-01-05,a,1.00\n2024-01-06,2.00\n")
    assert error.code == "column_count"
    assert error.line == 3
    reader, _ = _parse("Date,Description,Amount\n2024-01-05,a,1.00\nexported by bank\n")
    assert [(w.code, w.line) for w in reader.warnings] == [("skipped_footer", 3)]


def test_entries_can_only_be_read_once() -> None:
    reader = read_csv_statement(
        io.BytesIO(b"Date,Amount\n2024-01-05,1.00\n"), default_currency="EUR"
    )
    assert len(list(reader.entries())) == 1
    with pytest.raises(RuntimeError):
        reader.entries()


def test_unknown_default_currency() -> None:
    with pytest.raises(ParseError) as info:
        read_csv_statement(io.BytesIO(b"Date,Amount\n"), default_currency="XXY")
    assert info.value.code == "currency_invalid"


@pytest.mark.parametrize(
    ("header", "cells", "encoding"),
    [
        ("Datum;Betrag;Text", "-1,00;Überweisung Bäckerei Müller", "cp1252"),
        ("Date;Montant;Libellé", "-1,00;Prélèvement à échéance", "cp1252"),
        ("Date;Amount;Text", "£1.00;x", "cp1252"),
        ("Date;Amount;Text", "€1,00;x", "cp1252"),
        ("Data;Kwota;Opis", "-1,00;Płatność za usługę łączności", "cp1250"),
        ("Datum;Částka;Popis", "-1,00;Platba řidič Černý, převod", "cp1250"),
        ("Дата;Сумма;Описание", "-1,00;Перевод между счетами", "cp1251"),
    ],
)
def test_single_byte_encoding_detection(header: str, cells: str, encoding: str) -> None:
    # few non-ASCII bytes: the common code page wins ties, unless it reads words absurdly
    text = f"{header}\n05.03.2024;{cells}\n06.03.2024;{cells}\n"
    reader, entries = _parse(text.encode(encoding))
    assert reader.encoding == encoding
    assert entries[0].description == cells.split(";")[1]


def test_german_date_header_settles_ambiguous_slash_dates_day_first() -> None:
    _, entries = _parse("Buchungstag,Betrag\n05/06/2019,1.00\n")
    assert entries[0].booking_date == date(2019, 6, 5)


def test_undecided_dates_are_buffered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciliation.parsers.csv_statement as module

    # beyond the 64 KB sample: rows are buffered until 02/13 decides
    rows = "".join(f"0{n % 9 + 1}/02/2019,1.00\n" for n in range(6000)) + "02/13/2019,1.00\n"
    reader, entries = _parse("Date,Amount\n" + rows)
    assert reader.date_order == "MDY"
    assert entries[0].booking_date == date(2019, 1, 2)
    monkeypatch.setattr(module, "DECISION_ROWS", 100)
    assert _error("Date,Amount\n" + rows).code == "ambiguous_date_format"


def test_index_mapping_without_header() -> None:
    mapping = CsvMapping(booking_date="0", amount="2", description=("1",))
    _, entries = _parse("2024-01-05;rent;-700.00\n2024-01-06;salary;2500.00\n", mapping=mapping)
    assert [e.line for e in entries] == [1, 2]
    assert _amounts(entries) == [Decimal("-700.00"), Decimal("2500.00")]


def test_entries_stream_before_a_later_error() -> None:
    data = "Date,Amount\n" + "2024-01-05,1.00\n" * 3 + "2024-01-06,oops\n"
    reader = read_csv_statement(io.BytesIO(data.encode()), default_currency="EUR")
    entries = reader.entries()
    assert [next(entries).line for _ in range(3)] == [2, 3, 4]
    with pytest.raises(ParseError) as info:
        next(entries)
    assert info.value.line == 5


@pytest.mark.parametrize(
    ("rows", "opening", "closing"),
    [
        # oldest first: balance after each row
        ("2024-01-01,10.00,110.00\n2024-01-02,-5.00,105.00\n", "100.00", "105.00"),
        # newest first
        ("2024-01-02,-5.00,105.00\n2024-01-01,10.00,110.00\n", "100.00", "105.00"),
        # does not chain: nothing claimed
        ("2024-01-01,10.00,110.00\n2024-01-02,-5.00,99.00\n", None, None),
        # one row: cannot tell before from after
        ("2024-01-01,10.00,110.00\n", None, None),
    ],
)
def test_balance_column_gives_opening_and_closing_only_when_rows_chain(
    rows: str, opening: str | None, closing: str | None
) -> None:
    reader, _ = _parse("Date,Amount,Balance\n" + rows)
    info = reader.statements[0]
    assert info.opening_balance == (Decimal(opening) if opening else None)
    assert info.closing_balance == (Decimal(closing) if closing else None)


def test_unnamed_cr_column_marks_credits_and_blank_means_debit() -> None:
    _, entries = _parse("Date,Amount,\n2024-01-05,10.00,\n2024-01-06,5.00,CR\n")
    assert _amounts(entries) == [Decimal("-10.00"), Decimal("5.00")]
    # when amounts are signed already, a blank marker leaves the sign alone
    _, entries = _parse("Date,Amount,\n2024-01-05,-10.00,\n2024-01-06,5.00,CR\n")
    assert _amounts(entries) == [Decimal("-10.00"), Decimal("5.00")]


# --- hostile input -------------------------------------------------------------------------


def _read_all(data: bytes | CountingReader, mapping: CsvMapping | None) -> None:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    reader = read_csv_statement(stream, default_currency="EUR", mapping=mapping)
    for _ in reader.entries():
        pass


# Rows behind a hostile line: a refusal that comes early leaves them unread.
_ROWS_BEHIND = b"2024-01-05,1.00\n" * 20_000


def _fails_fast(
    data: bytes, mapping: CsvMapping | None = None, *, within: int | None = None
) -> ParseError:
    """The ParseError for `data`, after bounded work (bytes read, not seconds).

    The upload is read at most once; with `within` (the offset by which the problem shows),
    no further than two read chunks past it, which must leave part of `data` unread.
    """
    stream = CountingReader(data)
    with pytest.raises(ParseError) as info:
        _read_all(stream, mapping)
    limit = len(data) if within is None else within + 2 * CHUNK_BYTES
    assert limit <= len(data)
    assert stream.bytes_read <= limit, f"read {stream.bytes_read:,} bytes, allowed {limit:,}"
    assert len(str(info.value)) < 500  # never echoes the file
    return info.value


def test_hostile_100000_columns() -> None:
    wide = b"Date,Amount\n" + b",".join([b"x"] * 100_000) + b"\n"
    assert _fails_fast(wide + _ROWS_BEHIND, within=len(wide)).code == "too_many_columns"
    header = b",".join([b"Date"] * 100_000) + b"\n"
    assert _fails_fast(header + _ROWS_BEHIND, within=len(header)).code == "too_many_columns"


def test_hostile_10mb_field() -> None:
    # Refused within one line's limit of the field's start, not at the end of 10 MB.
    start = b"Date,Amount,Text\n2024-01-05,1.00,"
    error = _fails_fast(start + b"A" * 10_000_000 + b"\n", within=len(start) + LINE_LIMIT)
    assert error.code == "field_too_large"
    quoted = start + b'"' + b"A\n" * 5_000_000 + b'"\n'
    assert _fails_fast(quoted, within=len(start) + LINE_LIMIT).code == "field_too_large"


def test_hostile_binary_garbage() -> None:
    error = _fails_fast(bytes(range(256)) * 4000, within=SAMPLE_BYTES)  # judged on the sample
    assert error.code == "unsupported_format"
    _fails_fast(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 100)


def test_hostile_wrong_declared_encoding() -> None:
    data = b"Date,Amount\n2024-01-05,1.00\n"
    _fails_fast(data, mapping=CsvMapping(encoding="utf-16"))
    _fails_fast(data, mapping=CsvMapping(encoding="utf-32"))


def test_hostile_empty_and_header_only() -> None:
    assert _fails_fast(b"").code == "unsupported_format"
    assert _fails_fast(b"\r\n \n").code == "unsupported_format"
    assert _fails_fast(b"Date,Amount\n").code == "no_entries"
    assert _fails_fast(b"\xef\xbb\xbfDate;Amount;Description\r\n\r\n").code == "no_entries"


# --- export escaping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-12.00", "'-12.00"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("rent", "rent"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_escape_csv_cell(text: str, expected: str) -> None:
    assert escape_csv_cell(text) == expected


def test_a_short_cp1251_file_is_read_by_its_header_when_statistics_cannot_tell() -> None:
    """Six zero rows with no text: the header is the file's only Cyrillic, too little for
    byte statistics (koi8-r, Hebrew cp1255 and 'no encoding at all' all came out of it).
    The code page under which a header row is recognised wins."""
    header = "Дата операции\tОписание\tСумма"  # noqa: RUF001 (Cyrillic on purpose)
    lines = [header] + [f"2024-03-0{d}\t\t€0.00" for d in range(1, 7)]
    data = ("\r\n".join(lines) + "\r\n").encode("cp1251")
    reader = read_csv_statement(io.BytesIO(data), default_currency="EUR")
    entries = list(reader.entries())
    assert reader.encoding == "cp1251"
    assert [e.amount for e in entries] == [Decimal("0.00")] * 6
