"""The bank reconciliation statement of a run: definitions and algebra (pure, stdlib only).

Two balances are explained by the items that make them differ, as of T, the run's period
end (`reconciliation.selectors.run_period_end`):

- **Bank closing balance** `B`: the closing balance of the run's latest statement for the
  account (the statement is named in the report). Unknown when that statement carries
  none (a CSV export): then nothing can balance.
- **Book balance** `G`: the account's opening balance `O` plus its GL entries dated
  `opening_balance_date`..T (every entry up to T when the account has no opening date).
  A run without an account uses the ledger's GL entries in the run's currency and O = 0.

The book is read from its opening date on: `O` is taken to be the reconciled balance at
the start of that day (the bank balance then, with what was outstanding at that moment
entered as GL entries dated from that day on); GL entries before it are not looked at.

Every movement up to T sits in exactly one of these places:

- a bank item of the run in an **accepted match** (matched or partial): its GL side is in
  `G`, except GL entries dated after T, before the opening date, or not on the account
  (`matched_outside_book`); what the two sides differ by is the match's **partial
  difference** `bank - GL`;
- a bank item in no accepted match: **bank-only** (fees, interest; a pending suggestion is
  not a decision, so its item is still bank-only and its GL entry still outstanding);
- a bank item a person **closed** (with reason, note, who, when): in `B`, not in `G`;
- a GL entry of the book (opening date..T) that no accepted match clears by T (its bank
  side dated up to T): **outstanding**, split into deposits in transit (>= 0; a zero entry
  changes no balance and is listed there) and unpresented payments (< 0). One cleared only
  by a later statement is outstanding here.

So, with every sum signed (+ into the account):

    B - G = bank_only + partial + closed + matched_outside_book - outstanding

and the statement reads, as every finance team writes it:

    adjusted bank balance = B + outstanding
    adjusted book balance = G + bank_only + partial + closed + matched_outside_book
    difference            = adjusted bank - adjusted book      (balanced when 0)

The identity holds when `O` is such a reconciled balance and earlier runs left nothing
open (their fees booked, their differences adjusted): a non-zero difference is then
exactly what is unexplained. tests/reconciliation/report/test_algebra.py checks it on
random months; the demo month balances once a reviewer has decided every item.

Money stays Decimal; the JSON form carries decimal strings in the currency's minor units,
so a frozen report round-trips exactly and its sha256 (`report_digest`) can be recomputed
by anyone from the body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgers.money import AmountError, format_amount

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One row behind a figure: a GL entry, a bank item or a match, with its own id."""

    type: str  # "gl_entry" | "item" | "match"
    id: str
    date: dt.date | None
    amount: Decimal
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    rows: tuple[Row, ...]

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), ZERO)


@dataclass(frozen=True, slots=True, kw_only=True)
class BankItem:
    id: str
    booking_date: dt.date
    amount: Decimal
    text: str
    status: str  # the item's match_status: unmatched / matched / partial / closed
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchLine:
    """An accepted match of the run, with the part of its GL side outside `G`."""

    id: str
    bank_date: dt.date | None
    difference: Decimal  # bank - GL
    outside_book: Decimal  # sum of its GL entries dated after T or outside the account
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class GlEntry:
    """A GL entry dated up to T; `cleared_on` is the latest bank date of the accepted
    match it is in (None when in none)."""

    id: str
    booking_date: dt.date
    amount: Decimal
    text: str
    cleared_on: dt.date | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation:
    period_end: dt.date
    bank_closing: Decimal | None
    book_balance: Decimal
    deposits_in_transit: Section
    unpresented_payments: Section
    bank_only: Section
    partial_differences: Section
    closed_items: Section
    matched_outside_book: Section

    @property
    def outstanding_total(self) -> Decimal:
        return self.deposits_in_transit.total + self.unpresented_payments.total

    @property
    def adjusted_bank(self) -> Decimal | None:
        if self.bank_closing is None:
            return None
        return self.bank_closing + self.outstanding_total

    @property
    def adjusted_book(self) -> Decimal:
        return (
            self.book_balance
            + self.bank_only.total
            + self.partial_differences.total
            + self.closed_items.total
            + self.matched_outside_book.total
        )

    @property
    def difference(self) -> Decimal | None:
        adjusted_bank = self.adjusted_bank
        return None if adjusted_bank is None else adjusted_bank - self.adjusted_book

    @property
    def balanced(self) -> bool:
        return self.difference == ZERO


def reconcile(
    *,
    period_end: dt.date,
    book_from: dt.date | None = None,
    bank_closing: Decimal | None,
    book_balance: Decimal,
    bank_items: Iterable[BankItem],
    matches: Iterable[MatchLine],
    gl_entries: Iterable[GlEntry],
) -> Reconciliation:
    """Sort the run's movements into the statement's sections (see the module docstring).

    `bank_items`: the run's items in the report currency; `matches`: its accepted
    matches; `gl_entries`: the book's GL entries (opening date `book_from`..T) that may be
    outstanding (those not cleared by T; cleared ones may be passed too and are left out).
    """
    bank_only, closed = [], []
    for item in sorted(bank_items, key=lambda i: (i.booking_date, i.id)):
        row = Row(
            type="item",
            id=item.id,
            date=item.booking_date,
            amount=item.amount,
            text=item.text,
            extra=item.extra,
        )
        if item.status == "closed":
            closed.append(row)
        elif item.status == "unmatched":
            bank_only.append(row)
    partial: list[Row] = []
    outside: list[Row] = []
    for m in sorted(matches, key=lambda m: (m.bank_date or dt.date.min, m.id)):
        # One match can be both: partly explained and partly booked outside the period.
        for amount, rows in ((m.difference, partial), (m.outside_book, outside)):
            if amount:
                rows.append(
                    Row(
                        type="match",
                        id=m.id,
                        date=m.bank_date,
                        amount=amount,
                        text=m.text,
                        extra=m.extra,
                    )
                )
    deposits: list[Row] = []
    payments: list[Row] = []
    for g in sorted(gl_entries, key=lambda g: (g.booking_date, g.id)):
        if g.booking_date > period_end or (book_from is not None and g.booking_date < book_from):
            continue
        if g.cleared_on is not None and g.cleared_on <= period_end:
            continue
        row = Row(
            type="gl_entry",
            id=g.id,
            date=g.booking_date,
            amount=g.amount,
            text=g.text,
            extra=g.extra,
        )
        (deposits if g.amount >= 0 else payments).append(row)
    return Reconciliation(
        period_end=period_end,
        bank_closing=bank_closing,
        book_balance=book_balance,
        deposits_in_transit=Section(rows=tuple(deposits)),
        unpresented_payments=Section(rows=tuple(payments)),
        bank_only=Section(rows=tuple(bank_only)),
        partial_differences=Section(rows=tuple(partial)),
        closed_items=Section(rows=tuple(closed)),
        matched_outside_book=Section(rows=tuple(outside)),
    )


# --------------------------------------------------------------------------- JSON form

SECTION_NAMES: tuple[tuple[str, str], ...] = (
    ("deposits_in_transit", "Deposits in transit (in the books, not yet on the statement)"),
    ("unpresented_payments", "Unpresented payments (in the books, not yet on the statement)"),
    ("bank_only", "Bank items not in the books (fees, interest, unknown)"),
    ("partial_differences", "Differences of partial matches (bank - book)"),
    ("closed_items", "Bank items closed by a person"),
    ("matched_outside_book", "Matched GL entries outside the book balance (after period end)"),
)


def money(value: Decimal | None, currency: str) -> str | None:
    """A decimal string in the currency's minor units (exact digits when finer)."""
    if value is None:
        return None
    try:
        return format_amount(value, currency)
    except AmountError:
        return str(value)


def _row_json(row: Row, currency: str) -> dict[str, Any]:
    return {
        "type": row.type,
        "id": row.id,
        "date": row.date.isoformat() if row.date else None,
        "amount": money(row.amount, currency),
        "text": row.text,
        **row.extra,
    }


def _section_json(section: Section, currency: str) -> dict[str, Any]:
    return {
        "total": money(section.total, currency),
        "count": len(section.rows),
        "rows": [_row_json(r, currency) for r in section.rows],
    }


def reconciliation_json(rec: Reconciliation, *, currency: str) -> dict[str, Any]:
    """The figures and their rows, as the API's report carries them."""
    return {
        "bank_closing_balance": money(rec.bank_closing, currency),
        "book_balance": money(rec.book_balance, currency),
        "outstanding_total": money(rec.outstanding_total, currency),
        **{name: _section_json(getattr(rec, name), currency) for name, _ in SECTION_NAMES},
        "adjusted_bank_balance": money(rec.adjusted_bank, currency),
        "adjusted_book_balance": money(rec.adjusted_book, currency),
        "difference": money(rec.difference, currency),
        "balanced": rec.balanced,
    }


def canonical_json(body: dict[str, Any]) -> bytes:
    """The bytes the digest is taken of: sorted keys, no whitespace, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def report_digest(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a report body (without its own `sha256`/`frozen`)."""
    unsigned = {k: v for k, v in body.items() if k not in ("sha256", "frozen")}
    return hashlib.sha256(canonical_json(unsigned)).hexdigest()


def flat_rows(body: dict[str, Any]) -> Sequence[dict[str, Any]]:
    """Every row of every section, with its section: the CSV/XLSX detail lines."""
    out = []
    for name, title in SECTION_NAMES:
        for row in body[name]["rows"]:
            out.append({"section": name, "section_title": title, **row})
    return out
