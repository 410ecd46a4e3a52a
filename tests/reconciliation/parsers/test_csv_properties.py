"""Property tests for the CSV parser, with statements written by `csv_builder`.

- one statement written in many dialects parses to the same entries, equal to the source;
- arbitrary bytes (and CSV-looking noise) only ever raise ParseError;
- day and month are never swapped silently: all-ambiguous columns are an error.
"""

from __future__ import annotations

import contextlib
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciliation.parsers.csv_statement import read_csv_statement
from reconciliation.parsers.types import ParsedEntry, ParseError
from tests.reconciliation.parsers.csv_builder import (
    BALANCE_LABELS,
    DATE_STYLES,
    MARKERS,
    MONTH_FIRST,
    TOTAL_LABEL,
    CsvDialect,
    DateStyle,
    Language,
    StatementRow,
    generate_rows,
    header_row,
    to_bytes,
    write_statement,
)

# cp1251 only with Cyrillic text: an English file whose one non-ASCII byte is a cp1251 '€'
# (0x88) is indistinguishable from cp1252 U+02C6 and is not something banks write.
ENCODINGS: dict[Language, tuple[str, ...]] = {
    "en": ("utf-8", "utf-16", "utf-16-le", "cp1252", "latin-1"),
    "de": ("utf-8", "utf-16", "cp1252", "latin-1"),
    "fr": ("utf-8", "utf-16-be", "cp1252", "latin-1"),
    "nl": ("utf-8", "utf-16", "cp1252"),
    "ru": ("utf-8", "utf-16", "cp1251"),
}
AFFIXES: dict[str, tuple[tuple[str, bool], ...]] = {  # (text, written after the number)
    "EUR": (("", False), ("€", False), (" EUR", True)),
    "USD": (("", False), ("$", False), ("USD ", False)),
    "CHF": (("", False), ("CHF ", False), (" CHF", True)),
    "GBP": (("", False), ("£", False)),
}
# Dates whose day/month order only the values can tell (no dots, no decimal comma).
ORDER_SENSITIVE: frozenset[DateStyle] = frozenset(
    {"dmy_slash", "mdy_slash", "mdy_slash_2y", "dmy_dash"}
)

# Example counts come from the loaded profile (tests/conftest.py: dev 60, ci 300).
PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


descriptions = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 ,;|\t'\"-/.")),
    max_size=40,
) | st.sampled_from(["rent", "line one\nline two", 'say "hi"', "a;b,c|d", ""])
amounts = st.integers(min_value=-(10**11), max_value=10**11).map(lambda c: Decimal(c).scaleb(-2))
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def statements(draw: st.DrawFn) -> tuple[str, list[StatementRow]]:
    currency = draw(st.sampled_from(sorted(AFFIXES)))
    count = draw(st.integers(min_value=1, max_value=25))
    rows = [
        StatementRow(
            booking_date=draw(dates),
            value_date=draw(st.none() | dates),
            amount=draw(amounts),
            currency=currency,
            description=draw(descriptions),
            counterparty_name=draw(st.none() | st.sampled_from(["ACME Ltd", "Jane Doe", "X"])),
            bank_reference=draw(st.none() | st.from_regex(r"[A-Z0-9]{1,12}", fullmatch=True)),
        )
        for _ in range(count)
    ]
    # one date that only reads one way, so that every dialect can be read without a mapping
    rows[0] = StatementRow(
        booking_date=rows[0].booking_date.replace(day=draw(st.integers(13, 28))),
        value_date=rows[0].value_date,
        amount=rows[0].amount,
        currency=currency,
        description=rows[0].description,
        counterparty_name=rows[0].counterparty_name,
        bank_reference=rows[0].bank_reference,
    )
    return currency, rows


@st.composite
def dialects(draw: st.DrawFn, currency: str) -> CsvDialect:
    language: Language = draw(st.sampled_from(sorted(ENCODINGS)))  # type: ignore[arg-type]
    encoding = draw(st.sampled_from(ENCODINGS[language]))
    decimal = draw(st.sampled_from([".", ","]))
    thousands = draw(st.sampled_from(["", ",", ".", "'", " ", "\u00a0", "\u202f"]))
    assume(thousands != decimal)
    date_style = draw(st.sampled_from(DATE_STYLES))
    # a decimal comma means day first to the parser, as it does at every real bank
    assume(not (decimal == "," and date_style in MONTH_FIRST))
    affix, after = draw(st.sampled_from(AFFIXES[currency]))
    dialect = CsvDialect(
        encoding=encoding,
        bom=draw(st.booleans()),
        delimiter=draw(st.sampled_from([",", ";", "\t", "|"])),
        decimal=decimal,
        thousands=thousands,
        date_style=date_style,
        amount_style=draw(
            st.sampled_from(
                ["signed", "debit_credit", "direction", "parentheses", "trailing_minus"]
            )
        ),
        debit_negative=draw(st.booleans()),
        plus_sign=draw(st.booleans()),
        currency_affix=affix,
        affix_after=after,
        language=language,
        currency_column=draw(st.booleans()),
        value_date_column=draw(st.booleans()),
        counterparty_column=draw(st.booleans()),
        reference_column=draw(st.booleans()),
        quote_all=draw(st.booleans()),
        line_ending=draw(st.sampled_from(["\r\n", "\n", "\r", "\r\r\n"])),
        account=draw(st.none() | st.just("DE89370400440532013000")),
        opening_balance=draw(st.none() | amounts),
        closing_balance=draw(st.none() | amounts),
        total_line=draw(st.booleans()),
    )
    header_text = "".join([affix, thousands, *_header_words(dialect)])
    assume(_encodable(header_text, encoding))
    return dialect


def _header_words(dialect: CsvDialect) -> list[str]:
    """Every fixed word the builder may write for this dialect (to check it is encodable)."""
    language = dialect.language
    return [
        *header_row(dialect),
        *MARKERS[language],
        *BALANCE_LABELS[language],
        TOTAL_LABEL[language],
    ]


def _expected(row: StatementRow, dialect: CsvDialect) -> tuple[Any, ...]:
    return (
        row.booking_date,
        row.value_date if dialect.value_date_column else None,
        row.amount,
        row.currency,
        " ".join(row.description.split()),
        (row.counterparty_name or None) if dialect.counterparty_column else None,
        row.bank_reference if dialect.reference_column else None,
    )


def _seen(entry: ParsedEntry) -> tuple[Any, ...]:
    return (
        entry.booking_date,
        entry.value_date,
        entry.amount,
        entry.currency,
        entry.description,
        entry.counterparty_name,
        entry.bank_reference,
    )


def _parse(data: bytes, currency: str) -> tuple[list[ParsedEntry], Any]:
    reader = read_csv_statement(io.BytesIO(data), default_currency=currency)
    return list(reader.entries()), reader


@PROPERTY_SETTINGS
@given(st.data())
def test_one_statement_in_many_dialects_parses_the_same(data: st.DataObject) -> None:
    currency, rows = data.draw(statements())
    chosen = data.draw(st.lists(dialects(currency), min_size=2, max_size=4))
    results = []
    for dialect in chosen:
        raw = to_bytes(rows, dialect)
        entries, reader = _parse(raw, currency)
        seen = [_seen(entry) for entry in entries]
        assert seen == [_expected(row, dialect) for row in rows], (dialect, reader.columns)
        info = reader.statements[0]
        assert info.entry_count == len(rows)
        assert info.entry_sum == sum((row.amount for row in rows), Decimal(0))
        assert info.opening_balance == dialect.opening_balance
        if dialect.closing_balance is not None:
            assert info.closing_balance == dialect.closing_balance
        results.append([(e.booking_date, e.amount, e.description) for e in entries])
    assert all(result == results[0] for result in results)


@PROPERTY_SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_only_raise_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        _parse(data, "EUR")


csv_noise = st.lists(
    st.sampled_from(
        [*",;|\t\"'\r\n 0123456789.-/()+$€£:aAbDeEfmnotTuäéЖ", "Date", "Amount", "CR", "2024-"]
    ),
    max_size=200,
).map("".join)


@PROPERTY_SETTINGS
@given(csv_noise, st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_csv_looking_noise_only_raises_parse_error(text: str, encoding: str) -> None:
    prefix = "Date,Amount,Description\n" if len(text) % 2 else ""
    data = (prefix + text).encode(encoding, errors="replace")
    with contextlib.suppress(ParseError):
        _parse(data, "EUR")


@PROPERTY_SETTINGS
@given(
    st.lists(dates, min_size=1, max_size=20),
    st.sampled_from(sorted(ORDER_SENSITIVE)),
    st.sampled_from([",", ";"]),
)
def test_day_and_month_are_never_swapped_silently(
    days: list[date], style: DateStyle, delimiter: str
) -> None:
    rows = [
        StatementRow(booking_date=day, amount=Decimal("-1.50"), description=f"row {n}")
        for n, day in enumerate(days)
    ]
    dialect = CsvDialect(date_style=style, delimiter=delimiter, decimal=".")
    raw = to_bytes(rows, dialect)
    if all(day.day <= 12 for day in days):
        with pytest.raises(ParseError) as info:
            _parse(raw, "EUR")
        assert info.value.code == "ambiguous_date_format"
        assert "date_format" in info.value.detail
    else:
        entries, _ = _parse(raw, "EUR")
        assert [entry.booking_date for entry in entries] == days


@PROPERTY_SETTINGS
@given(st.lists(dates, min_size=1, max_size=20))
def test_dotted_dates_are_day_first(days: list[date]) -> None:
    rows = [StatementRow(booking_date=day, amount=Decimal("2.00"), description="x") for day in days]
    entries, _ = _parse(to_bytes(rows, CsvDialect(date_style="dmy_dot", delimiter=";")), "EUR")
    assert [entry.booking_date for entry in entries] == days


def test_builder_streams_a_large_file_and_parser_reads_it() -> None:
    buffer = io.BytesIO()
    dialect = CsvDialect(delimiter=";", decimal=",", thousands=".", date_style="dmy_dot")
    written = write_statement(buffer, generate_rows(20_000, seed=3), dialect)
    buffer.seek(0)
    reader = read_csv_statement(buffer, default_currency="EUR")
    total = Decimal(0)
    count = 0
    for entry in reader.entries():
        total += entry.amount
        count += 1
    expected = sum((row.amount for row in generate_rows(20_000, seed=3)), Decimal(0))
    assert count == written == 20_000
    assert total == expected == reader.statements[0].entry_sum
    assert reader.statements[0].period_from == date(2024, 1, 1)
    assert reader.statements[0].period_to is not None
    assert reader.statements[0].period_to - reader.statements[0].period_from < timedelta(days=5000)
