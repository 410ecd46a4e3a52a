"""The cast (healthchecks' hc/test.py): alice admin of org A, bob viewer of org A, rita
reviewer of org A, charlie admin of org B; `api_client_for(name)` (None = anonymous)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fixture_paths import FIXTURES_DIR

# Django-dependent imports live inside the fixtures: the pure parser and matcher tests run
# from this same tree without Django settings (and must stay able to).

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# Whatever drives a browser, a worker, a live server or the fuzzer takes seconds: slow too.
_SLOW_KINDS = frozenset({"browser", "worker", "readme", "fuzz"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(kind) for kind in _SLOW_KINDS):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings as django_settings

    if not django_settings.configured:
        return "database: none (Django not configured)"
    database = django_settings.DATABASES["default"]
    return f"database: PostgreSQL {database.get('HOST') or 'localhost'}"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES_DIR


@pytest.fixture
def cast(db: None) -> dict[str, object]:
    from ledgers.choices import MembershipRole
    from ledgers.services import user_setup

    people = {}
    for name, org, role in [
        ("alice", "Org A", MembershipRole.ADMIN),
        ("rita", "Org A", MembershipRole.REVIEWER),
        ("bob", "Org A", MembershipRole.VIEWER),
        ("charlie", "Org B", MembershipRole.ADMIN),
    ]:
        user, organization, token = user_setup(
            username=name, organization_name=org, role=role, password="pw-" + name, staff=True
        )
        people[name] = (user, organization, token)
    return people


@pytest.fixture
def alice(cast: dict[str, tuple]) -> object:
    return cast["alice"][0]


@pytest.fixture
def org_a(cast: dict[str, tuple]) -> object:
    return cast["alice"][1]


@pytest.fixture
def org_b(cast: dict[str, tuple]) -> object:
    return cast["charlie"][1]


@pytest.fixture
def api_client_for(cast: dict[str, tuple]) -> Callable[[str | None], object]:
    from rest_framework.test import APIClient

    def make(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {cast[name][2]}")
        return client

    return make


@pytest.fixture
def alice_ledger(cast: dict[str, tuple]) -> object:
    from ledgers.services import ledger_create

    return ledger_create(
        organization=cast["alice"][1], name="Main", currency="EUR", actor=cast["alice"][0]
    )


@pytest.fixture
def alice_account(alice_ledger: object, alice: object) -> object:
    from ledgers.services import account_create

    return account_create(
        ledger=alice_ledger,
        name="Main EUR account",
        code="1200",
        currency="EUR",
        iban="DE89370400440532013000",
        actor=alice,
    )


@pytest.fixture
def charlie_ledger(cast: dict[str, tuple]) -> object:
    from ledgers.services import ledger_create

    return ledger_create(
        organization=cast["charlie"][1], name="Other", currency="EUR", actor=cast["charlie"][0]
    )


@pytest.fixture
def alice_run(alice_ledger: object, alice: object) -> object:
    from reconciliation.services.runs import run_create

    return run_create(ledger=alice_ledger, actor=alice, note="November")


@pytest.fixture
def charlie_run(charlie_ledger: object, cast: dict[str, tuple]) -> object:
    from reconciliation.services.runs import run_create

    return run_create(ledger=charlie_ledger, actor=cast["charlie"][0])


def gl_payload(n: int, *, prefix: str = "GL", amount: str = "100.00") -> list[dict[str, str]]:
    return [
        {
            "external_id": f"{prefix}-{i}",
            "amount": str(Decimal(amount) + i),
            "currency": "EUR",
            "booking_date": "2026-11-02",
            "reference": f"INV-{i}",
        }
        for i in range(n)
    ]


@pytest.fixture
def concurrently() -> Callable[..., list[object]]:
    """Run `fn(i)` in `n` threads released together; each thread has its own DB connection.

    Use with `django_db(transaction=True)`: the threads only see committed data.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run(n: int, fn: Callable[[int], object]) -> list[object]:
        barrier = threading.Barrier(n)

        def call(i: int) -> object:
            try:
                barrier.wait(timeout=30)
                return fn(i)
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(call, range(n)))

    return run


WORLD_CSV = b"""Booking date,Amount,Reference,Description,Counterparty
2026-11-02,100.00,INV-1001,Invoice 1001,ACME GmbH
2026-11-03,97.50,INV-1002,Invoice 1002 less fee,Beta AG
2026-11-04,42.00,,Unknown credit,Somebody
2026-11-05,13.00,,Bank charge refund,Bank
2026-11-06,77.00,,Transfer,Gamma Ltd
"""


@pytest.fixture
def world(alice_ledger: object, alice: object) -> dict[str, object]:
    """A small reconciled run of alice's: one accepted match, one suggested (fee), one free
    item with a missing_in_ledger discrepancy, one closed item, one free item and a free GL
    entry that only a person can pair."""
    import datetime as dt
    import io

    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.models import Discrepancy, Match, SourceEntry
    from reconciliation.services.auto_match import run_auto_match
    from reconciliation.services.imports import source_file_upload
    from reconciliation.services.items import source_entry_close
    from reconciliation.services.runs import run_create

    alice_ledger.amount_tolerance_abs = Decimal("5")
    alice_ledger.save()

    def gl(ext: str, amount: str, day: int, ref: str, party: str) -> LedgerEntryInput:
        return LedgerEntryInput(
            external_id=ext,
            amount=Decimal(amount),
            currency="EUR",
            booking_date=dt.date(2026, 11, day),
            reference=ref,
            counterparty=party,
        )

    entries = ledger_entries_create(
        ledger=alice_ledger,
        items=[
            gl("GL-1", "100.00", 2, "INV-1001", "ACME GmbH"),
            gl("GL-2", "100.00", 3, "INV-1002", "Beta AG"),
            gl("GL-3", "77.00", 25, "", "Gamma Ltd"),
        ],
        actor=alice,
    ).entries
    run = run_create(ledger=alice_ledger, actor=alice, note="world")
    result = source_file_upload(
        run=run,
        stream=io.BytesIO(WORLD_CSV),
        filename="world.csv",
        size=len(WORLD_CSV),
        actor=alice,
    )
    run_auto_match(run=run, actor=alice)
    items = {e.description.split()[0]: e for e in SourceEntry.objects.filter(run=run)}
    closed = source_entry_close(
        entry=items["Bank"], ledger_id=alice_ledger.pk, reason="bank_error", actor=alice
    )
    return {
        "run": run,
        "file": result.source_file,
        "accepted": Match.objects.get(run=run, status="accepted"),
        "suggested": Match.objects.get(run=run, status="suggested"),
        "free_item": items["Unknown"],
        "transfer_item": items["Transfer"],
        "closed_item": closed,
        "free_gl": entries[2],
        "discrepancy": Discrepancy.objects.get(run=run, source_entry=items["Unknown"]),
    }


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session's browser tests (tests/browser.py)."""
    from tests.browser import launch_browser

    yield from launch_browser()
