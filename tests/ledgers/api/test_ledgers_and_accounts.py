from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_ledger_in_their_organization(api_client_for, org_a):
    response = api_client_for("alice").post(
        "/v1/ledgers", {"name": "Treasury", "currency": "CHF"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["organization_id"], body["currency"], body["auto_accept_threshold"]) == (
        str(org_a.pk),
        "CHF",
        90,
    )


def test_a_duplicate_ledger_name_is_409(api_client_for, alice_ledger):
    response = api_client_for("alice").post(
        "/v1/ledgers", {"name": alice_ledger.name, "currency": "EUR"}, format="json"
    )
    assert response.status_code == 409


def test_an_account_iban_is_checked(api_client_for, alice_ledger):
    client = api_client_for("alice")
    good = {
        "ledger_id": str(alice_ledger.pk),
        "name": "Bank",
        "code": "1200",
        "currency": "EUR",
        "iban": "DE89 3704 0044 0532 0130 00",
    }
    bad = good | {"iban": "DE89370400440532013001", "code": "1201"}
    assert client.post("/v1/ledgers/accounts", good, format="json").json()["iban"] == (
        "DE89370400440532013000"
    )
    response = client.post("/v1/ledgers/accounts", bad, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_iban"


def test_accounts_show_unreconciled_counts_and_filter_by_ledger(
    api_client_for, alice_ledger, alice_account, django_assert_num_queries
):
    client = api_client_for("alice")
    rows = [
        {
            "external_id": f"E{i}",
            "amount": "10.00",
            "currency": "EUR",
            "booking_date": "2026-11-01",
            "account_id": str(alice_account.pk),
        }
        for i in range(3)
    ]
    client.post(f"/v1/ledgers/{alice_ledger.pk}/entries", rows, format="json")
    with django_assert_num_queries(4):  # token, memberships, count, page with subqueries
        response = client.get("/v1/ledgers/accounts", {"ledger_id": str(alice_ledger.pk)})
    [account] = response.json()["results"]
    assert account["unreconciled_count"] == 3
    assert account["unmatched_item_count"] == 0


def test_a_malformed_ledger_id_filter_is_400(api_client_for, cast):
    response = api_client_for("alice").get("/v1/ledgers/accounts", {"ledger_id": "nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "ledger_id"
