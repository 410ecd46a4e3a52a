"""A second pass over what the first left proposes nothing (issue #13 §5; no database).

The rerun gets the first pass's matched rows as `taken_source`/`taken_ledger`, as the
auto-match service passes the entries of live matches: a split the first pass declined as
ambiguous must not turn unique because a competing member was taken later in that pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest

from benchmarks.synthetic import SETTINGS, generate
from reconciliation.matching.engine import match
from reconciliation.matching.types import EntryRow, MatchSettings, Proposal


def _rerun(
    source: Sequence[EntryRow], ledger: Sequence[EntryRow], settings: MatchSettings
) -> tuple[tuple[Proposal, ...], tuple[Proposal, ...], tuple[Proposal, ...]]:
    """(first pass, rerun without the taken rows as before, rerun as the service does)."""
    first = match(source=source, ledger=ledger, settings=settings).proposals
    used_source = {i for p in first for i in p.source_ids}
    used_ledger = {i for p in first for i in p.ledger_ids}
    free_source = [r for r in source if r.id not in used_source]
    free_ledger = [r for r in ledger if r.id not in used_ledger]
    blind = match(source=free_source, ledger=free_ledger, settings=settings).proposals
    again = match(
        source=free_source,
        ledger=free_ledger,
        settings=settings,
        taken_source=[r for r in source if r.id in used_source],
        taken_ledger=[r for r in ledger if r.id in used_ledger],
    ).proposals
    return first, blind, again


def _row(row_id: str, amount: str, *references: str) -> EntryRow:
    return EntryRow(
        id=row_id,
        amount=Decimal(amount),
        currency="EUR",
        booking_date=date(2026, 11, 3),
        value_date=None,
        references=references,
        counterparty_name="ACME Handel GmbH",
        description="",
    )


def test_a_split_left_ambiguous_by_a_later_reversal_stays_unproposed() -> None:
    # GL 50.00 is 20 + 30 or 10 + 40 of one customer: ambiguous. The 40 is then taken by an
    # unmarked reversal (its return shares the end-to-end id), which runs after the splits.
    source = [
        _row("b0", "20.00"),
        _row("b1", "30.00"),
        _row("b2", "10.00"),
        _row("b3", "40.00", "E2E-REF-0000123"),
        _row("b4", "-40.00", "E2E-REF-0000123"),
    ]
    ledger = [_row("g0", "50.00")]
    first, blind, again = _rerun(source, ledger, MatchSettings())
    assert [(p.shape, p.source_ids) for p in first] == [("reversal", ("b3", "b4"))]
    # Blind to the taken 40, the rerun found 20 + 30 "unique": the bug of issue #13 §5.
    assert [(p.shape, p.source_ids, p.ledger_ids) for p in blind] == [
        ("many_to_one", ("b0", "b1"), ("g0",))
    ]
    assert again == ()


def test_a_crowded_amount_left_unpaired_stays_unpaired() -> None:
    # 34 GL entries of 100.00 (4 on the bank's day, 30 a day later) make every bank 100.00
    # crowded: it keeps its 4 nearest candidates, which 4 of the 5 bank entries take.
    # Without the taken 4 the fifth was no longer crowded and got a coincidence.
    def bare(row_id: str, day: int) -> EntryRow:
        return EntryRow(
            id=row_id,
            amount=Decimal("100.00"),
            currency="EUR",
            booking_date=date(2026, 11, day),
            value_date=None,
        )

    source = [bare(f"b{i}", 3) for i in range(5)]
    ledger = [bare(f"g{i:02d}", 3) for i in range(4)] + [bare(f"g{i:02d}", 4) for i in range(4, 34)]
    first, blind, again = _rerun(source, ledger, MatchSettings())
    assert len(first) == 4
    assert [p.shape for p in blind] == ["one_to_one"]
    assert again == ()


def test_taken_rows_that_form_no_rival_combination_change_nothing() -> None:
    source = [_row("b0", "20.00"), _row("b1", "30.00")]
    ledger = [_row("g0", "50.00")]
    alone = match(source=source, ledger=ledger, settings=MatchSettings()).proposals
    assert [(p.source_ids, p.ledger_ids) for p in alone] == [(("b0", "b1"), ("g0",))]
    # A taken 50.00 is no 1:1 candidate, and no combination through the taken 25.00 adds
    # up to 50.00: the split stays the only one.
    with_taken = match(
        source=source,
        ledger=ledger,
        settings=MatchSettings(),
        taken_ledger=[_row("g9", "50.00")],
        taken_source=[_row("b9", "25.00")],
    ).proposals
    assert with_taken == alone


@pytest.mark.parametrize("skew", [False, True], ids=["uniform", "skewed"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_rerun_of_a_synthetic_set_proposes_nothing(seed: int, skew: bool) -> None:
    truth = generate(3000, seed=seed, skew=skew, with_truth=False)
    first, _, again = _rerun(truth.source, truth.ledger, SETTINGS)
    assert first
    assert again == ()
