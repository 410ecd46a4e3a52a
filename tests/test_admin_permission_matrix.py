"""The admin's permission matrix: every model admin x (list, add, change, delete) x person.

The same rule as the API's matrix (tests/test_permission_matrix.py), written out by hand
here rather than read from the admins' `roles` tables, so a wrong table fails this test:
a user's membership role in the object's organization decides; another organization's
objects do not exist (the admin's "doesn't exist" redirect, 302); a role too low is a 403;
anonymous goes to the login page.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from ledgers.choices import ROLE_RANK
from ledgers.models import Account, AuditEvent, Ledger, LedgerEntry, Membership, Organization
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile

pytestmark = pytest.mark.django_db

NOBODY = "nobody"
SUPERUSER = "superuser"
# model: (object of org A, least role for view, add, change, delete)
MATRIX: dict[type, tuple[str, str, str, str, str]] = {
    Organization: ("org", "viewer", SUPERUSER, "admin", NOBODY),
    Membership: ("membership", "admin", "admin", "admin", "admin"),
    Ledger: ("ledger", "viewer", "admin", "admin", NOBODY),
    Account: ("account", "viewer", "admin", "admin", "admin"),
    LedgerEntry: ("gl", "viewer", NOBODY, NOBODY, NOBODY),
    AuditEvent: ("event", "viewer", NOBODY, NOBODY, NOBODY),
    Run: ("run", "viewer", "admin", "reviewer", "admin"),
    SourceFile: ("file", "viewer", NOBODY, NOBODY, "admin"),
    SourceEntry: ("item", "viewer", NOBODY, NOBODY, NOBODY),
    Match: ("accepted", "viewer", NOBODY, "reviewer", NOBODY),
    Discrepancy: ("discrepancy", "viewer", NOBODY, "reviewer", NOBODY),
}
# person: (role in org A, role anywhere else)
PEOPLE = {
    "alice": ("admin", None),
    "rita": ("reviewer", None),
    "bob": ("viewer", None),
    "charlie": (None, "admin"),
    "nomad": (None, None),  # staff, no membership at all
}


def _ok(have: str | None, need: str) -> bool:
    return (
        have is not None and need not in (NOBODY, SUPERUSER) and ROLE_RANK[have] >= ROLE_RANK[need]
    )


def expected(person: str, view: str, need: dict[str, str]) -> int:
    in_org, elsewhere = PEOPLE[person]
    anywhere = in_org or elsewhere
    if view in ("changelist", "add"):
        permission = "view" if view == "changelist" else "add"
        return 200 if _ok(anywhere, need[permission]) else 403
    if view == "change":
        if in_org is None:  # the object is not there for them, if the screen is
            return 302 if _ok(anywhere, need["view"]) or _ok(anywhere, need["change"]) else 403
        return 200 if _ok(in_org, need["view"]) or _ok(in_org, need["change"]) else 403
    # delete
    if in_org is None:
        return 302 if _ok(anywhere, need["delete"]) else 403
    return 200 if _ok(in_org, need["delete"]) else 403


@pytest.fixture
def objects(world: dict[str, Any], cast: dict[str, tuple], alice_account: Any) -> dict[str, Any]:
    from ledgers.services import user_setup

    nomad, _, _ = user_setup(
        username="nomad", organization_name="Nowhere", role="viewer", password="pw", staff=True
    )
    Membership.objects.filter(user=nomad).delete()
    run = world["run"]
    return {
        **world,
        "org": run.ledger.organization,
        "membership": Membership.objects.get(user=cast["bob"][0]),
        "ledger": run.ledger,
        "account": alice_account,
        "gl": world["free_gl"],
        "event": AuditEvent.objects.filter(run_id=run.pk).first(),
        "item": world["free_item"],
        "people": {**{name: cast[name][0] for name in cast}, "nomad": nomad},
    }


def test_every_admin_is_in_the_matrix() -> None:
    registered = {
        model
        for model in admin.site._registry
        if model._meta.app_label in {"ledgers", "reconciliation"}
    }
    assert registered == set(MATRIX)


@pytest.mark.parametrize("model", list(MATRIX), ids=lambda m: m.__name__)
@pytest.mark.parametrize("person", list(PEOPLE))
def test_admin_permission_matrix(objects, model, person) -> None:
    key, *least = MATRIX[model]
    need = dict(zip(("view", "add", "change", "delete"), least, strict=True))
    obj = objects[key]
    client = Client()
    client.force_login(objects["people"][person])
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    urls = {
        "changelist": reverse(f"{prefix}_changelist"),
        "add": reverse(f"{prefix}_add"),
        "change": reverse(f"{prefix}_change", args=[obj.pk]),
        "delete": reverse(f"{prefix}_delete", args=[obj.pk]),
    }
    got = {view: client.get(url).status_code for view, url in urls.items()}
    want = {view: expected(person, view, need) for view in urls}
    assert got == want
    if got["change"] == 200:
        page = client.get(urls["change"]).content.decode()
        editable = 'name="_save"' in page
        assert editable == _ok(PEOPLE[person][0], need["change"]), "change form editability"


@pytest.mark.parametrize("model", list(MATRIX), ids=lambda m: m.__name__)
def test_anonymous_is_sent_to_the_login_page(objects, model) -> None:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
