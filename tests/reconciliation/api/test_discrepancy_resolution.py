"""Discrepancy close reason and assignee (#14.3), and the run's new fields (#14.5, #14.7)."""

from __future__ import annotations

import pytest

from ledgers.models import AuditEvent
from reconciliation.models import Discrepancy

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"


def patch(client, discrepancy, **body):
    return client.patch(f"{BASE}/discrepancies/{discrepancy.pk}", body, format="json")


def test_closing_records_the_reason_and_reopening_clears_it(api_client_for, world):
    rita, discrepancy = api_client_for("rita"), world["discrepancy"]
    closed = patch(rita, discrepancy, status="closed", reason="timing_difference", note="Dec")
    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["close_reason"]) == (
        "closed",
        "timing_difference",
    )
    assert closed.json()["resolved_at"] is not None
    reopened = patch(rita, discrepancy, status="open").json()
    assert (reopened["status"], reopened["close_reason"], reopened["resolved_at"]) == (
        "open",
        "",
        None,
    )
    events = AuditEvent.objects.filter(action="discrepancy.updated", subject_id=discrepancy.pk)
    first = events.order_by("created_at").first()
    assert first.before["status"] == "open"
    assert (first.after["status"], first.after["reason"]) == ("closed", "timing_difference")


def test_closing_without_a_reason_records_manual_review(api_client_for, world):
    body = patch(api_client_for("rita"), world["discrepancy"], status="closed").json()
    assert body["close_reason"] == "manual_review"


def test_a_reason_without_closing_is_400(api_client_for, world):
    response = patch(api_client_for("rita"), world["discrepancy"], reason="write_off")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "reason_without_close"


def test_an_unknown_reason_is_400_naming_the_field(api_client_for, world):
    response = patch(api_client_for("rita"), world["discrepancy"], status="closed", reason="x")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "reason"


def test_closing_an_item_gives_its_discrepancies_the_items_reason(api_client_for, world, alice):
    api_client_for("rita").post(
        f"{BASE}/items/{world['free_item'].pk}/close",
        {"ledger_id": str(world["run"].ledger_id), "reason": "duplicate"},
        format="json",
    )
    world["discrepancy"].refresh_from_db()
    assert (world["discrepancy"].status, world["discrepancy"].close_reason) == (
        "closed",
        "duplicate",
    )
    api_client_for("rita").post(f"{BASE}/items/{world['free_item'].pk}/reopen")
    world["discrepancy"].refresh_from_db()
    assert (world["discrepancy"].status, world["discrepancy"].close_reason) == ("open", "")


def test_a_reviewer_assigns_a_discrepancy_and_finds_it_under_mine(api_client_for, world, cast):
    rita_user = cast["rita"][0]
    response = patch(api_client_for("alice"), world["discrepancy"], assignee_id=rita_user.pk)
    assert (response.json()["assignee_id"], response.json()["assignee"]) == (rita_user.pk, "rita")
    url = f"{RUNS}/{world['run'].pk}/discrepancies"
    mine = api_client_for("rita").get(f"{url}?assignee=me").json()["results"]
    assert [d["id"] for d in mine] == [str(world["discrepancy"].pk)]
    assert api_client_for("alice").get(f"{url}?assignee=me").json()["results"] == []
    by_id = api_client_for("bob").get(f"{url}?assignee={rita_user.pk}").json()["results"]
    assert len(by_id) == 1
    unassigned = patch(api_client_for("alice"), world["discrepancy"], assignee_id=None).json()
    assert unassigned["assignee_id"] is None


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_an_assignee_must_be_a_reviewer_of_the_runs_organization(api_client_for, world, cast, who):
    response = patch(api_client_for("alice"), world["discrepancy"], assignee_id=cast[who][0].pk)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "invalid_assignee",
        "detail": "The assignee must be a reviewer or admin of the run's organization.",
        "attr": "assignee_id",
    }
    assert Discrepancy.objects.get(pk=world["discrepancy"].pk).assigned_to_id is None


def test_an_unknown_assignee_filter_is_400(api_client_for, world):
    response = api_client_for("bob").get(f"{RUNS}/{world['run'].pk}/discrepancies?assignee=x")
    assert response.status_code == 400


def test_the_run_shows_its_label_and_who_closed_and_approved_it(
    api_client_for, world, alice_ledger
):
    run = api_client_for("bob").get(f"{RUNS}/{world['run'].pk}").json()
    assert run["label"] == "Main · 2\u20136 Nov 2026"  # no account: the ledger's name
    assert (run["closed_by"], run["approved_by"], run["approved_at"]) == (None, None, None)
    listed = api_client_for("bob").get(f"{RUNS}?ledger_id={alice_ledger.pk}").json()["results"]
    assert run["label"] in [r["label"] for r in listed]


def test_an_account_opening_balance_is_a_decimal_string(api_client_for, alice_ledger):
    def create(code, opening):
        return api_client_for("alice").post(
            "/v1/ledgers/accounts",
            {
                "ledger_id": str(alice_ledger.pk),
                "name": f"Cash {code}",
                "code": code,
                "currency": "EUR",
                "opening_balance": opening,
                "opening_balance_date": "2024-03-01",
            },
            format="json",
        )

    created = create("9", "1250.5")
    assert created.status_code == 201
    assert (created.json()["opening_balance"], created.json()["opening_balance_date"]) == (
        "1250.50",
        "2024-03-01",
    )
    for bad in ("lots", 0.1):  # money is a string on the wire, never a JSON number
        refused = create("10", bad)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["attr"] == "opening_balance"
