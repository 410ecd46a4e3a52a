"""Properties of the matching engine, checked with hypothesis (no database).

The differential test compares the engine's 1:1 assignment with a brute-force optimum
(of the assignment's weights, scores above a baseline) over every valid assignment of
small inputs (groups disabled, no flagged reversals); the others hold for the full engine
on inputs with batches, reversals and rejected pairs.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.matching.assignment import BASELINE
from reconciliation.matching.engine import match
from reconciliation.matching.groups import _enumerate, _search
from reconciliation.matching.scoring import score_rows
from reconciliation.matching.types import DetailRow, EntryRow, MatchResult, MatchSettings

DAY = date(2024, 5, 6)
AMOUNTS = ("10.00", "10.00", "12.50", "-10.00", "99.99", "100.00", "101.50", "102.00", "-4.20")
CURRENCIES = ("EUR", "EUR", "EUR", "USD")
REFERENCES = ("", "", "E2E-AAA111", "E2E-BBB222", "INV-4711", "RF18539007547034", "4711")
TEXTS = (
    "",
    "card coffee",
    "Invoice 4711",
    "RF18 5390 0754 7034",
    "rent march",
    "payment E2E-BBB222",
)
NAMES = ("", "", "ACME GmbH", "Acme", "Globex Inc", "Initech")
IBANS = ("", "", "DE89370400440532013000", "CH9300762011623852957")

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def rows(draw: st.DrawFn, prefix: str, max_size: int = 8, *, bank: bool = False) -> list[EntryRow]:
    n = draw(st.integers(0, max_size))
    ids = draw(st.lists(st.uuids(), min_size=n, max_size=n, unique=True))
    out = []
    for uid in ids:
        day = draw(st.integers(0, 6))
        value = draw(st.one_of(st.none(), st.integers(0, 6)))
        reference = draw(st.sampled_from(REFERENCES))
        out.append(
            EntryRow(
                id=f"{prefix}{uid}",
                amount=Decimal(draw(st.sampled_from(AMOUNTS))),
                currency=draw(st.sampled_from(CURRENCIES)),
                booking_date=DAY + timedelta(days=day),
                value_date=None if value is None else DAY + timedelta(days=value),
                references=(reference,) if reference else (),
                counterparty_name=draw(st.sampled_from(NAMES)),
                counterparty_iban=draw(st.sampled_from(IBANS)),
                description=draw(st.sampled_from(TEXTS)),
            )
        )
    return out


@st.composite
def match_settings(draw: st.DrawFn, *, groups: bool) -> MatchSettings:
    return MatchSettings(
        date_window_days=draw(st.sampled_from((0, 1, 3))),
        amount_tolerance_abs=Decimal(draw(st.sampled_from(("0", "0.50", "5.00")))),
        amount_tolerance_pct=Decimal(draw(st.sampled_from(("0", "0", "1")))),
        min_score=draw(st.sampled_from((0, 50, 60))),
        max_group_size=draw(st.sampled_from((2, 3, 6))) if groups else 1,
    )


def brute_force_total(
    source: list[EntryRow],
    ledger: list[EntryRow],
    config: MatchSettings,
    forbidden: frozenset[tuple[str, str]],
) -> int:
    """Best total weight (`assignment.BASELINE`) over every assignment of candidate pairs
    (DP over ledger subsets)."""
    weight: dict[tuple[int, int], int] = {}
    for i, s in enumerate(source):
        for j, lg in enumerate(ledger):
            scored = score_rows(s, lg, config)
            if scored is not None and (s.id, lg.id) not in forbidden:
                weight[(i, j)] = max(scored.score - BASELINE, 1)

    @cache
    def best(i: int, used: int) -> int:
        if i == len(source):
            return 0
        result = best(i + 1, used)  # source i stays unmatched
        for j in range(len(ledger)):
            w = weight.get((i, j))
            if w is not None and not used >> j & 1:
                result = max(result, w + best(i + 1, used | 1 << j))
        return result

    return best(0, 0)


@st.composite
def forbidden_pairs(
    draw: st.DrawFn, source: list[EntryRow], ledger: list[EntryRow]
) -> frozenset[tuple[str, str]]:
    pairs = [(s.id, lg.id) for s in source for lg in ledger]
    if not pairs:
        return frozenset()
    return frozenset(draw(st.lists(st.sampled_from(pairs), max_size=3)))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_one_to_one_total_equals_the_brute_force_optimum(data: st.DataObject) -> None:
    source = data.draw(rows("s-"))
    ledger = data.draw(rows("l-"))
    config = data.draw(match_settings(groups=False))
    forbidden = data.draw(forbidden_pairs(source, ledger))
    result = match(source=source, ledger=ledger, settings=config, forbidden_pairs=forbidden)
    by_id = {r.id: r for r in source + ledger}
    total = 0
    for p in result.proposals:
        if p.shape == "reversal":
            # Two bank rows of opposite amounts sharing a reference that the 1:1 pass left
            # free pair as a reversal afterwards; they take nothing from the 1:1 optimum.
            assert not p.ledger_ids
            continue
        assert p.shape == "one_to_one"
        scored = score_rows(by_id[p.source_ids[0]], by_id[p.ledger_ids[0]], config)
        assert scored is not None  # every proposal is a candidate...
        assert scored.score == p.score  # ...with the score the row-level scorer gives
        assert (p.source_ids[0], p.ledger_ids[0]) not in forbidden
        total += max(p.score - BASELINE, 1)
    assert total == brute_force_total(sorted(source, key=lambda r: r.id), ledger, config, forbidden)
    check_invariants(result, source, ledger, config, forbidden)


@st.composite
def full_inputs(draw: st.DrawFn) -> tuple[list[EntryRow], list[EntryRow], MatchSettings]:
    source = draw(rows("s-", bank=True))
    ledger = draw(rows("l-", max_size=10))
    extra: list[EntryRow] = []
    for k in range(draw(st.integers(0, 2))):
        # A batch with details whose parts may be in the ledger, and a reversal pair.
        parts = draw(st.lists(st.sampled_from(("10.00", "12.50", "99.99")), min_size=2, max_size=3))
        total = sum(Decimal(p) for p in parts)
        extra.append(
            EntryRow(
                id=f"s-batch-{k}",
                amount=-total,
                currency="EUR",
                booking_date=DAY,
                details=tuple(
                    DetailRow(amount=Decimal(p), remittance="Invoice 4711") for p in parts
                ),
            )
        )
        extra.append(
            EntryRow(
                id=f"s-rev-{k}",
                amount=total,
                currency="EUR",
                booking_date=DAY + timedelta(days=1),
                references=("E2E-AAA111",),
                is_reversal=True,
            )
        )
    return source + extra, ledger, draw(match_settings(groups=True))


def check_invariants(
    result: MatchResult,
    source: list[EntryRow],
    ledger: list[EntryRow],
    config: MatchSettings,
    forbidden: frozenset[tuple[str, str]],
) -> None:
    by_id = {r.id: r for r in source + ledger}
    seen: set[str] = set()
    keys = [(p.source_ids, p.ledger_ids) for p in result.proposals]
    assert keys == sorted(keys)
    for p in result.proposals:
        members = p.source_ids + p.ledger_ids
        assert not seen & set(members), "an entry is in two proposals"
        seen.update(members)
        assert len({by_id[i].currency for i in members}) == 1
        assert all((s, lg) not in forbidden for s in p.source_ids for lg in p.ledger_ids)
        expected = sum((by_id[i].amount for i in p.source_ids), Decimal(0)) - sum(
            (by_id[i].amount for i in p.ledger_ids), Decimal(0)
        )
        if p.shape != "reversal":
            assert p.difference == expected
        assert 0 <= p.score <= 100
        assert sum(c.points for c in p.explanation) == p.score
        if p.auto_accept:
            assert p.difference == 0
            assert not p.ambiguous
            assert p.score >= config.auto_accept_threshold


@PROPERTY_SETTINGS
@given(inputs=full_inputs(), data=st.data())
def test_the_result_does_not_depend_on_input_order(
    inputs: tuple[list[EntryRow], list[EntryRow], MatchSettings], data: st.DataObject
) -> None:
    source, ledger, config = inputs
    forbidden = data.draw(forbidden_pairs(source, ledger))
    first = match(source=source, ledger=ledger, settings=config, forbidden_pairs=forbidden)
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    shuffled_source, shuffled_ledger = source[:], ledger[:]
    rng.shuffle(shuffled_source)
    rng.shuffle(shuffled_ledger)
    again = match(
        source=shuffled_source, ledger=shuffled_ledger, settings=config, forbidden_pairs=forbidden
    )
    assert again.proposals == first.proposals
    check_invariants(first, source, ledger, config, forbidden)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(1, 60), min_size=2, max_size=12).map(sorted),
    lo=st.integers(1, 200),
    width=st.integers(0, 5),
    max_size=st.integers(2, 6),
)
def test_the_subset_search_agrees_with_full_enumeration(
    values: list[int], lo: int, width: int, max_size: int
) -> None:
    searched, exhausted = _search(values, lo, lo + width, max_size, budget=10**6)
    assert not exhausted
    assert searched == _enumerate(values, lo, lo + width, max_size)
