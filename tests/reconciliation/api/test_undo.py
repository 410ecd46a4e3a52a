"""Undo (#14.2): reopen a rejected match, unmatch an accepted one. Audited, reviewer role,
other organizations 404, closed runs refused."""

from __future__ import annotations

import pytest

from ledgers.models import AuditEvent, LedgerEntry
from reconciliation.models import Discrepancy, Match, MatchSourceLink, SourceEntry

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"


def undo(client, match, verb, **body):
    return client.post(f"{RUNS}/{match.run_id}/matches/{match.pk}/{verb}", body, format="json")


def test_unmatching_an_auto_match_puts_it_back_in_the_review_queue(api_client_for, world):
    accepted = world["accepted"]
    [item_id] = MatchSourceLink.objects.filter(match=accepted).values_list(
        "source_entry_id", flat=True
    )
    response = undo(api_client_for("rita"), accepted, "unmatch", note="wrong customer")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["decided_by"], body["decided_at"]) == ("suggested", None, None)
    assert SourceEntry.objects.get(pk=item_id).match_status == "unmatched"
    [gl_id] = body["ledger_entry_ids"]
    assert LedgerEntry.objects.get(pk=gl_id).reconciliation_status == "unreconciled"
    event = AuditEvent.objects.get(action="match.unmatched", subject_id=accepted.pk)
    assert (event.before, event.after["status"], event.note) == (
        {"status": "accepted"},
        "suggested",
        "wrong customer",
    )
    assert event.actor.username == "rita"
    # Still a suggestion: it can be accepted again, as before.
    accept = api_client_for("rita").post(f"{BASE}/matches/{accepted.pk}/accept")
    assert accept.json()["status"] == "accepted"


def test_unmatching_a_manual_match_rejects_it_and_recomputes_discrepancies(api_client_for, world):
    rita = api_client_for("rita")
    created = rita.post(
        f"{RUNS}/{world['run'].pk}/manual-match",
        {
            "source_entry_ids": [str(world["transfer_item"].pk)],
            "ledger_entry_ids": [str(world["free_gl"].pk)],
        },
        format="json",
    ).json()
    missing = Discrepancy.objects.get(key=f"missing_in_ledger:{world['transfer_item'].pk}")
    assert missing.status == "closed"  # resolved by the match
    match = Match.objects.get(pk=created["id"])
    response = undo(rita, match, "unmatch")
    assert response.json()["status"] == "rejected"
    assert SourceEntry.objects.get(pk=world["transfer_item"].pk).match_status == "unmatched"
    assert not MatchSourceLink.objects.filter(match=match, is_active=True).exists()
    missing.refresh_from_db()
    assert (missing.status, missing.close_reason) == ("open", "")  # missing from the GL again


def test_reopening_a_rejected_match_makes_it_a_suggestion_again(api_client_for, world):
    rita = api_client_for("rita")
    suggested = world["suggested"]
    rita.post(f"{BASE}/matches/{suggested.pk}/reject")
    response = undo(rita, suggested, "reopen", note="it was right after all")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["note"]) == (
        "suggested",
        "it was right after all",
    )
    assert MatchSourceLink.objects.filter(match=suggested, is_active=True).exists()
    assert AuditEvent.objects.filter(action="match.reopened", subject_id=suggested.pk).exists()
    # The pair left the "never suggest again" set: a new pass keeps it and adds nothing.
    assert rita.post(f"{RUNS}/{suggested.run_id}/auto-match").json()["matched"] == 0


def test_a_reopened_pair_is_suggested_again_by_auto_match(api_client_for, world):
    from reconciliation.services.auto_match import _forbidden_pairs

    rita = api_client_for("rita")
    suggested = world["suggested"]
    rita.post(f"{BASE}/matches/{suggested.pk}/reject")
    assert _forbidden_pairs(world["run"])
    undo(rita, suggested, "reopen")
    assert _forbidden_pairs(world["run"]) == frozenset()


def test_reopening_is_409_when_an_entry_is_in_another_live_match(api_client_for, world):
    rita = api_client_for("rita")
    suggested = world["suggested"]
    rita.post(f"{BASE}/matches/{suggested.pk}/reject")
    [item_id] = MatchSourceLink.objects.filter(match=suggested).values_list(
        "source_entry_id", flat=True
    )
    other = rita.post(
        f"{RUNS}/{world['run'].pk}/manual-match",
        {"source_entry_ids": [str(item_id)], "ledger_entry_ids": [str(world["free_gl"].pk)]},
        format="json",
    ).json()
    response = undo(rita, suggested, "reopen")
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["code"] == "entry_in_other_match"
    assert (body["source_entry_ids"], body["match_ids"]) == ([str(item_id)], [other["id"]])
    assert Match.objects.get(pk=suggested.pk).status == "rejected"


def test_reopening_is_409_when_an_item_was_closed_since(api_client_for, world, alice_ledger):
    rita = api_client_for("rita")
    suggested = world["suggested"]
    rita.post(f"{BASE}/matches/{suggested.pk}/reject")
    [item_id] = MatchSourceLink.objects.filter(match=suggested).values_list(
        "source_entry_id", flat=True
    )
    rita.post(
        f"{BASE}/items/{item_id}/close",
        {"ledger_id": str(alice_ledger.pk), "reason": "bank_error"},
        format="json",
    )
    response = undo(rita, suggested, "reopen")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "item_closed"
    assert response.json()["source_entry_ids"] == [str(item_id)]


@pytest.mark.parametrize(("fixture", "verb"), [("accepted", "reopen"), ("suggested", "unmatch")])
def test_undo_of_the_wrong_state_is_409_with_the_current_status(
    api_client_for, world, fixture, verb
):
    response = undo(api_client_for("rita"), world[fixture], verb)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "invalid_state"
    assert response.json()["current_status"] == world[fixture].status


@pytest.mark.parametrize("verb", ["reopen", "unmatch"])
def test_undo_on_a_closed_run_is_409(api_client_for, world, alice, verb):
    from reconciliation.services.runs import run_close

    match = world["accepted"]
    if verb == "reopen":
        api_client_for("rita").post(f"{BASE}/matches/{match.pk}/reject")
    run_close(run=world["run"], actor=alice, reason="test")
    response = undo(api_client_for("rita"), match, verb)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "run_closed"


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("charlie", 404), (None, 401)])
def test_undo_needs_the_reviewer_role_inside_the_organization(api_client_for, world, who, status):
    assert undo(api_client_for(who), world["accepted"], "unmatch").status_code == status
    assert Match.objects.get(pk=world["accepted"].pk).status == "accepted"


def test_a_match_of_another_run_is_404_under_this_run(api_client_for, world, alice_run):
    match = world["accepted"]
    response = api_client_for("rita").post(
        f"{RUNS}/{alice_run.pk}/matches/{match.pk}/unmatch", {}, format="json"
    )
    assert response.status_code == 404
