"""Writes a bank statement as CSV in a chosen dialect, streaming (no Django, no parser code).

Used by the property tests (one statement in many dialects must parse to the same entries)
and by the benchmark, which writes a 1,000,000-row file without holding it in memory:

    with path.open("wb") as out:
        write_statement(out, generate_rows(1_000_000, seed=1), CsvDialect(delimiter=";"))

The dialect covers what banks vary: encoding and BOM, separator, decimal and thousands
separators, date style, signed amounts vs debit/credit columns vs a CR/DR column vs
parentheses/trailing minus, header language, preamble and footer lines, line endings.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import BinaryIO, Final, Literal

DateStyle = Literal[
    "iso",  # 2024-03-31
    "dmy_dot",  # 31.03.2024
    "dmy_dot_time",  # 31.03.2024 14:05:09
    "dmy_dot_2y",  # 31.03.24
    "dmy_slash",  # 31/03/2024
    "mdy_slash",  # 03/31/2024
    "mdy_slash_2y",  # 3/31/24
    "dmy_dash",  # 31-03-2024
    "dmon",  # 31-Mar-2024
]
AmountStyle = Literal["signed", "debit_credit", "direction", "parentheses", "trailing_minus"]
Language = Literal["en", "de", "fr", "nl", "ru"]

DATE_STYLES: Final[tuple[DateStyle, ...]] = (
    "iso", "dmy_dot", "dmy_dot_time", "dmy_dot_2y", "dmy_slash", "mdy_slash", "mdy_slash_2y",
    "dmy_dash", "dmon",
)  # fmt: skip
MONTH_FIRST: Final = frozenset({"mdy_slash", "mdy_slash_2y"})
_MONTHS: Final = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]

# field → header name per language
HEADERS: Final[dict[Language, dict[str, str]]] = {
    "en": {
        "date": "Date", "value_date": "Value Date", "amount": "Amount", "debit": "Debit",
        "credit": "Credit", "direction": "Dr/Cr", "currency": "Currency",
        "description": "Description", "counterparty": "Payee", "reference": "Transaction ID",
    },
    "de": {
        "date": "Buchungstag", "value_date": "Valuta", "amount": "Betrag", "debit": "Soll",
        "credit": "Haben", "direction": "S/H", "currency": "Währung",
        "description": "Verwendungszweck", "counterparty": "Empfänger",
        "reference": "Buchungsreferenz",
    },
    "fr": {
        "date": "Date d'opération", "value_date": "Date de valeur", "amount": "Montant",
        "debit": "Débit", "credit": "Crédit", "direction": "Sens", "currency": "Devise",
        "description": "Libellé", "counterparty": "Bénéficiaire",
        "reference": "Numéro de transaction",
    },
    "nl": {
        "date": "Datum", "value_date": "Rentedatum", "amount": "Bedrag", "debit": "Af",
        "credit": "Bij", "direction": "Af Bij", "currency": "Munt",
        "description": "Omschrijving", "counterparty": "Naam tegenpartij", "reference": "Volgnr",
    },
    "ru": {
        "date": "Дата операции", "value_date": "Дата валютирования", "amount": "Сумма",
        "debit": "Расход", "credit": "Приход", "direction": "Направление",
        "currency": "Валюта", "description": "Описание", "counterparty": "Контрагент",
        "reference": "Номер операции",
    },
}  # fmt: skip
MARKERS: Final[dict[Language, tuple[str, str]]] = {  # (debit, credit)
    "en": ("DR", "CR"),
    "de": ("S", "H"),
    "fr": ("D", "C"),
    "nl": ("Af", "Bij"),
    "ru": ("Дебет", "Кредит"),
}
BALANCE_LABELS: Final[dict[Language, tuple[str, str, str]]] = {  # account, opening, closing
    "en": ("Account", "Opening balance", "Closing balance"),
    "de": ("Kontonummer", "Anfangssaldo", "Endsaldo"),
    "fr": ("Compte", "Solde initial", "Solde final"),
    "nl": ("Rekening", "Beginsaldo", "Eindsaldo"),
    "ru": ("Счет", "Входящий остаток", "Исходящий остаток"),
}
TOTAL_LABEL: Final[dict[Language, str]] = {
    "en": "Total", "de": "Summe", "fr": "Total", "nl": "Totaal", "ru": "Итого",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementRow:
    """One transaction as the bank knows it (amount signed: + in, - out)."""

    booking_date: date
    amount: Decimal
    description: str
    currency: str = "EUR"
    value_date: date | None = None
    counterparty_name: str | None = None
    bank_reference: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvDialect:
    encoding: str = "utf-8"  # any Python codec; "utf-16" writes its own BOM
    bom: bool = False  # write a BOM for utf-8 / utf-16-le / utf-16-be
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    thousands: str = ""  # "", ",", ".", "'", " ", "\u00a0", "\u202f"
    date_style: DateStyle = "iso"
    amount_style: AmountStyle = "signed"
    debit_negative: bool = False  # debit column written as "-12.00" (debit_credit style)
    plus_sign: bool = False  # credits written "+12.00" (signed style)
    currency_affix: str = ""  # written beside every amount, e.g. "$", "€", "CHF "
    affix_after: bool = False
    language: Language = "en"
    currency_column: bool = True
    value_date_column: bool = False
    counterparty_column: bool = True
    reference_column: bool = True
    quote_all: bool = False
    line_ending: str = "\r\n"
    account: str | None = None  # preamble line with the account number
    opening_balance: Decimal | None = None  # preamble line
    closing_balance: Decimal | None = None  # footer line (fewer fields)
    total_line: bool = False  # full-width footer line "Total" with the sum

    def __post_init__(self) -> None:
        if self.thousands == self.decimal:
            raise ValueError("thousands and decimal separator must differ")


def format_date(value: date, style: DateStyle) -> str:
    d, m, y = value.day, value.month, value.year
    match style:
        case "iso":
            return value.isoformat()
        case "dmy_dot":
            return f"{d:02d}.{m:02d}.{y}"
        case "dmy_dot_time":
            return f"{d:02d}.{m:02d}.{y} 14:05:09"
        case "dmy_dot_2y":
            return f"{d:02d}.{m:02d}.{y % 100:02d}"
        case "dmy_slash":
            return f"{d:02d}/{m:02d}/{y}"
        case "mdy_slash":
            return f"{m:02d}/{d:02d}/{y}"
        case "mdy_slash_2y":
            return f"{m}/{d}/{y % 100:02d}"
        case "dmy_dash":
            return f"{d:02d}-{m:02d}-{y}"
        case "dmon":
            return f"{d:02d}-{_MONTHS[m - 1]}-{y}"
    raise ValueError(style)  # pragma: no cover


def format_number(value: Decimal, dialect: CsvDialect) -> str:
    """|value| with the dialect's decimal and thousands separators (digits kept exactly)."""
    text = format(abs(value), "f")
    integer, _, fraction = text.partition(".")
    if dialect.thousands:
        groups = []
        while len(integer) > 3:
            groups.insert(0, integer[-3:])
            integer = integer[:-3]
        integer = dialect.thousands.join([integer, *groups])
    number = f"{integer}{dialect.decimal}{fraction}" if fraction else integer
    if dialect.currency_affix:
        affix = dialect.currency_affix
        number = f"{number}{affix}" if dialect.affix_after else f"{affix}{number}"
    return number


def format_signed(value: Decimal, dialect: CsvDialect) -> str:
    number = format_number(value, dialect)
    negative = value < 0
    match dialect.amount_style:
        case "parentheses":
            return f"({number})" if negative else number
        case "trailing_minus":
            return f"{number}-" if negative else number
        case _:
            if negative:
                return f"-{number}"
            return f"+{number}" if dialect.plus_sign else number


def header_row(dialect: CsvDialect) -> list[str]:
    names = HEADERS[dialect.language]
    row = [names["date"]]
    if dialect.value_date_column:
        row.append(names["value_date"])
    row.append(names["description"])
    if dialect.counterparty_column:
        row.append(names["counterparty"])
    if dialect.amount_style == "debit_credit":
        row += [names["debit"], names["credit"]]
    else:
        row.append(names["amount"])
    if dialect.amount_style == "direction":
        row.append(names["direction"])
    if dialect.currency_column:
        row.append(names["currency"])
    if dialect.reference_column:
        row.append(names["reference"])
    return row


def data_row(entry: StatementRow, dialect: CsvDialect) -> list[str]:
    row = [format_date(entry.booking_date, dialect.date_style)]
    if dialect.value_date_column:
        row.append(format_date(entry.value_date, dialect.date_style) if entry.value_date else "")
    row.append(entry.description)
    if dialect.counterparty_column:
        row.append(entry.counterparty_name or "")
    if dialect.amount_style == "debit_credit":
        if entry.amount < 0:
            debit = format_number(entry.amount, dialect)
            row += [f"-{debit}" if dialect.debit_negative else debit, ""]
        else:
            row += ["", format_number(entry.amount, dialect)]
    elif dialect.amount_style == "direction":
        debit_marker, credit_marker = MARKERS[dialect.language]
        row.append(format_number(entry.amount, dialect))
        row.append(debit_marker if entry.amount < 0 else credit_marker)
    else:
        row.append(format_signed(entry.amount, dialect))
    if dialect.currency_column:
        row.append(entry.currency)
    if dialect.reference_column:
        row.append(entry.bank_reference or "")
    return row


def _bom(dialect: CsvDialect) -> bytes:
    if not dialect.bom:
        return b""
    name = codecs.lookup(dialect.encoding).name
    return {
        "utf-8": codecs.BOM_UTF8,
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
    }.get(name, b"")


def write_statement(stream: BinaryIO, entries: Iterable[StatementRow], dialect: CsvDialect) -> int:
    """Write the statement to a binary stream, row by row; returns the data row count.

    The stream is left open. Text the encoding cannot hold raises UnicodeEncodeError.
    """
    stream.write(_bom(dialect))
    text = io.TextIOWrapper(stream, encoding=dialect.encoding, newline="", write_through=False)
    minimal = csv.writer(
        text,
        delimiter=dialect.delimiter,
        lineterminator=dialect.line_ending,
        quoting=csv.QUOTE_ALL if dialect.quote_all else csv.QUOTE_MINIMAL,
    )
    # Python's writer only quotes line breaks that appear in its own line terminator.
    quoted = csv.writer(
        text, delimiter=dialect.delimiter, lineterminator=dialect.line_ending, quoting=csv.QUOTE_ALL
    )

    def put(row: list[str]) -> None:
        if any("\r" in cell or "\n" in cell for cell in row):
            quoted.writerow(row)
        else:
            minimal.writerow(row)

    try:
        labels = BALANCE_LABELS[dialect.language]
        if dialect.account:
            put([labels[0], dialect.account])
        if dialect.opening_balance is not None:
            put([labels[1], format_signed(dialect.opening_balance, dialect)])
        if dialect.account or dialect.opening_balance is not None:
            put([])
        header = header_row(dialect)
        put(header)
        count = 0
        total = Decimal(0)
        for entry in entries:
            put(data_row(entry, dialect))
            count += 1
            total += entry.amount
        if dialect.total_line:
            footer = [""] * len(header)
            footer[0] = TOTAL_LABEL[dialect.language]
            amount_col = (
                header.index(HEADERS[dialect.language]["amount"])
                if (dialect.amount_style != "debit_credit")
                else header.index(HEADERS[dialect.language]["credit"])
            )
            footer[amount_col] = format_signed(total, dialect)
            put(footer)
        if dialect.closing_balance is not None:
            put([labels[2], format_signed(dialect.closing_balance, dialect)])
    finally:
        # leave the caller's stream open (a dropped TextIOWrapper would close it)
        text.flush()
        text.detach()
    return count


def to_bytes(entries: Iterable[StatementRow], dialect: CsvDialect) -> bytes:
    buffer = io.BytesIO()
    write_statement(buffer, entries, dialect)
    return buffer.getvalue()


_WORDS: Final = [
    "rent",
    "invoice",
    "salary",
    "card",
    "payment",
    "transfer",
    "refund",
    "fee",
    "interest",
    "coffee",
    "grocery",
    "insurance",
    "utilities",
    "subscription",
    "ATM",
    "cash",
    "deposit",
    "loan",
    "tax",
]
_NAMES: Final = ("ACME Ltd", "Jane Doe", "Muster GmbH", "Dupont SA", "Bakker BV", "Contoso")


def generate_rows(
    count: int,
    *,
    seed: int = 0,
    start: date = date(2024, 1, 1),
    currency: str = "EUR",
) -> Iterator[StatementRow]:
    """`count` plausible rows, lazily (the benchmark writes a million of them)."""
    rng = random.Random(seed)
    day = start
    for number in range(count):
        if rng.random() < 0.05:
            day += timedelta(days=1)
        cents = rng.randint(1, 500_000_00) if rng.random() < 0.1 else rng.randint(1, 2_000_00)
        amount = Decimal(cents).scaleb(-2) * (1 if rng.random() < 0.3 else -1)
        yield StatementRow(
            booking_date=day,
            value_date=day,
            amount=amount,
            currency=currency,
            description=" ".join(rng.choices(_WORDS, k=rng.randint(1, 6))) + f" {number}",
            counterparty_name=rng.choice(_NAMES),
            bank_reference=f"REF{seed:04d}{number:09d}",
        )
