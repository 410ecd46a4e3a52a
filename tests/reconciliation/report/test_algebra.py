"""The report's algebra (reconciliation/report/statement.py) on random months.

A month is generated the way it happens: the bank and the books start from the same
reconciled balance, then each movement lands somewhere (matched exactly or with a
difference, possibly with GL entries booked after the period end; bank-only; closed by a
person; outstanding in the books, or cleared only by next month's statement; pending in
a suggestion; booked after the period end and unmatched). Whatever the mix, the
statement must balance to the cent, and a bank balance off by d must show difference d.
No database: the sorting of rows into sections is pure.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from reconciliation.report.statement import BankItem, GlEntry, MatchLine, reconcile

OPENING_DAY = dt.date(2024, 3, 1)
PERIOD_END = dt.date(2024, 3, 31)
cents = st.integers(min_value=-5_000_000, max_value=5_000_000).map(lambda n: Decimal(n) / 100)
in_month = st.integers(min_value=0, max_value=30).map(lambda d: OPENING_DAY + dt.timedelta(d))
after_end = st.integers(min_value=1, max_value=20).map(lambda d: PERIOD_END + dt.timedelta(d))
gl_day = st.one_of(in_month, after_end)
gl_sides = st.lists(st.tuples(cents, gl_day), min_size=1, max_size=3)  # N:M, some after T

movement = st.one_of(
    st.tuples(st.just("matched"), cents, gl_sides, in_month),
    st.tuples(st.just("bank_only"), cents, in_month),
    st.tuples(st.just("closed"), cents, in_month),
    st.tuples(st.just("outstanding"), cents, in_month),
    st.tuples(st.just("cleared_next_month"), cents, in_month, after_end),
    st.tuples(st.just("suggested"), cents, cents, in_month),
    st.tuples(st.just("gl_after_end"), cents, after_end),
)  # fmt: skip


def month(opening: Decimal, movements: list[tuple]) -> dict:
    """Bank closing, book balance and the report's inputs for a generated month."""
    bank_closing, book = opening, opening
    items, matches, gl = [], [], []
    for n, (kind, *values) in enumerate(movements):
        ident = f"{n:04d}"
        if kind == "matched":
            amount, gl_side, day = values
            bank_closing += amount
            gl_total = sum((a for a, _ in gl_side), Decimal("0"))
            outside = sum((a for a, d in gl_side if d > PERIOD_END), Decimal("0"))
            difference = amount - gl_total
            status = "matched" if difference == 0 else "partial"
            items.append(
                BankItem(id=ident, booking_date=day, amount=amount, text="", status=status)
            )
            matches.append(
                MatchLine(
                    id=ident, bank_date=day, difference=difference, outside_book=outside, text=""
                )
            )
            for k, (a, d) in enumerate(gl_side):
                if d <= PERIOD_END:
                    book += a
                    gl.append(
                        GlEntry(
                            id=f"{ident}-{k}", booking_date=d, amount=a, text="", cleared_on=day
                        )
                    )
        elif kind in ("bank_only", "closed"):
            amount, day = values
            bank_closing += amount
            status = "unmatched" if kind == "bank_only" else "closed"
            items.append(
                BankItem(id=ident, booking_date=day, amount=amount, text="", status=status)
            )
        elif kind == "outstanding":
            amount, day = values
            book += amount
            gl.append(GlEntry(id=ident, booking_date=day, amount=amount, text="", cleared_on=None))
        elif kind == "cleared_next_month":
            amount, day, cleared = values
            book += amount
            gl.append(
                GlEntry(id=ident, booking_date=day, amount=amount, text="", cleared_on=cleared)
            )
        elif kind == "suggested":
            bank_amount, gl_amount, day = values
            bank_closing += bank_amount
            book += gl_amount
            items.append(
                BankItem(
                    id=ident, booking_date=day, amount=bank_amount, text="", status="unmatched"
                )
            )
            gl.append(
                GlEntry(
                    id=f"{ident}-gl", booking_date=day, amount=gl_amount, text="", cleared_on=None
                )
            )
        elif kind == "gl_after_end":
            amount, day = values
            gl.append(GlEntry(id=ident, booking_date=day, amount=amount, text="", cleared_on=None))
    return {
        "bank_closing": bank_closing,
        "book_balance": book,
        "bank_items": items,
        "matches": matches,
        "gl_entries": gl,
    }  # fmt: skip


@given(opening=cents, movements=st.lists(movement, max_size=40))
def test_a_consistent_month_balances_to_the_cent(opening, movements):
    rec = reconcile(period_end=PERIOD_END, book_from=OPENING_DAY, **month(opening, movements))
    assert rec.difference == Decimal("0")
    assert rec.balanced
    assert rec.adjusted_bank == rec.adjusted_book


@given(
    opening=cents,
    movements=st.lists(movement, max_size=40),
    error=cents.filter(lambda d: d != 0),
)
def test_an_unexplained_bank_amount_is_exactly_the_difference(opening, movements, error):
    world = month(opening, movements)
    world["bank_closing"] += error
    rec = reconcile(period_end=PERIOD_END, book_from=OPENING_DAY, **world)
    assert rec.difference == error
    assert not rec.balanced


@given(opening=cents, movements=st.lists(movement, max_size=40))
def test_every_figure_is_the_sum_of_its_rows(opening, movements):
    rec = reconcile(period_end=PERIOD_END, book_from=OPENING_DAY, **month(opening, movements))
    assert all(r.amount >= 0 for r in rec.deposits_in_transit.rows)  # a zero entry: listed
    assert all(r.amount < 0 for r in rec.unpresented_payments.rows)
    assert all(r.type == "item" for r in rec.bank_only.rows + rec.closed_items.rows)
    assert rec.outstanding_total == sum(
        (r.amount for r in rec.deposits_in_transit.rows + rec.unpresented_payments.rows),
        Decimal("0"),
    )


def test_without_a_bank_closing_balance_nothing_balances():
    rec = reconcile(
        period_end=PERIOD_END,
        bank_closing=None,
        book_balance=Decimal("0"),
        bank_items=[],
        matches=[],
        gl_entries=[],
    )
    assert (rec.adjusted_bank, rec.difference, rec.balanced) == (None, None, False)


def test_gl_entries_before_the_opening_date_are_not_outstanding():
    old = GlEntry(
        id="old",
        booking_date=dt.date(2024, 2, 28),
        amount=Decimal("9.99"),
        text="",
        cleared_on=None,
    )
    rec = reconcile(
        period_end=PERIOD_END,
        book_from=OPENING_DAY,
        bank_closing=Decimal("0"),
        book_balance=Decimal("0"),
        bank_items=[],
        matches=[],
        gl_entries=[old],
    )
    assert rec.deposits_in_transit.rows == ()
    assert rec.balanced
