"""Every real bank file in tests/fixtures/statements imports through the upload route.

The expected counts, sums and currencies come from tests/reconciliation/parsers/expected/,
written by reading each file by hand (not from the parser's output); here they are checked
end to end: HTTP upload, import transaction, rows in the database.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from ledgers.services import ledger_create
from reconciliation.models import SourceEntry, Statement
from reconciliation.services.runs import run_create
from tests.fixture_paths import FIXTURES_DIR

pytestmark = pytest.mark.django_db
EXPECTED = Path(__file__).resolve().parents[1] / "parsers" / "expected"
RUNS = "/v1/ledgers/reconciliation/runs"


def _cases(kind: str) -> list[str]:
    return sorted(p.stem for p in (EXPECTED / kind).glob("*.json"))


def _upload(client, run, path: Path):
    handle = io.BytesIO(path.read_bytes())
    handle.name = path.name
    return client.post(f"{RUNS}/{run.pk}/sources/upload", {"file": handle}, format="multipart")


def _sums(run) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in SourceEntry.objects.filter(run=run).values_list("currency", "amount"):
        sums[currency] += amount
    return dict(sums)


def test_every_fixture_file_has_expectations():
    assert {p.stem for p in (FIXTURES_DIR / "camt053").glob("*.xml")} == set(_cases("camt053"))
    assert {p.stem for p in (FIXTURES_DIR / "csv").glob("*.csv")} == set(_cases("csv"))


@pytest.mark.parametrize("name", _cases("camt053"))
def test_each_camt_fixture_imports_through_the_route(name, api_client_for, org_a, alice):
    expected = json.loads((EXPECTED / "camt053" / f"{name}.json").read_text())
    ledger = ledger_create(organization=org_a, name=name[:50], currency="EUR", actor=alice)
    run = run_create(ledger=ledger, actor=alice)
    response = _upload(api_client_for("rita"), run, FIXTURES_DIR / "camt053" / f"{name}.xml")
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "camt.053"
    assert response.json()["imported"] == expected["entry_count"]
    assert _sums(run) == {c: Decimal(v) for c, v in expected["entry_sum_by_currency"].items()}
    assert Statement.objects.filter(source_file__run=run).count() == expected["statement_count"]


@pytest.mark.parametrize("name", _cases("csv"))
def test_each_csv_fixture_imports_through_the_route(name, api_client_for, org_a, alice):
    expected = json.loads((EXPECTED / "csv" / f"{name}.json").read_text())
    ledger = ledger_create(
        organization=org_a, name=name[:50], currency=expected["default_currency"], actor=alice
    )
    run = run_create(ledger=ledger, actor=alice)
    response = _upload(api_client_for("rita"), run, FIXTURES_DIR / "csv" / f"{name}.csv")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["imported"], body["skipped"]) == (
        "csv",
        expected["entry_count"],
        expected["skipped_count"],
    )
    assert _sums(run) == {expected["currency"]: Decimal(expected["entry_sum"])}
    first = SourceEntry.objects.filter(run=run).order_by("line").first()
    assert first.booking_date.isoformat() == expected["first"]["booking_date"]
    assert first.amount == Decimal(expected["first"]["amount"])
