"""The admin as an attacker from another organization would try it (#12, finding 1).

charlie is admin of org B (and of org C); org A is alice's. charlie walks every admin add and
change form he can open and posts org A's ids into every choice field: each forged POST is a
form error and nothing is written (no row, no change, no audit event). The dropdowns never
list org A's objects or users in the first place.

A model admin added later without a row in PAYLOADS fails
`test_every_admin_form_is_walked`: tenancy cannot be forgotten for a new screen.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.forms import ModelChoiceField
from django.test import Client, RequestFactory
from django.urls import reverse

from ledgers.choices import MembershipRole
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership, Organization
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(world: dict[str, Any], cast: dict[str, tuple]) -> dict[str, Any]:
    """Org A (alice's world) and org B (charlie's own ledger, account, run, members)."""
    from ledgers.services import account_create, ledger_create, user_setup
    from reconciliation.services.runs import run_create

    charlie, org_b = cast["charlie"][0], cast["charlie"][1]
    dave, _, _ = user_setup(
        username="dave", organization_name="Org B", role="viewer", password="pw", staff=True
    )
    erin, org_c, _ = user_setup(
        username="erin", organization_name="Org C", role="viewer", password="pw", staff=True
    )
    Membership.objects.create(user=charlie, organization=org_c, role=MembershipRole.ADMIN)
    ledger_b = ledger_create(organization=org_b, name="B books", currency="EUR", actor=charlie)
    account_b = account_create(
        ledger=ledger_b, name="B bank", code="1000", currency="EUR", actor=charlie
    )
    run_b = run_create(ledger=ledger_b, account=account_b, actor=charlie, note="B run")
    run_a = world["run"]
    return {
        "org_a": run_a.ledger.organization,
        "org_b": org_b,
        "ledger_a": run_a.ledger,
        "account_a": Account.objects.create(
            ledger=run_a.ledger, name="A bank", code="A1", currency="EUR"
        ),
        "run_a": run_a,
        "ledger_b": ledger_b,
        "account_b": account_b,
        "run_b": run_b,
        "charlie": charlie,
        "dave": dave,
        "erin": erin,
        "alice": cast["alice"][0],
        "dave_membership": Membership.objects.get(user=dave, organization=org_b),
        "world": world,
    }


def _pk(obj: Any) -> str:
    return str(obj.pk)


# Per model: a valid add payload for charlie (org B), and the object of charlie's to change.
# Every choice field of each form gets org A's value in turn.
PAYLOADS: dict[type, dict[str, Callable[[dict[str, Any]], Any]]] = {
    Organization: {"change": lambda s: s["org_b"]},
    Membership: {
        "add": lambda s: {
            "user": _pk(s["erin"]),
            "organization": _pk(s["org_b"]),
            "role": "viewer",
        },
        "change": lambda s: s["dave_membership"],
    },
    Ledger: {
        "add": lambda s: {
            "organization": _pk(s["org_b"]),
            "name": "B second",
            "currency": "EUR",
            "date_window_days": "3",
            "amount_tolerance_abs": "0",
            "amount_tolerance_pct": "0",
            "reference_tolerance_pct": "2",
            "reference_tolerance_abs": "25",
            "reference_window_days": "10",
            "auto_accept_threshold": "90",
        },
        "change": lambda s: s["ledger_b"],
    },
    Account: {
        "add": lambda s: {
            "ledger": _pk(s["ledger_b"]),
            "code": "2000",
            "name": "B savings",
            "currency": "EUR",
            "iban": "",
        },
        "change": lambda s: s["account_b"],
    },
    Run: {
        "add": lambda s: {"ledger": _pk(s["ledger_b"]), "account": "", "mode": "manual"},
        "change": lambda s: s["run_b"],
    },
}
# Org A's value for each choice field name.
FOREIGN = {
    "organization": lambda s: _pk(s["org_a"]),
    "user": lambda s: _pk(s["alice"]),
    "ledger": lambda s: _pk(s["ledger_a"]),
    "account": lambda s: _pk(s["account_a"]),
}
# Admins charlie cannot add or change anything in (read-only facts or decisions on existing
# rows, which have no choice fields): covered by the matrix and the change tests below.
NO_FORMS = {LedgerEntry, AuditEvent, SourceFile, SourceEntry, Match, Discrepancy}


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organization, Membership, Ledger, Account, Run, AuditEvent)
    }


def _form_class(model: type, request_user: Any, obj: Any = None) -> Any:
    request = RequestFactory().get("/")
    request.user = request_user
    return admin.site._registry[model].get_form(request, obj, change=obj is not None)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(model: type, view: str, obj: Any = None) -> str:
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"
    return reverse(name, args=[obj.pk] if obj is not None else None)


def _change_payload(form_class: Any, obj: Any) -> dict[str, str]:
    """The change form as the browser would post it unchanged."""
    data = {}
    for name, field in form_class.base_fields.items():
        value = getattr(obj, name, None)
        if isinstance(field, ModelChoiceField):
            data[name] = str(getattr(obj, f"{name}_id", "") or "")
        elif value is not None:
            data[name] = str(value)
    return data


def test_every_admin_form_is_walked() -> None:
    registered = {
        model
        for model in admin.site._registry
        if model._meta.app_label in {"ledgers", "reconciliation"}
    }
    assert registered == set(PAYLOADS) | NO_FORMS


@pytest.mark.parametrize("model", list(PAYLOADS), ids=lambda m: m.__name__)
def test_dropdowns_never_list_another_organizations_objects(scene, model) -> None:
    foreign = {_pk(scene[k]) for k in ("org_a", "ledger_a", "account_a", "alice")}
    for view in ("add", "change"):
        if view not in PAYLOADS[model]:
            continue
        obj = PAYLOADS[model][view](scene) if view == "change" else None
        form_class = _form_class(model, scene["charlie"], obj)
        for name, field in form_class.base_fields.items():
            if isinstance(field, ModelChoiceField):
                offered = {str(pk) for pk in field.queryset.values_list("pk", flat=True)}
                assert not offered & foreign, f"{model.__name__}.{name} ({view})"


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Membership, "user"),
        (Membership, "organization"),
        (Ledger, "organization"),
        (Account, "ledger"),
        (Run, "ledger"),
        (Run, "account"),
    ],
    ids=lambda x: x if isinstance(x, str) else x.__name__,
)
def test_a_forged_foreign_id_on_an_add_form_is_a_form_error(scene, model, field) -> None:
    client = _client(scene["charlie"])
    valid = PAYLOADS[model]["add"](scene)
    before = _counts()
    response = client.post(_url(model, "add"), {**valid, field: FOREIGN[field](scene)})
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors.get(field)
    assert _counts() == before


@pytest.mark.parametrize("model", [Membership, Ledger, Account, Run], ids=lambda m: m.__name__)
def test_the_valid_add_payload_is_accepted_so_the_forged_ones_fail_for_tenancy(scene, model):
    """The control: without the foreign id the same POST saves (and is audited)."""
    before = _counts()
    response = _client(scene["charlie"]).post(_url(model, "add"), PAYLOADS[model]["add"](scene))
    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    after = _counts()
    assert after[model.__name__] == before[model.__name__] + 1
    assert after["AuditEvent"] > before["AuditEvent"]


@pytest.mark.parametrize("model", list(PAYLOADS), ids=lambda m: m.__name__)
def test_a_forged_foreign_id_on_a_change_form_changes_nothing(scene, model) -> None:
    obj = PAYLOADS[model]["change"](scene)
    form_class = _form_class(model, scene["charlie"], obj)
    unchanged = _change_payload(form_class, obj)
    client = _client(scene["charlie"])
    for field in FOREIGN:
        before = _counts()
        response = client.post(
            _url(model, "change", obj), {**unchanged, field: FOREIGN[field](scene)}
        )
        obj.refresh_from_db()
        # A choice on the form: a form error. A read-only field (a ledger's organization,
        # a run's ledger): the forged value is ignored. Either way nothing moved.
        if field in form_class.base_fields:
            assert response.status_code == 200
            assert response.context["adminform"].form.errors.get(field)
        if hasattr(obj, f"{field}_id"):
            assert str(getattr(obj, f"{field}_id") or "") != FOREIGN[field](scene)
        assert _counts() == before


def test_charlie_cannot_make_himself_admin_of_org_a_and_read_its_ledgers(
    scene, api_client_for
) -> None:
    """The reported attack, end to end: membership add with org A and role admin."""
    response = _client(scene["charlie"]).post(
        _url(Membership, "add"),
        {"user": _pk(scene["charlie"]), "organization": _pk(scene["org_a"]), "role": "admin"},
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(user=scene["charlie"], organization=scene["org_a"])
    ledgers = api_client_for("charlie").get("/v1/ledgers").json()["results"]
    assert {row["name"] for row in ledgers} == {"B books"}
    assert api_client_for("charlie").get(f"/v1/ledgers/{scene['ledger_a'].pk}").status_code == 404


def test_a_reviewer_cannot_manage_memberships(scene, cast) -> None:
    rita = cast["rita"][0]
    client = _client(rita)
    assert client.get(_url(Membership, "add")).status_code == 403
    response = client.post(
        _url(Membership, "add"),
        {"user": _pk(rita), "organization": _pk(scene["org_a"]), "role": "admin"},
    )
    assert response.status_code == 403
    assert Membership.objects.get(user=rita).role == MembershipRole.REVIEWER


def test_the_membership_service_refuses_a_grant_outside_the_actors_organizations(scene):
    """The check repeated on save: a form that forgot to limit its choices still cannot."""
    from ledgers.exceptions import NotFound
    from ledgers.services import membership_save

    with pytest.raises(NotFound):
        membership_save(
            membership=None,
            user=scene["charlie"],
            organization=scene["org_a"],
            role="admin",
            actor=scene["charlie"],
        )
    assert not Membership.objects.filter(user=scene["charlie"], organization=scene["org_a"])


def test_the_last_admin_of_an_organization_cannot_be_removed(scene, cast):
    client = _client(scene["charlie"])
    own = Membership.objects.get(user=scene["charlie"], organization=scene["org_b"])
    response = client.post(_url(Membership, "delete", own), {"post": "yes"}, follow=True)
    assert Membership.objects.filter(pk=own.pk).exists()
    assert "last admin" in response.content.decode()


# --- admin changes are audited like the API's ---------------------------------------------------


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def test_changing_a_ledgers_match_settings_in_the_admin_is_audited(scene) -> None:
    ledger = scene["ledger_b"]
    form_class = _form_class(Ledger, scene["charlie"], ledger)
    data = {**_change_payload(form_class, ledger), "amount_tolerance_abs": "2.50"}
    response = _client(scene["charlie"]).post(_url(Ledger, "change", ledger), data)
    assert response.status_code == 302
    ledger.refresh_from_db()
    assert ledger.amount_tolerance_abs == Decimal("2.50")
    (event,) = _events("ledger.updated")
    assert event.actor == scene["charlie"]
    assert event.before == {"amount_tolerance_abs": "0.000000"}
    assert event.after == {"amount_tolerance_abs": "2.50"}


def test_adding_and_removing_a_membership_in_the_admin_is_audited(scene) -> None:
    client = _client(scene["charlie"])
    client.post(_url(Membership, "add"), PAYLOADS[Membership]["add"](scene))
    created = Membership.objects.get(user=scene["erin"], organization=scene["org_b"])
    client.post(_url(Membership, "delete", created), {"post": "yes"})
    assert not Membership.objects.filter(pk=created.pk).exists()
    assert [e.subject_id for e in _events("membership.created")] == [created.pk]
    assert [e.before for e in _events("membership.deleted")] == [{"user": "erin", "role": "viewer"}]


def test_editing_an_account_in_the_admin_is_audited(scene) -> None:
    account = scene["account_b"]
    form_class = _form_class(Account, scene["charlie"], account)
    data = {**_change_payload(form_class, account), "name": "B operating"}
    assert _client(scene["charlie"]).post(_url(Account, "change", account), data).status_code == 302
    (event,) = _events("account.updated")
    assert (event.before, event.after) == ({"name": "B bank"}, {"name": "B operating"})


def test_a_refusal_by_the_service_is_shown_as_a_form_error_not_a_500(scene) -> None:
    data = {**PAYLOADS[Account]["add"](scene), "iban": "DE00370400440532013000"}  # bad digits
    response = _client(scene["charlie"]).post(_url(Account, "add"), data)
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.non_field_errors())
    assert "IBAN check digits do not match" in errors
    assert Account.objects.filter(ledger=scene["ledger_b"]).count() == 1


def test_gl_entries_list_money_in_the_currencys_format(scene) -> None:
    response = _client(scene["alice"]).get(reverse("admin:ledgers_ledgerentry_changelist"))
    html = response.content.decode()
    assert "100.00 EUR" in html
    assert "100.000000" not in html
