"""PATCH /v1/ledgers/{id}: an admin renames a ledger or changes its matching settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgers.models import AuditEvent, Ledger

pytestmark = pytest.mark.django_db


def _url(ledger: Ledger) -> str:
    return f"/v1/ledgers/{ledger.pk}"


def test_a_new_ledger_has_the_documented_fee_defaults(api_client_for, alice_ledger):
    body = api_client_for("bob").get(_url(alice_ledger)).json()
    assert (
        body["amount_tolerance_abs"],
        body["reference_tolerance_abs"],
        body["reference_tolerance_pct"],
        body["reference_window_days"],
        body["date_window_days"],
    ) == ("0.00", "25.00", "2.0000", 10, 3)


def test_alice_changes_the_name_and_settings_and_it_is_audited(api_client_for, alice_ledger):
    response = api_client_for("alice").patch(
        _url(alice_ledger),
        {
            "name": "Main (EUR)",
            "amount_tolerance_abs": "5.00",
            "reference_tolerance_pct": "1.5",
            "reference_window_days": 15,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["amount_tolerance_abs"], body["reference_tolerance_pct"]) == (
        "Main (EUR)",
        "5.00",
        "1.5000",
    )
    alice_ledger.refresh_from_db()
    assert alice_ledger.reference_window_days == 15
    event = AuditEvent.objects.get(action="ledger.updated", subject_id=alice_ledger.pk)
    assert event.actor.username == "alice"
    assert event.before == {
        "name": "Main",
        "amount_tolerance_abs": "0.000000",
        "reference_tolerance_pct": "2.0000",
        "reference_window_days": 10,
    }
    assert {name: Decimal(str(value)) for name, value in event.after.items() if name != "name"} == {
        "amount_tolerance_abs": Decimal("5"),
        "reference_tolerance_pct": Decimal("1.5"),
        "reference_window_days": 15,
    }
    assert event.after["name"] == "Main (EUR)"


def test_sending_the_current_values_changes_nothing_and_audits_nothing(
    api_client_for, alice_ledger
):
    response = api_client_for("alice").patch(
        _url(alice_ledger), {"name": "Main", "date_window_days": 3}, format="json"
    )
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="ledger.updated").exists()


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"amount_tolerance_abs": "-1.00"}, "amount_tolerance_abs"),
        ({"reference_tolerance_abs": "-0.01"}, "reference_tolerance_abs"),
        ({"reference_tolerance_pct": "100.5"}, "reference_tolerance_pct"),
        ({"date_window_days": 61}, "date_window_days"),
        ({"auto_accept_threshold": 101}, "auto_accept_threshold"),
        ({"reference_window_days": -1}, "reference_window_days"),
        ({"currency": "USD"}, "currency"),  # a ledger's currency never changes
    ],
)
def test_bad_settings_are_400_naming_the_field(api_client_for, alice_ledger, body, attr):
    response = api_client_for("alice").patch(_url(alice_ledger), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "validation_error"
    assert response.json()["errors"][0]["attr"] == attr
    alice_ledger.refresh_from_db()
    assert alice_ledger.currency == "EUR"
    assert alice_ledger.amount_tolerance_abs == 0


def test_a_name_another_ledger_has_is_409(api_client_for, alice_ledger, org_a, alice):
    from ledgers.services import ledger_create

    ledger_create(organization=org_a, name="Cash", currency="EUR", actor=alice)
    response = api_client_for("alice").patch(_url(alice_ledger), {"name": "Cash"}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "duplicate"


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("rita", 403), ("charlie", 404)])
def test_only_an_admin_of_the_organization_may_change_a_ledger(
    api_client_for, alice_ledger, who, status
):
    response = api_client_for(who).patch(_url(alice_ledger), {"date_window_days": 5}, format="json")
    assert response.status_code == status
    alice_ledger.refresh_from_db()
    assert alice_ledger.date_window_days == 3


def test_the_next_auto_match_uses_the_new_settings(alice_ledger, alice, api_client_for):
    from reconciliation.services.auto_match import run_match_settings
    from reconciliation.services.runs import run_create

    api_client_for("alice").patch(
        _url(alice_ledger),
        {"reference_tolerance_abs": "0.00", "date_window_days": 5},
        format="json",
    )
    alice_ledger.refresh_from_db()
    run = run_create(
        ledger=alice_ledger,
        actor=alice,
        match_settings={"reference_tolerance_pct": Decimal("1"), "reference_window_days": 4},
    )
    settings = run_match_settings(run)
    assert (settings.reference_tolerance_abs, settings.date_window_days) == (Decimal("0"), 5)
    # A run's own overrides win over the ledger's.
    assert (settings.reference_tolerance_pct, settings.reference_window_days) == (
        Decimal("1"),
        4,
    )
