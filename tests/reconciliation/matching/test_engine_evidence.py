"""The engine on the cases of issue #15, one story each (no database): fees with a shared
reference, differences the bank explains, business days, instalments a week late,
payment runs in busy windows, returns without a flag, and what stops a coincidence."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from reconciliation.matching.engine import match
from reconciliation.matching.groups import sized_subsets
from reconciliation.matching.scoring import business_day, score_rows
from reconciliation.matching.types import DetailRow, EntryRow, MatchSettings, Proposal

THURSDAY = date(2024, 3, 7)
NEW_LEDGER = MatchSettings()  # the defaults a new ledger gets


def row(id_: str, amount: str, day: date = THURSDAY, **kw: object) -> EntryRow:
    return EntryRow(
        id=id_,
        amount=Decimal(amount),
        currency="EUR",
        booking_date=day,
        **kw,  # type: ignore[arg-type]
    )


def criterion(p: Proposal, name: str) -> str:
    return next(c.detail for c in p.explanation if c.name == name)


# --- fees ---------------------------------------------------------------------------------


def test_a_fee_with_the_same_end_to_end_id_is_suggested_on_a_new_ledger() -> None:
    # +2,497.50 arrived for an invoice of 2,500.00; the bank kept 2.50. No tolerance is set.
    bank = row("b1", "2497.50", references=("E2E-7F3A9C21",), counterparty_name="ACME GmbH")
    gl = row("g1", "2500.00", references=("E2E-7F3A9C21",), counterparty_name="ACME")
    (p,) = match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals
    assert (p.source_ids, p.ledger_ids) == (("b1",), ("g1",))
    assert p.difference == Decimal("-2.50")
    assert not p.auto_accept  # a difference is never accepted by itself
    assert criterion(p, "amount") == (
        "difference -2.50 EUR with a shared reference (fee tolerance 25.00)"
    )


def test_a_fee_tolerance_needs_a_reference_not_only_a_name() -> None:
    bank = row("b1", "2497.50", counterparty_name="ACME GmbH")
    gl = row("g1", "2500.00", counterparty_name="ACME GmbH")
    assert match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals == ()


def test_the_fee_tolerance_is_at_most_two_percent_and_the_setting() -> None:
    # 4.00 on 104.00 is more than 2 %; 30.00 on 10,000.00 is more than 25.00.
    small = (
        row("b1", "100.00", references=("E2E-100001",)),
        row("g1", "104.00", references=("E2E-100001",)),
    )
    large = (
        row("b2", "9970.00", references=("E2E-100002",)),
        row("g2", "10000.00", references=("E2E-100002",)),
    )
    for bank, gl in (small, large):
        assert match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals == ()
    wider = MatchSettings(reference_tolerance_abs=Decimal("50.00"))
    (p,) = match(source=[large[0]], ledger=[large[1]], settings=wider).proposals
    assert p.difference == Decimal("-30.00")


def test_charges_the_bank_reports_explain_the_difference() -> None:
    # camt: Chrgs 12.50 on a transfer of 1,000.00 that arrived as 987.50 (1.25 %).
    bank = row(
        "b1",
        "987.50",
        counterparty_name="Globex Inc",
        details=(DetailRow(amount=Decimal("987.50"), charges=Decimal("12.50")),),
    )
    gl = row("g1", "1000.00", counterparty_name="Globex")
    (p,) = match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals
    assert p.difference == Decimal("-12.50")
    assert criterion(p, "amount") == (
        "difference -12.50 EUR: the bank's charges of 12.50 (Chrgs) explain it"
    )
    assert p.explanation[0].points == 40


def test_the_instructed_amount_explains_the_difference() -> None:
    bank = row(
        "b1",
        "-1035.00",
        counterparty_iban="DE02120300000000202051",
        instructed_amount=Decimal("1000.00"),
    )
    gl = row("g1", "-1000.00", counterparty_iban="DE02120300000000202051")
    (p,) = match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals
    assert criterion(p, "amount") == (
        "difference -35.00 EUR: the GL amount is the instructed amount 1000.00 (InstdAmt)"
    )


def test_an_explained_difference_still_needs_shared_evidence() -> None:
    bank = row("b1", "987.50", charges=Decimal("12.50"))
    gl = row("g1", "1000.00")
    assert match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals == ()


def test_a_different_amount_is_no_fee_when_the_invoices_differ() -> None:
    # The ledger allows 5.00, the names agree, but the bank paid invoice 4711 and the GL
    # entry is invoice 4712.
    settings = MatchSettings(amount_tolerance_abs=Decimal("5.00"))
    bank = row("b1", "-98.00", description="RE 4711", counterparty_name="ACME GmbH")
    gl = row("g1", "-100.00", references=("INV-4712",), counterparty_name="ACME GmbH")
    assert match(source=[bank], ledger=[gl], settings=settings).proposals == ()


# --- business days ------------------------------------------------------------------------


def test_weekends_do_not_count_in_the_date_window() -> None:
    friday, tuesday = date(2024, 3, 8), date(2024, 3, 12)
    assert business_day(tuesday) - business_day(friday) == 2
    assert business_day(date(2024, 3, 9)) == business_day(date(2024, 3, 11))  # Sat = Mon
    # Booked Thursday in the GL, on the statement the Tuesday after (5 calendar days).
    bank = row("b1", "250.00", day=tuesday + timedelta(days=0), references=("E2E-WEEKEND",))
    gl = row("g1", "250.00", day=THURSDAY, references=("E2E-WEEKEND",))
    (p,) = match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals
    assert criterion(p, "date") == "3 business days apart"
    assert p.auto_accept


def test_an_instalment_a_week_late_joins_the_split_by_its_invoice_number() -> None:
    invoice = row("g1", "1000.00", references=("INV-4711203",), counterparty_name="ACME")
    parts = [
        row("b1", "400.00", day=date(2024, 3, 11), description="Teilzahlung 1/3 RE 4711203"),
        row("b2", "350.00", day=date(2024, 3, 11), description="Teilzahlung 2/3 RE 4711203"),
        row("b3", "250.00", day=date(2024, 3, 15), description="Teilzahlung 3/3 RE 4711203"),
    ]
    (p,) = match(source=parts, ledger=[invoice], settings=NEW_LEDGER).proposals
    assert (p.shape, p.source_ids, p.ledger_ids) == ("many_to_one", ("b1", "b2", "b3"), ("g1",))
    assert p.difference == 0


def test_an_instalment_never_pairs_one_to_one_on_its_amount_alone() -> None:
    part = row("b1", "400.00", description="Teilzahlung 1/3 RE 4711203")
    other = row("g1", "400.00", description="rent")
    assert match(source=[part], ledger=[other], settings=NEW_LEDGER).proposals == ()


# --- payment runs ---------------------------------------------------------------------------


def _busy_day(n: int) -> list[EntryRow]:
    """`n` unrelated supplier payments booked on the Thursday."""
    return [
        row(f"n{i:03d}", f"-{100 + 37 * i}.{i % 89:02d}", counterparty_name=f"Supplier {i}")
        for i in range(n)
    ]


def test_a_payment_run_without_details_is_found_on_its_posting_day() -> None:
    parts = [
        row("p1", "-1223.18", references=("INV-4750754",), counterparty_name="Berg Gastro"),
        row("p2", "-42.32", references=("INV-4750786",), counterparty_name="Hoffmann Reisen"),
        row("p3", "-877.70", references=("INV-4750862",), counterparty_name="Fischer Moebel"),
    ]
    batch = row(
        "b1", "-2143.20", day=date(2024, 3, 8), description="SAMMLER 3 POSTEN PMTINF-4271515"
    )
    (p,) = match(source=[batch], ledger=parts + _busy_day(40), settings=NEW_LEDGER).proposals
    assert (p.shape, p.ledger_ids) == ("one_to_many", ("p1", "p2", "p3"))
    assert not p.auto_accept
    structure = criterion(p, "structure")
    assert structure.startswith("the only set: 3 GL entries posted on one day that add up")
    assert "3 payments stated" in structure
    assert "cap 64" in structure


def test_a_batch_takes_an_equal_gl_entry_only_as_a_last_resort() -> None:
    # No set of GL entries fits the run, but one GL entry has its total (an ERP that books
    # a payment run as a whole): suggested after everything else, never accepted.
    batch = row("b1", "-500.00", description="SAMMLER 2 POSTEN PMTINF-8215165")
    whole = row("g1", "-500.00", description="Kreditoren Zahlungslauf")
    (p,) = match(source=[batch], ledger=[whole], settings=NEW_LEDGER).proposals
    assert (p.shape, p.ledger_ids, p.auto_accept) == ("one_to_one", ("g1",), False)
    assert criterion(p, "structure") == (
        "a batch (2 payments stated) paired with one GL entry of its total, as no set of GL "
        "entries fitted"
    )


def test_a_batch_total_never_takes_a_part_of_another_run() -> None:
    # The run's 500.00 equals one payment of another run of the day; that run takes it.
    batch = row("b1", "-500.00", description="SAMMLER 2 POSTEN PMTINF-1")
    other = row(
        "b2",
        "-750.00",
        details=(
            DetailRow(amount=Decimal("500.00"), references=("E2E-OTHER-01",)),
            DetailRow(amount=Decimal("250.00"), references=("E2E-OTHER-02",)),
        ),
    )
    parts = [
        row("g1", "-500.00", references=("E2E-OTHER-01",)),
        row("g2", "-250.00", references=("E2E-OTHER-02",)),
    ]
    proposals = match(source=[batch, other], ledger=parts, settings=NEW_LEDGER).proposals
    assert [(p.source_ids, p.ledger_ids) for p in proposals] == [(("b2",), ("g1", "g2"))]


def test_two_runs_of_one_day_are_decided_together() -> None:
    # Run A (4 payments, 1,331.35) alone has two sets on the day: its own, and 32.53 with
    # two of run B's payments and an unrelated 910.72. Run B (5 payments) has one set, so
    # it takes its payments and leaves run A only its own.
    a = [row("a1", "-32.53"), row("a2", "-95.24"), row("a3", "-445.21"), row("a4", "-758.37")]
    b = [
        row("c1", "-100.04"),
        row("c2", "-288.06"),
        row("c3", "-85.95"),
        row("c4", "-101.68"),
        row("c5", "-301.20"),
    ]
    outsider = row("x1", "-910.72")
    # A busy window: the next day's thirty large payments rule out the small date pool.
    busy = [row(f"z{i:02d}", "-5000.00", day=date(2024, 3, 8)) for i in range(30)]
    runs = [
        row("r1", "-1331.35", description="SAMMLER 4 POSTEN PMTINF-1"),
        row("r2", "-876.93", description="SAMMLER 5 POSTEN PMTINF-2"),
    ]
    proposals = match(source=runs, ledger=[*a, *b, outsider, *busy], settings=NEW_LEDGER).proposals
    assert {p.source_ids[0]: p.ledger_ids for p in proposals} == {
        "r1": ("a1", "a2", "a3", "a4"),
        "r2": ("c1", "c2", "c3", "c4", "c5"),
    }
    (first,) = [p for p in proposals if p.source_ids == ("r1",)]
    assert criterion(first, "structure").startswith(
        "of 2 sets, the only one leaving the other runs of these days theirs"
    )


def test_sized_subsets_finds_each_set_once() -> None:
    values = [1, 2, 3, 4, 5, 6]
    found = sized_subsets(values, 3, 10, limit=10)
    assert sorted(tuple(values[i] for i in s) for s in found) == [(1, 3, 6), (1, 4, 5), (2, 3, 5)]
    assert sized_subsets(values, 3, 10, limit=2) == found[:2]


# --- reversals ------------------------------------------------------------------------------


def test_a_csv_return_pairs_with_its_debit_by_the_end_to_end_id() -> None:
    # No RvslInd in a CSV: the reference, the opposite amount and the word pair them.
    debit = row("b1", "49.90", references=("E2E-7F3A",), description="SEPA-Basislastschrift")
    back = row(
        "b2",
        "-49.90",
        day=date(2024, 3, 12),
        references=("E2E-7F3A",),
        booking_text="Ruecklastschrift",
        description="RUECKLASTSCHRIFT EREF: E2E-7F3A",
    )
    (p,) = match(source=[debit, back], ledger=[], settings=NEW_LEDGER).proposals
    assert (p.shape, p.source_ids) == ("reversal", ("b1", "b2"))
    assert criterion(p, "structure") == "booked as a reversal (RUECKLASTSCHRIFT)"


def test_opposite_amounts_sharing_an_end_to_end_id_pair_even_without_a_word() -> None:
    debit = row("b1", "49.90", references=("E2E-7F3A",))
    back = row("b2", "-49.90", day=date(2024, 3, 12), references=("E2E-7F3A",))
    (p,) = match(source=[debit, back], ledger=[], settings=NEW_LEDGER).proposals
    assert p.shape == "reversal"
    assert criterion(p, "structure").startswith("no reversal marker")


def test_a_refund_quoting_the_same_invoice_keeps_its_gl_entry() -> None:
    # The customer paid invoice 4711 and got 49.90 back: two payments, each in the GL.
    paid = row("b1", "49.90", description="RE 4711203", counterparty_name="ACME")
    refund = row("b2", "-49.90", description="Return RE 4711203", counterparty_name="ACME")
    gl = [
        row("g1", "49.90", references=("INV-4711203",), counterparty_name="ACME"),
        row("g2", "-49.90", references=("INV-4711203",), counterparty_name="ACME"),
    ]
    proposals = match(source=[paid, refund], ledger=gl, settings=NEW_LEDGER).proposals
    assert {(p.source_ids, p.ledger_ids) for p in proposals} == {
        (("b1",), ("g1",)),
        (("b2",), ("g2",)),
    }


# --- what stops a coincidence ----------------------------------------------------------------


def test_one_proven_payment_outweighs_two_coincidences() -> None:
    # b1 and g1 share an RF reference. Pairing b1 with g2 (same name, 1.33 apart) and b2
    # with g1 (an equal amount, nothing else) scores more in total (75 + 60) than the one
    # proven pair (93), but it is two guesses.
    settings = MatchSettings(amount_tolerance_abs=Decimal("5.00"))
    b1 = row("b1", "500.00", day=date(2024, 3, 8), references=("RF18539007547034",))
    b2 = row("b2", "501.33", day=date(2024, 3, 8), counterparty_name="Berg Metall KG")
    g1 = row("g1", "500.00", references=("RF18539007547034",), counterparty_name="Berg Metall KG")
    g2 = row("g2", "500.00", day=date(2024, 3, 8), counterparty_name="Fischer Medien SE")
    proposals = match(source=[b1, b2], ledger=[g1, g2], settings=settings).proposals
    pairs = {(p.source_ids, p.ledger_ids) for p in proposals}
    assert (("b1",), ("g1",)) in pairs
    assert (("b2",), ("g1",)) not in pairs


def test_the_row_level_scorer_agrees_on_a_fee() -> None:
    bank = row("b1", "2497.50", references=("E2E-7F3A9C21",))
    gl = row("g1", "2500.00", references=("E2E-7F3A9C21",))
    scored = score_rows(bank, gl, NEW_LEDGER)
    assert scored is not None
    (p,) = match(source=[bank], ledger=[gl], settings=NEW_LEDGER).proposals
    assert (scored.score, scored.explanation) == (p.score, p.explanation)
