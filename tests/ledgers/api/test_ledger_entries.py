from __future__ import annotations

from decimal import Decimal

import pytest

from ledgers.models import LedgerEntry
from tests.conftest import gl_payload

pytestmark = pytest.mark.django_db


def url(ledger) -> str:
    return f"/v1/ledgers/{ledger.pk}/entries"


def test_a_single_entry_is_created_and_rendered_with_minor_units(api_client_for, alice_ledger):
    response = api_client_for("alice").post(
        url(alice_ledger),
        {
            "external_id": "A-1",
            "amount": "-1250.5",
            "currency": "EUR",
            "booking_date": "2026-11-02",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == "-1250.50"
    assert body["reconciliation_status"] == "unreconciled"
    assert LedgerEntry.objects.get(external_id="A-1").amount == Decimal("-1250.5")


def test_jpy_and_bhd_amounts_keep_their_minor_units(api_client_for, alice_ledger):
    client = api_client_for("alice")
    jpy = client.post(
        url(alice_ledger),
        {"external_id": "J", "amount": "1250", "currency": "JPY", "booking_date": "2026-11-02"},
        format="json",
    )
    bhd = client.post(
        url(alice_ledger),
        {"external_id": "B", "amount": "1.25", "currency": "BHD", "booking_date": "2026-11-02"},
        format="json",
    )
    assert (jpy.json()["amount"], bhd.json()["amount"]) == ("1250", "1.250")


def test_a_bulk_push_is_all_or_nothing(api_client_for, alice_ledger):
    rows = gl_payload(50)
    rows[37]["booking_date"] = "2026-13-45"
    response = api_client_for("alice").post(url(alice_ledger), rows, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "37.booking_date"
    assert LedgerEntry.objects.count() == 0


def test_a_retried_bulk_push_creates_nothing_new(api_client_for, alice_ledger):
    client = api_client_for("alice")
    first = client.post(url(alice_ledger), gl_payload(20), format="json")
    again = client.post(url(alice_ledger), gl_payload(20), format="json")
    assert (first.status_code, first.json()["created"]) == (201, 20)
    assert (again.status_code, again.json()["created"], again.json()["existing"]) == (200, 0, 20)
    assert [r["id"] for r in first.json()["results"]] == [r["id"] for r in again.json()["results"]]
    assert LedgerEntry.objects.count() == 20


def test_a_partly_known_push_creates_only_the_new_entries(api_client_for, alice_ledger):
    client = api_client_for("alice")
    client.post(url(alice_ledger), gl_payload(5), format="json")
    response = client.post(url(alice_ledger), gl_payload(8), format="json")
    assert (response.json()["created"], response.json()["existing"]) == (3, 5)


def test_a_known_external_id_with_other_content_is_409_and_writes_nothing(
    api_client_for, alice_ledger
):
    client = api_client_for("alice")
    client.post(url(alice_ledger), gl_payload(3), format="json")
    rows = gl_payload(5)
    rows[1]["amount"] = "999.99"
    response = client.post(url(alice_ledger), rows, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "external_id_conflict"
    assert response.json()["errors"][0]["attr"] == "1.external_id"
    assert LedgerEntry.objects.count() == 3


def test_the_same_external_id_twice_in_one_request_is_400(api_client_for, alice_ledger):
    rows = gl_payload(2)
    rows[1]["external_id"] = rows[0]["external_id"]
    response = api_client_for("alice").post(url(alice_ledger), rows, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "duplicate_external_id"


def test_more_than_ten_thousand_entries_is_400(api_client_for, alice_ledger):
    response = api_client_for("alice").post(url(alice_ledger), gl_payload(10_001), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "bulk_size"
    assert LedgerEntry.objects.count() == 0


@pytest.mark.slow
def test_ten_thousand_entries_are_accepted(api_client_for, alice_ledger):
    response = api_client_for("alice").post(url(alice_ledger), gl_payload(10_000), format="json")
    assert response.status_code == 201
    assert LedgerEntry.objects.count() == 10_000


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("amount", "12.5", None),
        ("amount", 12.5, "not_a_string"),  # money is a decimal string, never a JSON number
        ("amount", 12, "not_a_string"),
        ("amount", "12.345", "excess_precision"),  # more decimals than EUR allows
        ("amount", "NaN", "invalid"),
        ("amount", "1e400", "invalid"),
        ("amount", " 12.50", "invalid"),
        ("amount", "1234567890123456789", "invalid"),  # more digits than the column holds
        ("amount", True, "invalid"),
        ("amount", "twelve", "invalid"),
        ("currency", "EURO", "invalid"),
        ("currency", "XXY", "invalid"),
        ("booking_date", "02.11.2026", "invalid"),
        ("colour", "red", "invalid"),
    ],
)
def test_bad_fields_are_400_naming_the_field(api_client_for, alice_ledger, field, value, code):
    row = gl_payload(1)[0] | {field: value}
    response = api_client_for("alice").post(url(alice_ledger), row, format="json")
    if code is None:
        assert response.status_code == 201, response.content
        assert response.json()["amount"] == "12.50"
        return
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    # A rule across fields (amount vs. currency) is checked per item, named by its index.
    expected = f"0.{field}" if code == "excess_precision" else field
    assert (error["attr"], error["code"]) == (expected, code)


def test_an_account_of_another_ledger_is_400(api_client_for, alice_ledger, charlie_ledger, cast):
    from ledgers.services import account_create

    foreign = account_create(
        ledger=charlie_ledger, name="X", code="1", currency="EUR", actor=cast["charlie"][0]
    )
    row = gl_payload(1)[0] | {"account_id": str(foreign.pk)}
    response = api_client_for("alice").post(url(alice_ledger), row, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "0.account_id"


def test_entries_are_filtered_by_date_status_and_amount(api_client_for, alice_ledger):
    client = api_client_for("alice")
    client.post(url(alice_ledger), gl_payload(10), format="json")
    response = client.get(
        url(alice_ledger),
        {
            "amount_min": "105",
            "amount_max": "107",
            "reconciliation_status": "unreconciled",
            "ordering": "amount",
        },
    )
    assert [r["amount"] for r in response.json()["results"]] == ["105.00", "106.00", "107.00"]
    assert client.get(url(alice_ledger), {"booking_date_from": "2026-11-03"}).json()["count"] == 0


def test_listing_entries_costs_the_same_queries_for_1_and_50_rows(
    api_client_for, alice_ledger, django_assert_num_queries
):
    client = api_client_for("alice")
    client.post(url(alice_ledger), gl_payload(1), format="json")
    with django_assert_num_queries(5):  # token, memberships, ledger, count, page
        client.get(url(alice_ledger))
    client.post(url(alice_ledger), gl_payload(50, prefix="more"), format="json")
    with django_assert_num_queries(5):
        client.get(url(alice_ledger))


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_pushes_create_each_entry_once(
    api_client_for, alice_ledger, concurrently
):
    rows = gl_payload(200)

    def push(_: int) -> int:
        return api_client_for("alice").post(url(alice_ledger), rows, format="json").status_code

    statuses = concurrently(8, push)
    assert set(statuses) <= {200, 201}
    assert statuses.count(201) >= 1
    assert LedgerEntry.objects.count() == 200
