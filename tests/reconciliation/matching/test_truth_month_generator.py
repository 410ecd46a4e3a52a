"""The truth month generator itself (no database): deterministic, consistent, and written
the way the parsers read it."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date

from benchmarks.truth_month import (
    generate_month,
    render_camt053,
    render_csv,
)
from reconciliation.parsers.camt053 import read_camt053
from reconciliation.parsers.csv_statement import read_csv_statement


def test_the_same_seed_gives_the_same_files() -> None:
    a = generate_month(300, collisions=0.3, seed=5, tolerance=True)
    b = generate_month(300, collisions=0.3, seed=5, tolerance=True)
    assert render_csv(a) == render_csv(b)
    assert render_camt053(a) == render_camt053(b)
    assert a.units == b.units


def test_every_case_kind_is_there_and_the_truth_is_consistent() -> None:
    month = generate_month(400, collisions=0.3, seed=5, tolerance=True)
    kinds = Counter(u.kind for u in month.units)
    assert set(kinds) == {
        "exact",
        "shifted",
        "fee",
        "fee_tolerance",
        "weekend_split",
        "batch",
        "batch_busy",
        "reversal",
        "twin",
    }
    bank = {b.key for b in month.bank}
    gl = {g.key for g in month.gl}
    used = [k for u in month.units for k in u.bank + u.gl]
    assert len(used) == len(set(used))  # an entry belongs to one case at most
    assert set(used) <= bank | gl
    assert all(b.booking_date.weekday() < 5 for b in month.bank)  # banks book on weekdays
    assert any(g.booking_date == date(2024, 3, 31) for g in month.gl)
    for unit in month.units:
        if unit.kind in ("fee", "fee_tolerance"):
            (b,) = [x for x in month.bank if x.key == unit.bank[0]]
            assert abs(unit.difference_cents) <= abs(b.cents) * 2 // 100  # at most 2 %


def test_the_parsers_read_every_booking_of_both_files() -> None:
    month = generate_month(200, collisions=1.0, seed=5)
    csv_bytes, csv_lines = render_csv(month)
    reader = read_csv_statement(io.BytesIO(csv_bytes), default_currency="EUR")
    entries = list(reader.entries())
    assert [e.line for e in entries] == sorted(csv_lines)
    camt_bytes, camt_lines = render_camt053(month)
    camt = read_camt053(io.BytesIO(camt_bytes))
    assert [e.line for e in camt.entries()] == sorted(camt_lines)
    for info in (reader.statements[0], camt.statements[0]):
        assert info.opening_balance is not None
        assert info.closing_balance == info.opening_balance + info.entry_sum
