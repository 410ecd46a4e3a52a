"""Fixtures of the fault-injection suite: one throwaway PostgreSQL cluster per session, the
other processes per test. `make reliability` runs it (RECON_RELIABILITY=1); `make test`
skips it, because CI runs it as a step of its own."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import Database, Stack, iter_chunks

HERE = Path(__file__).resolve().parent
# Cases of the generated month (benchmarks/truth_month.py): enough that a worker's pass
# lasts a few seconds, so a fault lands in the middle of it.
CASES = int(os.environ.get("RELIABILITY_CASES", "3000"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RECON_RELIABILITY") == "1":
        return
    skip = pytest.mark.skip(reason="fault injection: run with `make reliability`")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    base = tmp_path_factory.mktemp("reliability")
    db = Database(base)
    db.start()
    Stack(base, db).manage("migrate", "--noinput", "-v", "0")
    yield db
    db.stop()


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[Stack]:
    """Redis, gunicorn and beat running, a token; workers are the test's to start."""
    database.start()  # a test that stopped it may have failed before starting it again
    s = Stack(tmp_path, database)
    try:
        s.token = s.manage("mint_token", "alice", "--org", "Reliability", "--role", "admin")
        s.token = s.token.strip().splitlines()[-1]
        s.start_redis()
        s.start_web()
        s.start_beat()
        yield s
    finally:
        s.close()


@dataclass(frozen=True)
class Month:
    camt: bytes
    gl: list[dict[str, Any]]


@pytest.fixture(scope="session")
def month() -> Month:
    from benchmarks.truth_month import generate_month

    return _month_of(generate_month(CASES, seed=13))


def _month_of(generated: Any) -> Month:
    from benchmarks.truth_month import decimal_of, render_camt053

    camt, _ = render_camt053(generated)
    gl = [
        {
            "external_id": line.key,
            "amount": str(decimal_of(line.cents)),
            "currency": "EUR",
            "booking_date": line.booking_date.isoformat(),
            "reference": line.reference,
            "description": line.description,
            "counterparty": line.counterparty,
        }
        for line in generated.gl
    ]
    return Month(camt=camt, gl=gl)


@pytest.fixture(scope="session")
def two_currencies(month: Month) -> Month:
    """`month` in EUR plus another month (its own seed) in USD: a run of both is matched in
    two (account, currency) parts when workers share it. One camt file per currency,
    concatenated in `camt` with a NUL between them (`upload_each` splits them)."""
    from benchmarks.truth_month import generate_month, iban

    generated = generate_month(CASES, seed=29)
    usd = _month_of(generated)
    camt = usd.camt.replace(b'Ccy="EUR"', b'Ccy="USD"').replace(
        b"<Ccy>EUR</Ccy>", b"<Ccy>USD</Ccy>"
    )
    # A statement, account and bank references of their own, as a second bank account's
    # file has.
    camt = camt.replace(b"TRUTH-2024-03", b"TRUTH-USD-2024-03")
    camt = camt.replace(b"<AcctSvcrRef>BNK2024", b"<AcctSvcrRef>BNKUSD2024")
    camt = camt.replace(generated.account_iban.encode(), iban("10010010", 1234567890).encode())
    gl = [
        {**line, "currency": "USD", "external_id": f"USD-{line['external_id']}"} for line in usd.gl
    ]
    return Month(camt=month.camt + b"\0" + camt, gl=month.gl + gl)


RUNS = "/v1/ledgers/reconciliation/runs"


def new_ledger(stack: Stack, month: Month, name: str) -> str:
    response = stack.api("POST", "/v1/ledgers", json={"name": name, "currency": "EUR"})
    assert response.status_code == 201, response.text
    ledger = str(response.json()["id"])
    for chunk in iter_chunks(month.gl, 10_000):
        response = stack.api("POST", f"/v1/ledgers/{ledger}/entries", json=chunk)
        assert response.status_code == 201, response.text
    return ledger


def new_run(stack: Stack, ledger: str, *, mode: str = "automatic") -> str:
    response = stack.api("POST", RUNS, json={"ledger_id": ledger, "mode": mode})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def upload(stack: Stack, run: str, month: Month, **data: str) -> Any:
    return stack.api(
        "POST",
        f"{RUNS}/{run}/sources/upload",
        files={"file": ("march.xml", month.camt, "application/xml")},
        data=data,
    )


def upload_each(stack: Stack, run: str, month: Month) -> None:
    """Every file of a month of several (`two_currencies`), one upload each."""
    for number, camt in enumerate(month.camt.split(b"\0")):
        response = stack.api(
            "POST",
            f"{RUNS}/{run}/sources/upload",
            files={"file": (f"march-{number}.xml", camt, "application/xml")},
        )
        assert response.status_code == 201, response.text
