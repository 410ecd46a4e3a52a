"""What a CSV export states around its table: account, period and balances.

Banks put the statement's facts in lines above the header (preamble) and below the data
(footer), in one cell ("Zeitraum: 01.03.2024 - 31.03.2024") or as label and value cells
("Kontostand vom 29.02.2024:";"12.345,67 EUR"), in German or English:

- account: `IBAN`, `Konto`, `Kontonummer/IBAN`, `Account number`, ...;
- period: `Zeitraum`, `Abfragezeitraum`, `Statement period`, `Period`, `Date range`
  ("from - to", "vom ... bis ..."), or separate `Von:`/`Bis:` (`From:`/`To:`) lines;
- labelled balances: `Anfangssaldo`, `Alter Kontostand`, `Opening balance` (opening) and
  `Endsaldo`, `Neuer Kontostand`, `Closing balance` (closing);
- dated balances: `Kontostand vom 29.02.2024`, `Saldo per 31.03.2024`, `Balance as of
  31/03/2024`. Whether such a balance opens or closes the statement depends on its date,
  so it is decided once the period is known (`resolve_dated`): a balance dated before the
  period's first day is the opening balance (the day before the period, as a bank prints
  it above the rows), any other the closing balance (DKB prints today's balance on top).

Dates here are kept as text until the file's day/month order is decided from its data
rows; the statement reads them with the same `DateReader` as the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from reconciliation.parsers.csv_dates import DateReader, DateTextError, date_shape
from reconciliation.parsers.csv_headers import (
    ACCOUNT_LABELS,
    CLOSING_LABELS,
    OPENING_LABELS,
    normalise,
    starts_with_any,
)

_DATE: Final = r"(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2})"
_PERIOD: Final = re.compile(
    r"^(?:zeitraum|abfragezeitraum|auszugszeitraum|buchungszeitraum|umsatzzeitraum|"
    r"kontoauszug|statement period|reporting period|period|date range|période|periode)"
    r"\b[^0-9]*?(?:vom\s+|from\s+|du\s+)?"
    + _DATE
    + r"\s*(?:-|\u2013|\u2014|bis|to|until|au)\s*"
    + _DATE,
    re.IGNORECASE,
)
_FROM: Final = re.compile(
    r"^(?:von|vom|from|start date|startdatum|date from|period from)\s*:?\s*" + _DATE + r"\s*$",
    re.IGNORECASE,
)
_TO: Final = re.compile(
    r"^(?:bis|to|end date|enddatum|date to|period to)\s*:?\s*" + _DATE + r"\s*$", re.IGNORECASE
)
_DATED_BALANCE: Final = re.compile(
    r"^(?:(alter|neuer|old|new|ending|closing|opening)\s+)?"
    r"(?:kontostand|saldo|balance|stand|buchungssaldo)\s*"
    r"(?:vom|am|per|zum|zum|on|as of|as at|at|de|du)?\s*" + _DATE + r"\s*:?\s*(.*)$",
    re.IGNORECASE,
)
_OPENING_WORDS: Final = frozenset({"alter", "old", "opening"})
_CLOSING_WORDS: Final = frozenset({"neuer", "new", "ending", "closing"})
# "1.234,56 S" / "1.234,56 H": Soll (debit, negative) and Haben (credit), Sparkasse style.
_SOLL_HABEN: Final = re.compile(r"^(.*\d)\s*([SH])$")
EXTRA_ACCOUNT_LABELS: Final = frozenset(
    normalise(label)
    for label in ("Kontonummer/IBAN", "Konto/IBAN", "IBAN/Kontonummer", "Account IBAN", "IBAN/BBAN")
)


@dataclass(slots=True)
class StatedFacts:
    """Facts of the lines around the table, as text (see the module docstring)."""

    opening: str | None = None
    closing: str | None = None
    account: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    dated: list[tuple[str, str]] = field(default_factory=list)  # (date text, amount text)

    def read_line(self, row: list[str], *, footer: bool = False) -> bool:
        """Take what one line states; True when it stated something."""
        cells = [cell.strip() for cell in row if cell.strip()]
        if not cells:
            return False
        text = " ".join(cells)
        match = _PERIOD.match(text)
        if match is not None:
            self.period_from = self.period_from or match[1]
            self.period_to = self.period_to or match[2]
            return True
        if not footer:
            match = _FROM.match(text)
            if match is not None:
                self.period_from = self.period_from or match[1]
                return True
            match = _TO.match(text)
            if match is not None:
                self.period_to = self.period_to or match[1]
                return True
        match = _DATED_BALANCE.match(text)
        if match is not None and match[3].strip():
            word = (match[1] or "").lower()
            amount = match[3].strip()
            if word in _OPENING_WORDS:
                self.opening = self.opening or amount
            elif word in _CLOSING_WORDS:
                self.closing = amount
            else:
                self.dated.append((match[2], amount))
            return True
        if len(cells) == 1 and ":" in cells[0]:
            label_text, _, value = cells[0].partition(":")
            cells = [label_text, value.strip()] if value.strip() else [label_text]
        if len(cells) < 2:
            return False
        label = normalise(cells[0])
        if starts_with_any(label, OPENING_LABELS):
            self.opening = self.opening or (cells[1] if not footer else cells[-1])
        elif starts_with_any(label, CLOSING_LABELS):
            self.closing = cells[1] if not footer else cells[-1]
        elif not footer and (label in ACCOUNT_LABELS or label in EXTRA_ACCOUNT_LABELS):
            self.account = self.account or cells[1]
        else:
            return False
        return True


def read_stated_date(text: str | None, dates: DateReader) -> date | None:
    """A date of the preamble, read in the file's decided order (dotted dates, which
    Germans write day first, also before anything is decided); None when unreadable."""
    if not text:
        return None
    try:
        return dates.read(text)
    except DateTextError:
        shape = date_shape(text)
        if shape is not None and shape.separator == "." and shape.dmy is not None:
            return shape.dmy
        return None


def soll_haben(text: str) -> tuple[str, int]:
    """("1.234,56", -1) for "1.234,56 S"; the text and +1 when there is no S/H marker."""
    match = _SOLL_HABEN.match(text.strip())
    if match is None:
        return text, 1
    return match[1], -1 if match[2] == "S" else 1


@dataclass(frozen=True, slots=True)
class DatedBalances:
    opening: tuple[date, str] | None
    closing: tuple[date, str] | None


def resolve_dated(
    dated: list[tuple[str, str]], dates: DateReader, period_from: date | None
) -> DatedBalances:
    """Opening and closing among the dated balances (see the module docstring)."""
    opening: tuple[date, str] | None = None
    closing: tuple[date, str] | None = None
    for day_text, amount in dated:
        day = read_stated_date(day_text, dates)
        if day is None:
            continue
        if period_from is not None and day < period_from:
            if opening is None or day < opening[0]:
                opening = (day, amount)
        elif closing is None or day >= closing[0]:
            closing = (day, amount)
    return DatedBalances(opening, closing)
