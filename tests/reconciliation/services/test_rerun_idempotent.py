"""A second auto-match pass with unchanged inputs creates nothing (API.md; issue #13 §5).

The engine judges a split's or batch's uniqueness against the entries of live matches
too (reconciliation/matching/engine.py `taken_*`), so the rerun sees the candidates the
first pass saw. Checked on a constructed month (a split left ambiguous by a return the
first pass pairs later) and on truth months of several seeds in both formats.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest

from benchmarks.truth import truth_run
from benchmarks.truth_month import generate_month
from ledgers.services import LedgerEntryInput, ledger_entries_create
from reconciliation.models import Match, Run
from reconciliation.services.auto_match import run_auto_match
from reconciliation.services.imports import source_file_upload

pytestmark = pytest.mark.django_db

STATEMENT = b"""Booking date,Amount,Reference,Description,Counterparty
2026-11-03,20.00,,Payment,ACME Handel GmbH
2026-11-03,30.00,,Payment,ACME Handel GmbH
2026-11-03,10.00,,Payment,ACME Handel GmbH
2026-11-03,40.00,E2E-REF-0000123,Payment,ACME Handel GmbH
2026-11-03,-40.00,E2E-REF-0000123,Payment,ACME Handel GmbH
"""


def test_a_split_left_ambiguous_in_the_first_pass_is_not_made_by_the_second(
    alice_run: Any, alice_ledger: Any, alice: Any
) -> None:
    # GL 50.00 is 20 + 30 or 10 + 40 of one customer; the 40 and its return pair up as a
    # reversal after the splits were decided. The rerun used to see 20 + 30 as unique.
    ledger_entries_create(
        ledger=alice_ledger,
        items=[
            LedgerEntryInput(
                external_id="GL-50",
                amount=Decimal("50.00"),
                currency="EUR",
                booking_date=dt.date(2026, 11, 3),
                counterparty="ACME Handel GmbH",
            )
        ],
        actor=alice,
    )
    source_file_upload(
        run=alice_run,
        stream=io.BytesIO(STATEMENT),
        filename="nov.csv",
        size=len(STATEMENT),
        actor=alice,
    )
    first = run_auto_match(run=alice_run, actor=alice)
    assert list(Match.objects.filter(run=alice_run).values_list("shape", flat=True)) == ["reversal"]
    again = run_auto_match(run=alice_run, actor=alice)
    assert (first.matched, again.matched, Match.objects.filter(run=alice_run).count()) == (1, 0, 1)


@pytest.mark.parametrize("file_format", ["camt.053", "csv"])
@pytest.mark.parametrize(("seed", "collisions"), [(1, 1.0), (2, 0.3), (3, 1.0), (4, 0.0)])
def test_a_second_pass_over_a_truth_month_creates_nothing(
    seed: int, collisions: float, file_format: str, alice: Any, org_a: Any
) -> None:
    month = generate_month(200, collisions=collisions, seed=seed, tolerance=seed % 2 == 0)
    truth_run(month=month, file_format=file_format, organization=org_a, actor=alice)
    run = Run.objects.get(ledger__organization=org_a)
    before = Match.objects.filter(run=run).count()
    again = run_auto_match(run=run, actor=alice)
    assert (again.matched, Match.objects.filter(run=run).count()) == (0, before)
