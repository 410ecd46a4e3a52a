"""Manual matches say what they are (#16) and severity is judged as of the period end (#14.4)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from ledgers.exceptions import Conflict
from ledgers.services import LedgerEntryInput, ledger_entries_create
from reconciliation.models import Discrepancy, Match, MatchSourceLink, SourceEntry
from reconciliation.services.imports import source_file_upload
from reconciliation.services.matches import match_create_manual
from reconciliation.services.runs import run_create

pytestmark = pytest.mark.django_db


def gl(ledger, actor, *rows):
    return ledger_entries_create(
        ledger=ledger,
        actor=actor,
        items=[
            LedgerEntryInput(
                external_id=ext,
                amount=Decimal(amount),
                currency=currency,
                booking_date=dt.date.fromisoformat(day),
            )
            for ext, amount, currency, day in rows
        ],
    ).entries


def test_a_manual_match_across_currencies_is_refused_and_writes_nothing(world, alice_ledger, alice):
    [usd] = gl(alice_ledger, alice, ("USD-1", "77.00", "USD", "2026-11-06"))
    with pytest.raises(Conflict) as refused:
        match_create_manual(
            run=world["run"],
            source_entry_ids=[world["transfer_item"].pk],
            ledger_entry_ids=[usd.pk],
            actor=alice,
        )
    assert refused.value.code == "currency_mismatch"
    assert refused.value.extra["currencies"] == ["EUR", "USD"]
    assert not MatchSourceLink.objects.filter(source_entry=world["transfer_item"]).exists()


def test_a_manual_one_to_one_match_scores_100_and_explains_itself(world, alice):
    match = match_create_manual(
        run=world["run"],
        source_entry_ids=[world["transfer_item"].pk],
        ledger_entry_ids=[world["free_gl"].pk],
        note="Gamma paid late",
        actor=alice,
    )
    assert (match.kind, match.score) == ("manual", 100)
    criteria = {c["criterion"]: c for c in match.explanation}
    assert match.explanation[0] == {
        "criterion": "manual",
        "points": 100,
        "max_points": 100,
        "detail": "matched by alice: Gamma paid late",
    }
    assert criteria["amount"]["detail"] == "exact"
    # 2026-11-06 vs 2026-11-25: 19 days, far outside the 3-day window.
    assert criteria["date"] == {
        "criterion": "date",
        "points": 0,
        "max_points": 15,
        "detail": "outside the window: 13 business days apart",  # 19 calendar days
    }
    assert criteria["counterparty"]["points"] > 0  # "Gamma Ltd" on both sides
    assert set(criteria) == {
        "manual",
        "amount",
        "date",
        "reference",
        "counterparty",
        "description",
        "currency",
    }
    assert criteria["currency"]["detail"] == "same currency EUR"


def test_a_manual_many_to_one_match_also_scores_100(world, alice_ledger, alice):
    [big] = gl(alice_ledger, alice, ("GL-119", "119.00", "EUR", "2026-11-05"))
    match = match_create_manual(
        run=world["run"],
        source_entry_ids=[world["transfer_item"].pk, world["free_item"].pk],
        ledger_entry_ids=[big.pk],
        actor=alice,
    )
    assert (match.shape, match.score) == ("many_to_one", 100)
    criteria = {c["criterion"]: c for c in match.explanation}
    assert criteria["amount"]["detail"] == "exact"  # 77.00 + 42.00
    assert criteria["date"]["detail"] == "1 business day apart"
    assert set(criteria) == {"manual", "amount", "date", "currency"}


def test_a_manual_match_beyond_the_tolerance_says_so(world, alice_ledger, alice):
    [gl_entry] = gl(alice_ledger, alice, ("GL-70", "70.00", "EUR", "2026-11-06"))
    match = match_create_manual(
        run=world["run"],
        source_entry_ids=[world["transfer_item"].pk],
        ledger_entry_ids=[gl_entry.pk],
        actor=alice,
    )
    amount = next(c for c in match.explanation if c["criterion"] == "amount")
    assert amount["detail"] == "difference +7.00 EUR, beyond the tolerance 5.00"
    assert amount["points"] == 0


def test_the_date_mismatch_window_is_the_runs_own(alice_ledger, alice):
    """A run that widens the window to 30 days has no date_mismatch at 19 days (13
    business days)."""
    [entry] = gl(alice_ledger, alice, ("GL-X", "77.00", "EUR", "2026-11-25"))
    run = run_create(ledger=alice_ledger, actor=alice, match_settings={"date_window_days": 30})
    data = b"Date,Amount,Description\n2026-11-06,77.00,Transfer\n"
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename="w.csv", size=len(data), actor=alice
    )
    item = SourceEntry.objects.get(run=run)
    match = match_create_manual(
        run=run, source_entry_ids=[item.pk], ledger_entry_ids=[entry.pk], actor=alice
    )
    assert not Discrepancy.objects.filter(match=match, kind="date_mismatch").exists()
    date = next(c for c in match.explanation if c["criterion"] == "date")
    assert date["detail"] == "13 business days apart"


MARCH_2024 = b"""Booking date,Amount,Description
2024-03-01,-50.00,Old standing order
2024-03-29,-20.00,Card payment
2024-03-29,-250.00,Supplier
"""


def test_severity_is_judged_as_of_the_march_statement_end_not_today(alice_ledger, alice):
    run = run_create(ledger=alice_ledger, actor=alice)
    source_file_upload(
        run=run,
        stream=io.BytesIO(MARCH_2024),
        filename="march.csv",
        size=len(MARCH_2024),
        actor=alice,
    )
    from reconciliation.services.auto_match import run_auto_match

    run_auto_match(run=run, actor=alice)
    severity = {
        d.source_entry.description: d.severity
        for d in Discrepancy.objects.filter(run=run, kind="missing_in_ledger").select_related(
            "source_entry"
        )
    }
    # The statement ends 2024-03-29 (the CSV's last day). Measured to today, each of these
    # would be years old and critical.
    assert severity["Card payment"] == "info"  # 0 days, 20.00
    assert severity["Supplier"] == "warning"  # by amount (>= 100.00), not by age
    assert severity["Old standing order"] == "warning"  # 28 days old: >= 7, < 30


def test_a_two_day_old_item_of_a_statement_ending_31_march_is_not_critical(alice_ledger, alice):
    from reconciliation.selectors import run_period_end
    from reconciliation.services.discrepancies import severity_for

    run = run_create(ledger=alice_ledger, actor=alice)
    data = b"Booking date,Amount,Description\n2024-03-29,-20.00,Card\n2024-03-31,-1.00,Fee\n"
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename="m.csv", size=len(data), actor=alice
    )
    end, source = run_period_end(run=run)
    assert (end, source) == (dt.date(2024, 3, 31), "statement_period")
    assert severity_for(amount=Decimal("-20.00"), day=dt.date(2024, 3, 29), today=end) == "info"


def test_the_database_refuses_a_manual_match_scored_otherwise(world):
    """The constraint behind the API's documented score."""
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError, match="match_manual_scores_100"), transaction.atomic():
        Match.objects.create(
            run=world["run"],
            status="accepted",
            kind="manual",
            shape="one_to_one",
            score=0,
            currency="EUR",
            source_total=0,
            ledger_total=0,
            difference=0,
        )
