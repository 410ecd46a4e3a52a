"""The cast (healthchecks' hc/test.py): alice admin of org A, bob viewer of org A, rita
reviewer of org A, charlie admin of org B; `api_client_for(name)` (None = anonymous)."""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from ledgers.choices import MembershipRole
from ledgers.services import user_setup
from tests.fixture_paths import FIXTURES_DIR

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _is_postgres() -> bool:
    from django.conf import settings as django_settings

    return django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _is_postgres():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (running on the SQLite fallback)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings as django_settings

    engine = django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return "database: SQLite fallback -- PostgreSQL-only tests are SKIPPED"
    return f"database: {engine}"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES_DIR


@pytest.fixture
def cast(db: None) -> dict[str, object]:
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
def api_client_for(cast: dict[str, tuple]) -> Callable[[str | None], APIClient]:
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
def is_postgres(db: None) -> bool:
    return connection.vendor == "postgresql"


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
