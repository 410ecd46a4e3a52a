"""Worked examples of the matching engine, one story per test (no database)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from reconciliation.matching import assignment
from reconciliation.matching.engine import match
from reconciliation.matching.groups import unique_subset
from reconciliation.matching.types import DetailRow, EntryRow, MatchSettings, Proposal

DAY = date(2024, 3, 4)
SETTINGS = MatchSettings(date_window_days=3, amount_tolerance_abs=Decimal("5.00"))


def row(id_: str, amount: str, day: int = 0, **kw: object) -> EntryRow:
    return EntryRow(
        id=id_,
        amount=Decimal(amount),
        currency=str(kw.pop("currency", "EUR")),
        booking_date=DAY + timedelta(days=day),
        **kw,  # type: ignore[arg-type]
    )


def only(proposals: tuple[Proposal, ...], source_id: str) -> Proposal:
    found = [p for p in proposals if source_id in p.source_ids]
    assert len(found) == 1, found
    return found[0]


def criterion(p: Proposal, name: str) -> str:
    return next(c.detail for c in p.explanation if c.name == name)


def test_an_exact_payment_with_its_reference_is_auto_accepted() -> None:
    # The bank credit and the GL receivable carry the same end-to-end id.
    bank = row("b1", "1250.00", references=("E2E-7F3A9C21",), counterparty_name="ACME GmbH")
    gl = row("g1", "1250.00", references=("E2E-7F3A9C21",), counterparty_name="Acme")
    (p,) = match(source=[bank], ledger=[gl], settings=SETTINGS).proposals
    assert (p.source_ids, p.ledger_ids, p.shape) == (("b1",), ("g1",), "one_to_one")
    assert p.score >= 90
    assert p.difference == 0
    assert p.auto_accept
    assert sum(c.points for c in p.explanation) == p.score
    assert criterion(p, "reference") == "same reference E2E7F3A9C21"


def test_a_bare_amount_coincidence_is_only_suggested() -> None:
    # Same amount, same day, nothing else in common: 60 points, never auto-accepted.
    (p,) = match(
        source=[row("b1", "80.00")], ledger=[row("g1", "80.00")], settings=SETTINGS
    ).proposals
    assert 60 <= p.score <= 75
    assert not p.auto_accept


def test_a_batch_entry_is_matched_to_its_gl_parts_through_its_details() -> None:
    # One bank debit of 300.00 pays two supplier invoices; camt lists both transactions.
    batch = row(
        "b1",
        "-300.00",
        description="SEPA BATCH",
        details=(
            DetailRow(amount=Decimal("100.00"), remittance="Invoice 10001"),
            DetailRow(amount=Decimal("200.00"), remittance="Invoice 10002"),
        ),
    )
    parts = [
        row("g1", "-100.00", references=("INV-10001",)),
        row("g2", "-200.00", references=("INV-10002",), day=1),
        row("g3", "-100.00", references=("INV-77777",)),  # same amount, wrong invoice
    ]
    result = match(source=[batch], ledger=parts, settings=SETTINGS)
    p = only(result.proposals, "b1")
    assert (p.shape, p.ledger_ids, p.difference) == ("one_to_many", ("g1", "g2"), Decimal("0.00"))
    assert p.auto_accept
    assert criterion(p, "structure").startswith("all 2 transaction details")


def test_a_batch_without_details_is_found_through_its_shared_reference() -> None:
    batch = row("b1", "-450.00", references=("PAYRUN-2024-17",))
    parts = [
        row("g1", "-150.00", references=("PAYRUN-2024-17",)),
        row("g2", "-300.00", references=("PAYRUN-2024-17",)),
        row("g3", "-150.00", references=("PAYRUN-2024-99",)),
    ]
    p = only(match(source=[batch], ledger=parts, settings=SETTINGS).proposals, "b1")
    assert (p.shape, p.ledger_ids) == ("one_to_many", ("g1", "g2"))


def test_a_split_settlement_is_matched_to_its_single_gl_entry() -> None:
    # A customer pays invoice 55501 (900.00) in two transfers.
    banks = [
        row("b1", "400.00", description="Rechnung 55501 Teil 1"),
        row("b2", "500.00", day=2, description="Rechnung 55501 Teil 2"),
        row("b3", "400.00", description="Rechnung 55999"),
    ]
    gl = row("g1", "900.00", day=1, references=("INV-55501",))
    p = only(match(source=banks, ledger=[gl], settings=SETTINGS).proposals, "b1")
    assert (p.shape, p.source_ids, p.ledger_ids) == ("many_to_one", ("b1", "b2"), ("g1",))
    assert p.difference == 0


def test_two_combinations_that_fit_mean_no_group_proposal() -> None:
    batch = row("b1", "-300.00")
    parts = [row(f"g{i}", amount) for i, amount in enumerate(["-100.00", "-200.00", "-100.00"])]
    result = match(source=[batch], ledger=parts, settings=SETTINGS)
    assert result.proposals == ()


def test_a_reversal_pairs_with_its_original_and_needs_no_gl_entry() -> None:
    original = row("b1", "-75.00", references=("E2E-RETURN-1",))
    reversal = row("b2", "75.00", day=6, references=("E2E-RETURN-1",), is_reversal=True)
    gl = row("g1", "-75.00")  # would otherwise be a candidate of the original
    (p,) = match(source=[original, reversal], ledger=[gl], settings=SETTINGS).proposals
    assert (p.shape, p.source_ids, p.ledger_ids) == ("reversal", ("b1", "b2"), ())
    assert p.difference == 0


def test_a_fee_difference_is_partial_and_never_auto_accepted() -> None:
    # The customer paid invoice 4711 (1000.00); the bank kept a 2.50 fee.
    bank = row("b1", "997.50", description="Invoice 4711 thank you")
    gl = row("g1", "1000.00", references=("INV-4711",))
    (p,) = match(source=[bank], ledger=[gl], settings=SETTINGS).proposals
    assert p.difference == Decimal("-2.50")
    assert not p.auto_accept
    assert criterion(p, "amount").startswith("within tolerance: difference -2.50 EUR")


def test_a_difference_without_shared_evidence_is_no_candidate() -> None:
    result = match(source=[row("b1", "997.50")], ledger=[row("g1", "1000.00")], settings=SETTINGS)
    assert result.proposals == ()


def test_two_equal_payments_on_one_day_are_ambiguous_and_only_suggested() -> None:
    banks = [row(f"b{i}", "-4.20", description="CARD COFFEE") for i in (1, 2)]
    gls = [row(f"g{i}", "-4.20", description="coffee") for i in (1, 2)]
    proposals = match(source=banks, ledger=gls, settings=SETTINGS).proposals
    assert len(proposals) == 2
    assert all(p.ambiguous and not p.auto_accept for p in proposals)


def test_a_reference_makes_one_of_two_equal_payments_unique() -> None:
    banks = [
        row("b1", "-4.20", references=("E2E-ONE-111",)),
        row("b2", "-4.20", references=("E2E-TWO-222",)),
    ]
    gls = [
        row("g1", "-4.20", references=("E2E-TWO-222",)),
        row("g2", "-4.20", references=("E2E-ONE-111",)),
    ]
    proposals = match(source=banks, ledger=gls, settings=SETTINGS).proposals
    pairs = {(p.source_ids, p.ledger_ids) for p in proposals}
    assert pairs == {(("b1",), ("g2",)), (("b2",), ("g1",))}
    assert not any(p.ambiguous for p in proposals)
    assert all(p.auto_accept for p in proposals)


def test_a_reference_beats_a_closer_date_where_first_come_greedy_fails() -> None:
    # b1 and b2 are both 500.00 on day 0. g_near (day 0) has no reference; g_ref (day 2)
    # carries b1's reference. Greedy first-come by date gives b1 the nearer g_near and
    # leaves b2 with g_ref (2 days, nothing in common): 60 + 57 = 117 points. The global
    # optimum pairs b1-g_ref (45 + 12 + 35 = 92) and b2-g_near (60): 152 points.
    banks = [
        row("b1", "500.00", references=("E2E-B1-REF",)),
        row("b2", "500.00"),
    ]
    gls = [row("g_near", "500.00"), row("g_ref", "500.00", day=2, references=("E2E-B1-REF",))]
    proposals = match(source=banks, ledger=gls, settings=SETTINGS).proposals
    by_source = {p.source_ids[0]: p for p in proposals}
    assert by_source["b1"].ledger_ids == ("g_ref",)
    assert by_source["b2"].ledger_ids == ("g_near",)
    assert by_source["b1"].auto_accept
    assert not by_source["b2"].auto_accept


def test_a_rejected_pair_is_never_proposed_again() -> None:
    bank = row("b1", "1250.00", references=("E2E-7F3A9C21",))
    gls = [row("g1", "1250.00", references=("E2E-7F3A9C21",)), row("g2", "1250.00", day=1)]
    first = match(source=[bank], ledger=gls, settings=SETTINGS).proposals
    assert first[0].ledger_ids == ("g1",)
    again = match(
        source=[bank], ledger=gls, settings=SETTINGS, forbidden_pairs=frozenset({("b1", "g1")})
    ).proposals
    assert [p.ledger_ids for p in again] == [("g2",)]


def test_a_rejected_pair_is_never_part_of_a_group() -> None:
    batch = row("b1", "-450.00", references=("PAYRUN-2024-17",))
    parts = [
        row("g1", "-150.00", references=("PAYRUN-2024-17",)),
        row("g2", "-300.00", references=("PAYRUN-2024-17",)),
    ]
    result = match(
        source=[batch], ledger=parts, settings=SETTINGS, forbidden_pairs=frozenset({("b1", "g2")})
    )
    assert all("g2" not in p.ledger_ids for p in result.proposals)


def test_value_dates_shorten_the_distance() -> None:
    bank = row("b1", "10.00", value_date=DAY + timedelta(days=5), references=("E2E-VALUE-1",))
    gl = row("g1", "10.00", day=5, references=("E2E-VALUE-1",))
    (p,) = match(source=[bank], ledger=[gl], settings=SETTINGS).proposals
    assert criterion(p, "date") == "same day (value date)"


def test_amounts_of_different_currencies_are_never_compared() -> None:
    bank = row("b1", "10.00", currency="USD", references=("E2E-CUR-1",))
    gl = row("g1", "10.00", currency="EUR", references=("E2E-CUR-1",))
    assert match(source=[bank], ledger=[gl], settings=SETTINGS).proposals == ()


def test_a_percentage_tolerance_applies_when_it_is_larger() -> None:
    settings = MatchSettings(
        amount_tolerance_abs=Decimal("1.00"), amount_tolerance_pct=Decimal("0.5")
    )
    bank = row("b1", "9960.00", references=("INV-88888",))  # 0.5 % of 9960 = 49.80
    gl = row("g1", "10000.00", references=("INV-88888",))
    assert match(source=[bank], ledger=[gl], settings=settings).proposals[0].difference == Decimal(
        "-40.00"
    )
    far = row("g1", "10010.00", references=("INV-88888",))
    assert match(source=[bank], ledger=[far], settings=settings).proposals == ()


def test_a_crowded_amount_bucket_still_finds_the_referenced_pairs() -> None:
    # 200 bank and 200 GL entries of 49.90 within a week: the candidate count stays bounded
    # and every pair with a shared reference is found.
    banks = [
        row(f"b{i:03d}", "49.90", day=i % 7, references=(f"E2E-SKEW-{i:04d}",)) for i in range(200)
    ]
    gls = [
        row(f"g{i:03d}", "49.90", day=(i + 1) % 7, references=(f"E2E-SKEW-{i:04d}",))
        for i in range(200)
    ]
    result = match(source=banks, ledger=gls, settings=SETTINGS)
    pairs = {(p.source_ids[0], p.ledger_ids[0]) for p in result.proposals}
    expected = {(f"b{i:03d}", f"g{i:03d}") for i in range(200) if abs(i % 7 - (i + 1) % 7) <= 3}
    assert expected <= pairs
    assert result.stats["crowded_sources"] > 0
    assert result.stats["candidate_pairs"] < 200 * 10


def test_amounts_too_large_for_int64_micro_units_still_match_exactly() -> None:
    # 9 trillion has 19 digits in micro-units: the engine falls back to exact Python ints.
    big = "9000000000000.01"
    banks = [
        row("b1", big, references=("E2E-HUGE-1",)),
        row("b2", "-9000000000000.00", references=("PAYRUN-HUGE",)),
    ]
    gls = [
        row("g1", big, references=("E2E-HUGE-1",)),
        row("g2", "-4500000000000.00", references=("PAYRUN-HUGE",)),
        row("g3", "-4500000000000.00", references=("PAYRUN-HUGE",)),
    ]
    proposals = match(source=banks, ledger=gls, settings=SETTINGS).proposals
    assert {(p.source_ids, p.ledger_ids) for p in proposals} == {
        (("b1",), ("g1",)),
        (("b2",), ("g2", "g3")),
    }
    assert all(p.difference == 0 for p in proposals)


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate source id"):
        match(source=[row("b1", "1.00"), row("b1", "2.00")], ledger=[], settings=SETTINGS)


def test_unique_subset_stops_at_the_second_solution() -> None:
    # A single value is no group: 300 alone does not count, 100 + 200 is the only fit.
    assert unique_subset([100, 200, 300], 300, 300, 6) == ((0, 1), False)
    assert unique_subset([100, 100, 200, 200], 300, 300, 6) == (None, False)
    assert unique_subset([100, 150, 200], 300, 300, 6) == ((0, 2), False)
    assert unique_subset([100, 100, 200], 200, 200, 6) == ((0, 1), False)
    values = list(range(1000, 1060))  # 60 values: searched, not enumerated
    assert unique_subset(values, 3000, 3000, 6, budget=100) == (None, True)


def test_an_oversized_component_is_solved_in_date_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # A band of equal amounts over 60 days: one connected component. With the exact-solver
    # limit lowered, it is cut into chunks; the result must still be a valid matching.
    monkeypatch.setattr(assignment, "SPARSE_NODES", 40)
    monkeypatch.setattr(assignment, "CHUNK_NODES", 15)
    banks = [row(f"b{i:03d}", "49.90", day=i // 2, description="CARD") for i in range(120)]
    gls = [row(f"g{i:03d}", "49.90", day=i // 2, description="card") for i in range(120)]
    result = match(source=banks, ledger=gls, settings=SETTINGS)
    assert result.stats["chunked_components"] >= 1
    used = [i for p in result.proposals for i in p.source_ids + p.ledger_ids]
    assert len(used) == len(set(used))
    assert len(result.proposals) >= 110  # a few pairs may be lost at the cuts
    assert not any(p.auto_accept for p in result.proposals)


def test_the_sparse_exact_solver_agrees_with_the_dense_one() -> None:
    rng = random.Random(5)
    for _ in range(30):
        ns, nl = rng.randrange(2, 30), rng.randrange(2, 30)
        edges = {(rng.randrange(ns), rng.randrange(nl)) for _ in range(rng.randrange(1, ns * nl))}
        ri = np.array([s for s, _ in sorted(edges)])
        ci = np.array([lg for _, lg in sorted(edges)])
        w = np.array([rng.randrange(30, 101) for _ in edges], dtype=np.int64)
        group = np.arange(len(edges))
        picked = assignment._solve_sparse(group, ri, ci, w, ns, nl)
        assert len({ri[e] for e in picked}) == len(picked) == len({ci[e] for e in picked})
        matrix = np.zeros((ns, nl))
        matrix[ri, ci] = w
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        assert int(w[picked].sum()) == int(matrix[rows, cols].sum())
