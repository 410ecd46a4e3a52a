"""Auto-match, manual match and decisions through the API (DESIGN.md §2, API.md)."""

from __future__ import annotations

import pytest

from ledgers.models import AuditEvent, LedgerEntry
from reconciliation.models import Match, MatchLedgerLink, MatchSourceLink, SourceEntry

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"
MATCH_LIST_QUERIES = (
    7  # token, memberships, run, COUNT, page, source links+entries, GL links+entries
)


def test_auto_match_twice_creates_nothing_new(api_client_for, world):
    client = api_client_for("rita")
    before = Match.objects.count()
    response = client.post(f"{RUNS}/{world['run'].pk}/auto-match")
    assert response.status_code == 200
    assert response.json()["matched"] == 0
    assert set(response.json()) == {"matched", "suggested", "accepted", "discrepancies"}
    assert Match.objects.count() == before


def test_accepting_a_fee_suggestion_makes_the_item_partial(api_client_for, world):
    response = api_client_for("rita").post(
        f"{BASE}/matches/{world['suggested'].pk}/accept", {"note": "bank fee"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["difference"], body["decided_by"], body["note"]) == (
        "accepted",
        "-2.50",
        "rita",
        "bank fee",
    )
    [item_id] = body["source_entry_ids"]
    assert SourceEntry.objects.get(pk=item_id).match_status == "partial"
    [gl_id] = body["ledger_entry_ids"]
    assert LedgerEntry.objects.get(pk=gl_id).reconciliation_status == "partial"
    assert AuditEvent.objects.filter(
        action="match.accepted", subject_id=world["suggested"].pk, note="bank fee"
    ).exists()


def test_accepting_twice_is_a_no_op_and_a_rejected_match_cannot_be_accepted(api_client_for, world):
    client = api_client_for("rita")
    url = f"{BASE}/matches/{world['suggested'].pk}"
    assert client.post(f"{url}/accept").status_code == 200
    assert client.post(f"{url}/accept").status_code == 200
    assert client.post(f"{url}/reject").json()["status"] == "rejected"
    conflict = client.post(f"{url}/accept")
    assert conflict.status_code == 409
    assert conflict.json()["current_status"] == "rejected"


def test_rejecting_frees_the_entries_and_the_pair_is_never_suggested_again(api_client_for, world):
    client = api_client_for("rita")
    match = world["accepted"]
    response = client.post(f"{BASE}/matches/{match.pk}/reject", {"note": "wrong"}, format="json")
    assert response.status_code == 200
    [item_id] = response.json()["source_entry_ids"]
    assert SourceEntry.objects.get(pk=item_id).match_status == "unmatched"
    assert not MatchSourceLink.objects.filter(match=match, is_active=True).exists()
    client.post(f"{RUNS}/{world['run'].pk}/auto-match")
    live = MatchSourceLink.objects.filter(source_entry_id=item_id, is_active=True)
    for link in live:
        assert not MatchLedgerLink.objects.filter(
            match=link.match, ledger_entry__in=match.ledger_links.values("ledger_entry")
        ).exists()


def test_a_manual_match_links_free_entries_and_is_accepted(api_client_for, world):
    response = api_client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/manual-match",
        {
            "source_entry_ids": [str(world["transfer_item"].pk)],
            "ledger_entry_ids": [str(world["free_gl"].pk)],
            "note": "paid late",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["kind"], body["shape"], body["difference"]) == (
        "accepted",
        "manual",
        "one_to_one",
        "0.00",
    )
    assert SourceEntry.objects.get(pk=world["transfer_item"].pk).match_status == "matched"
    assert LedgerEntry.objects.get(pk=world["free_gl"].pk).reconciliation_status == "reconciled"


def test_a_manual_match_of_linked_entries_is_409(api_client_for, world):
    accepted = world["accepted"]
    response = api_client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/manual-match",
        {
            "source_entry_ids": [str(accepted.source_links.get().source_entry_id)],
            "ledger_entry_ids": [str(world["free_gl"].pk)],
        },
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "already_matched"
    assert response.json()["match_ids"] == [str(accepted.pk)]


def test_a_manual_match_with_entries_of_another_ledger_is_400(
    api_client_for, world, charlie_ledger, cast
):
    from ledgers.services import LedgerEntryInput, ledger_entries_create

    foreign = ledger_entries_create(
        ledger=charlie_ledger,
        actor=cast["charlie"][0],
        items=[
            LedgerEntryInput(
                external_id="X",
                amount=1,
                currency="EUR",
                booking_date=world["free_gl"].booking_date,
            )
        ],
    ).entries[0]
    response = api_client_for("rita").post(
        f"{RUNS}/{world['run'].pk}/manual-match",
        {
            "source_entry_ids": [str(world["transfer_item"].pk)],
            "ledger_entry_ids": [str(foreign.pk)],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "ledger_entry_ids"


def test_decisions_on_a_closed_run_are_409(api_client_for, world, alice):
    from reconciliation.services.runs import run_close

    run_close(run=world["run"], actor=alice, reason="CSV statement without balances")
    client = api_client_for("rita")
    for response in (
        client.post(f"{BASE}/matches/{world['suggested'].pk}/accept"),
        client.patch(f"{BASE}/matches/{world['suggested'].pk}/note", {"note": "x"}, format="json"),
        client.post(f"{RUNS}/{world['run'].pk}/auto-match"),
    ):
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "run_closed"


def test_matches_list_with_both_sides_inline_and_filters(api_client_for, world):
    client = api_client_for("bob")
    url = f"{RUNS}/{world['run'].pk}/matches"
    results = client.get(url).json()["results"]
    assert {m["status"] for m in results} == {"accepted", "suggested"}
    suggested = client.get(url, {"status": "suggested"}).json()["results"]
    [match] = suggested
    assert match["source_entries"][0]["amount"] == "97.50"
    assert match["ledger_entries"][0]["external_id"] == "GL-2"
    assert match["explanation"][0].keys() >= {"criterion", "points", "detail"}
    assert client.get(url, {"score_min": 100}).json()["count"] == 0
    assert client.get(url, {"score_min": 101}).status_code == 400  # scores are 0..100
    assert client.get(url, {"kind": "manual"}).json()["count"] == 0


@pytest.mark.parametrize("extra", [0, 30])
def test_listing_matches_costs_fixed_queries(
    api_client_for, world, extra, django_assert_num_queries
):
    from reconciliation.services.matches import match_create_manual

    run = world["run"]
    for i in range(extra):
        entry = SourceEntry.objects.create(
            run=run,
            source_file=world["file"],
            statement=world["file"].statements.first(),
            ledger=run.ledger,
            line=100 + i,
            booking_date=world["free_gl"].booking_date,
            amount=1,
            currency="EUR",
            fingerprint=f"x{i}",
        )
        gl = LedgerEntry.objects.create(
            ledger=run.ledger,
            external_id=f"Q{i}",
            amount=1,
            currency="EUR",
            booking_date=entry.booking_date,
        )
        match_create_manual(
            run=run, source_entry_ids=[entry.pk], ledger_entry_ids=[gl.pk], actor=None
        )
    with django_assert_num_queries(MATCH_LIST_QUERIES):
        api_client_for("bob").get(f"{RUNS}/{run.pk}/matches", {"limit": 100})


def test_the_legacy_reconcile_trigger_is_marked_deprecated(api_client_for, world):
    response = api_client_for("rita").post(f"/v1/ledgers/{world['run'].ledger_id}/reconcile")
    assert response.status_code == 200
    assert response.headers["Deprecation"] == "true"
    assert response.json() == {"runs": 1, "matched": 0}


@pytest.mark.django_db(transaction=True)
def test_concurrent_auto_and_manual_matches_never_double_link(api_client_for, world, concurrently):
    """Two auto-matches of one run at once plus manual matches racing them: the partial
    unique indexes keep every entry in at most one live match."""
    from django.db.models import Count

    run = world["run"]
    MatchSourceLink.objects.update(is_active=False)
    MatchLedgerLink.objects.update(is_active=False)
    Match.objects.update(status="rejected")
    SourceEntry.objects.filter(run=run).exclude(match_status="closed").update(
        match_status="unmatched"
    )
    items = list(SourceEntry.objects.filter(run=run, match_status="unmatched").order_by("line"))
    gls = list(LedgerEntry.objects.filter(ledger=run.ledger).order_by("external_id"))

    def act(i: int) -> int:
        client = api_client_for("rita")
        if i < 2:
            return client.post(f"{RUNS}/{run.pk}/auto-match").status_code
        body = {
            "source_entry_ids": [str(items[i % len(items)].pk)],
            "ledger_entry_ids": [str(gls[i % len(gls)].pk)],
        }
        return client.post(f"{RUNS}/{run.pk}/manual-match", body, format="json").status_code

    statuses = concurrently(6, act)
    assert set(statuses) <= {200, 201, 409}
    for model, field in ((MatchSourceLink, "source_entry"), (MatchLedgerLink, "ledger_entry")):
        doubled = (
            model.objects.filter(is_active=True)
            .values(field)
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        assert not doubled.exists()


def test_decisions_recompute_the_discrepancies_of_the_entries_they_touch(api_client_for, world):
    from reconciliation.models import Discrepancy

    client = api_client_for("rita")
    match = world["accepted"]
    [item_id] = match.source_links.values_list("source_entry_id", flat=True)
    [gl_id] = match.ledger_links.values_list("ledger_entry_id", flat=True)
    assert client.post(f"{BASE}/matches/{match.pk}/reject").status_code == 200
    missing = Discrepancy.objects.get(run=world["run"], key=f"missing_in_ledger:{item_id}")
    assert (missing.status, missing.is_current) == ("open", True)
    assert Discrepancy.objects.filter(
        key=f"missing_in_statement:{gl_id}", status="open", is_current=True
    ).exists()

    response = client.post(
        f"{RUNS}/{world['run'].pk}/manual-match",
        {"source_entry_ids": [str(item_id)], "ledger_entry_ids": [str(gl_id)]},
        format="json",
    )
    assert response.status_code == 201, response.content
    missing.refresh_from_db()
    assert (missing.status, missing.is_current) == ("closed", False)  # resolved by the match


def test_a_decision_leaves_the_rest_of_the_run_alone(api_client_for, world):
    """Targeted: accepting one match does not rewrite an unrelated item's discrepancy
    (a whole-run recompute would refresh its message; at a million entries it would also
    take seconds per click)."""
    unrelated = world["discrepancy"]
    type(unrelated).objects.filter(pk=unrelated.pk).update(message="left as it was")
    response = api_client_for("rita").post(f"{BASE}/matches/{world['suggested'].pk}/accept")
    assert response.status_code == 200
    unrelated.refresh_from_db()
    assert unrelated.message == "left as it was"
