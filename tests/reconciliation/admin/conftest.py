"""Admin test helpers: logged-in clients for the cast, a second suggestion for `world`."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client

SPLIT_CSV = b"""Booking date,Amount,Reference,Description,Counterparty
2026-11-10,100.00,,Teilzahlung 1/2 Rechnung 7001,Omega GmbH
2026-11-13,50.00,,Teilzahlung 2/2 Rechnung 7001,Omega GmbH
"""
SECOND_CSV = b"""Booking date,Amount,Reference,Description,Counterparty
2026-11-09,55.00,INV-2001,Invoice 2001 less fee,Delta GmbH
"""


@pytest.fixture
def client_for(cast: dict[str, tuple]) -> Callable[[str], Client]:
    """A Django test client logged in (session) as one of the cast."""

    def make(name: str) -> Client:
        client = Client()
        client.force_login(cast[name][0])
        return client

    return make


@pytest.fixture
def second_suggestion(world: dict[str, object], alice: object) -> object:
    """A second fee suggestion in `world`'s run (55.00 at the bank vs 57.00 in the GL)."""
    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.models import Match
    from reconciliation.services.auto_match import run_auto_match
    from reconciliation.services.imports import source_file_upload

    run = world["run"]
    ledger_entries_create(
        ledger=run.ledger,
        items=[
            LedgerEntryInput(
                external_id="GL-2001",
                amount=Decimal("57.00"),
                currency="EUR",
                booking_date=dt.date(2026, 11, 9),
                reference="INV-2001",
                counterparty="Delta GmbH",
            )
        ],
        actor=alice,
    )
    source_file_upload(
        run=run,
        stream=io.BytesIO(SECOND_CSV),
        filename="second.csv",
        size=len(SECOND_CSV),
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    return Match.objects.get(run=run, status="suggested", source_total=Decimal("55.00"))


@pytest.fixture
def split(world: dict[str, object], alice: object) -> dict[str, object]:
    """Two instalments at the bank (100 + 50) for one GL invoice of 150."""
    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.models import SourceEntry
    from reconciliation.services.imports import source_file_upload

    run = world["run"]
    (gl,) = ledger_entries_create(
        ledger=run.ledger,
        items=[
            LedgerEntryInput(
                external_id="GL-7001",
                amount=Decimal("150.00"),
                currency="EUR",
                booking_date=dt.date(2026, 11, 10),
                reference="RE-7001",
                counterparty="Omega GmbH",
            )
        ],
        actor=alice,
    ).entries
    source_file_upload(
        run=run,
        stream=io.BytesIO(SPLIT_CSV),
        filename="split.csv",
        size=len(SPLIT_CSV),
        actor=alice,
    )
    items = list(SourceEntry.objects.filter(run=run, counterparty_name="Omega GmbH"))
    return {"gl": gl, "items": items}
