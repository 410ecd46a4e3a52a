"""Closing with a reason and the four-eyes approval (#14.7).

The preparer closes the run; a second person with the reviewer or admin role approves
it; from then on the run is immutable (every write: 409 `run_approved`) and the report
is the one frozen at approval, with its sha256.
"""

from __future__ import annotations

import io

import pytest

from ledgers.models import AuditEvent
from reconciliation.models import Run, RunReport
from reconciliation.report.statement import report_digest

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"


def close(client, run_id, **body):
    return client.post(f"{RUNS}/{run_id}/close", body, format="json")


def test_closing_an_unbalanced_run_without_a_reason_is_409(api_client_for, world):
    response = close(api_client_for("rita"), world["run"].pk)
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0] == {
        "code": "report_unbalanced",
        "detail": "The reconciliation report does not balance (the bank closing balance is "
        "unknown); give a reason to close it anyway.",
        "attr": "reason",
    }
    assert Run.objects.get(pk=world["run"].pk).status == "completed"


def test_the_reason_for_an_unbalanced_close_is_audited(api_client_for, world):
    response = close(api_client_for("rita"), world["run"].pk, reason="CSV without balances")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["closed_by"]) == ("closed", "rita")
    event = AuditEvent.objects.get(action="run.closed", run_id=world["run"].pk)
    assert event.after["reason"] == "CSV without balances"
    assert (event.after["balanced"], event.after["difference"]) == (False, None)
    assert event.actor.username == "rita"


@pytest.fixture
def closed_run(api_client_for, world):
    """The world run closed by rita (the preparer)."""
    assert close(api_client_for("rita"), world["run"].pk, reason="test").status_code == 200
    return world


def approve(client, run_id, **body):
    return client.post(f"{RUNS}/{run_id}/approve", body, format="json")


def test_the_preparer_cannot_approve_her_own_run(api_client_for, closed_run):
    response = approve(api_client_for("rita"), closed_run["run"].pk)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "approver_is_preparer"
    assert Run.objects.get(pk=closed_run["run"].pk).approved_at is None


def test_a_viewer_cannot_approve(api_client_for, closed_run):
    response = approve(api_client_for("bob"), closed_run["run"].pk)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"


def test_charlie_gets_404_approving_alices_run(api_client_for, closed_run):
    assert approve(api_client_for("charlie"), closed_run["run"].pk).status_code == 404


def test_only_a_closed_run_can_be_approved(api_client_for, world):
    response = approve(api_client_for("alice"), world["run"].pk)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "run_not_closed"
    assert response.json()["current_status"] == "completed"


def test_a_second_person_approves_and_the_report_is_frozen(api_client_for, closed_run):
    run_id = closed_run["run"].pk
    response = approve(api_client_for("alice"), run_id, note="checked")
    assert response.status_code == 200
    run = response.json()
    assert (run["status"], run["closed_by"], run["approved_by"]) == ("closed", "rita", "alice")
    assert run["approved_at"] is not None
    frozen = RunReport.objects.get(run_id=run_id)
    report = api_client_for("bob").get(f"{RUNS}/{run_id}/report")
    body = report.json()
    assert (body["frozen"], body["sha256"]) == (True, frozen.sha256)
    assert report["X-Report-SHA256"] == frozen.sha256
    # Anyone can check the digest from the body served.
    assert report_digest(body) == frozen.sha256
    assert (body["approved_by"], body["closed_by"]) == ("alice", "rita")
    event = AuditEvent.objects.get(action="run.approved", run_id=run_id)
    assert (event.actor.username, event.note) == ("alice", "checked")
    assert event.after["report_sha256"] == frozen.sha256


def test_the_frozen_report_does_not_move_when_the_books_do(
    api_client_for, closed_run, alice_ledger
):
    run_id = closed_run["run"].pk
    approve(api_client_for("alice"), run_id)
    before = api_client_for("bob").get(f"{RUNS}/{run_id}/report").json()
    # A GL entry pushed into the period afterwards changes the live figures, not the frozen.
    api_client_for("alice").post(
        f"/v1/ledgers/{alice_ledger.pk}/entries",
        {"external_id": "LATE", "amount": "99.00", "currency": "EUR", "booking_date": "2026-11-04"},
        format="json",
    )
    after = api_client_for("bob").get(f"{RUNS}/{run_id}/report")
    assert after.json() == before
    pdf = api_client_for("bob").get(f"{RUNS}/{run_id}/report?format=pdf")
    assert pdf["X-Report-SHA256"] == before["sha256"]


def test_events_show_the_close_and_the_approval(api_client_for, closed_run):
    run_id = closed_run["run"].pk
    approve(api_client_for("alice"), run_id)
    events = api_client_for("bob").get(f"{RUNS}/{run_id}/events?limit=100").json()["results"]
    actions = [(e["action"], e["actor"]) for e in events]
    assert ("run.closed", "rita") in actions
    assert ("run.approved", "alice") in actions


@pytest.fixture
def approved(api_client_for, closed_run):
    assert approve(api_client_for("alice"), closed_run["run"].pk).status_code == 200
    return closed_run


def _csv():
    upload = io.BytesIO(b"Date,Amount,Description\n2026-11-20,12.00,coffee\n")
    upload.name = "late.csv"
    return upload


WRITES = [
    ("patch", "{RUNS}/{run}", lambda o: {"note": "x"}),
    ("delete", "{RUNS}/{run}", None),
    ("post", "{RUNS}/{run}/close", lambda o: {"reason": "again"}),
    ("post", "{RUNS}/{run}/approve", lambda o: {}),
    ("post", "{RUNS}/{run}/sources/upload", lambda o: {"file": _csv()}),
    ("delete", "{RUNS}/{run}/sources/{file}", None),
    ("post", "{RUNS}/{run}/auto-match", lambda o: {}),
    (
        "post",
        "{RUNS}/{run}/manual-match",
        lambda o: {"source_entry_ids": [o["transfer_item"]], "ledger_entry_ids": [o["free_gl"]]},
    ),
    ("post", "{BASE}/matches/{suggested}/accept", lambda o: {}),
    ("post", "{BASE}/matches/{suggested}/reject", lambda o: {}),
    ("patch", "{BASE}/matches/{accepted}/note", lambda o: {"note": "x"}),
    ("post", "{RUNS}/{run}/matches/{accepted}/unmatch", lambda o: {}),
    ("post", "{RUNS}/{run}/matches/{rejected}/reopen", lambda o: {}),
    (
        "post",
        "{BASE}/items/{free_item}/close",
        lambda o: {"ledger_id": o["ledger"], "reason": "write_off"},
    ),
    ("post", "{BASE}/items/{closed_item}/reopen", lambda o: {}),
    ("patch", "{BASE}/discrepancies/{discrepancy}", lambda o: {"status": "closed"}),
]


@pytest.fixture
def approved_objects(api_client_for, world, alice_ledger, alice):
    from reconciliation.services.matches import match_create_manual, match_reject
    from reconciliation.services.runs import run_approve, run_close

    # A rejected match to try reopening, made before the run is closed.
    rejected = match_reject(
        match=match_create_manual(
            run=world["run"],
            source_entry_ids=[world["transfer_item"].pk],
            ledger_entry_ids=[world["free_gl"].pk],
            actor=alice,
        ),
        actor=alice,
    )
    rita = world["run"].ledger.organization.memberships.get(user__username="rita").user
    run_close(run=world["run"], actor=rita, reason="test")
    run_approve(run=world["run"], actor=alice)
    return {
        "RUNS": RUNS,
        "BASE": BASE,
        "ledger": str(alice_ledger.pk),
        "rejected": str(rejected.pk),
        **{k: str(v.pk) for k, v in world.items()},
    }


@pytest.mark.parametrize(
    ("method", "path", "body"), WRITES, ids=[f"{m.upper()} {p}" for m, p, _ in WRITES]
)
def test_every_write_on_an_approved_run_is_409_run_approved(
    api_client_for, approved_objects, method, path, body
):
    payload = body(approved_objects) if body else None
    fmt = "multipart" if payload and "file" in payload else "json"
    response = getattr(api_client_for("alice"), method)(
        path.format(**approved_objects), payload, format=fmt
    )
    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["code"] == "run_approved"


def test_the_legacy_reconcile_leaves_an_approved_run_alone(api_client_for, approved_objects):
    from reconciliation.models import Match

    run_id = approved_objects["run"]
    before = Match.objects.filter(run_id=run_id).count()
    response = api_client_for("alice").post(
        f"/v1/ledgers/{approved_objects['ledger']}/reconcile", {}, format="json"
    )
    assert (response.status_code, response.json()) == (200, {"runs": 0, "matched": 0})
    assert Match.objects.filter(run_id=run_id).count() == before


def test_every_run_write_route_is_in_the_approved_list():
    """A write route added to the run's tree must be refused on an approved run too."""
    from tests.test_permission_matrix import ROUTES

    covered = {(m, p.replace("{RUNS}", RUNS).replace("{BASE}", BASE)) for m, p, _ in WRITES}
    writes = {
        (r.method, r.path)
        for r in ROUTES
        if r.method != "get" and r.path.startswith(BASE) and r.path != RUNS  # creating a run
    }

    def shape(path: str) -> str:
        import re

        return re.sub(r"\{\w+\}", "{}", path)

    assert {(m, shape(p)) for m, p in writes} <= {(m, shape(p)) for m, p in covered}
