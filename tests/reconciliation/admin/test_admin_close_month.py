"""Month-end close in the admin (#14): undo, discrepancies closed with a reason, the report
page, four-eyes sign-off. The browser journeys are in test_admin_journeys.py."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from ledgers.models import AuditEvent, LedgerEntry
from reconciliation.models import Discrepancy, Match, Run
from reconciliation.services.runs import run_close

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _review(match: Match) -> str:
    return reverse("admin:reconciliation_match_review_one", args=[match.pk])


def test_the_message_after_accepting_offers_an_undo_that_puts_it_back(client_for, world):
    match = world["suggested"]
    client = client_for("rita")
    response = client.post(_review(match), {"decision": "accept"}, follow=True)
    (text,) = [m for m in _messages(response) if "accepted" in m]
    assert 'data-undo="unmatch"' in text
    assert reverse("admin:reconciliation_match_unmatch", args=[match.pk]) in text
    undo = client.post(
        reverse("admin:reconciliation_match_unmatch", args=[match.pk]), {"next": _review(match)}
    )
    assert undo["Location"] == _review(match)
    match.refresh_from_db()
    assert match.status == "suggested"  # an automatic match goes back to the queue
    assert AuditEvent.objects.filter(action="match.unmatched", subject_id=match.pk).exists()


def test_the_message_after_rejecting_offers_an_undo_that_reopens_it(client_for, world):
    match = world["suggested"]
    client = client_for("rita")
    response = client.post(_review(match), {"decision": "reject"}, follow=True)
    (text,) = [m for m in _messages(response) if "rejected" in m]
    assert 'data-undo="reopen"' in text
    client.post(reverse("admin:reconciliation_match_reopen", args=[match.pk]))
    match.refresh_from_db()
    assert match.status == "suggested"


def test_an_accepted_match_offers_unmatch_on_its_review_page(client_for, world):
    html = client_for("rita").get(_review(world["accepted"])).content.decode()
    assert 'id="unmatch-button"' in html
    assert 'id="reopen-button"' not in html


def test_a_viewer_cannot_undo(client_for, world):
    url = reverse("admin:reconciliation_match_unmatch", args=[world["accepted"].pk])
    assert client_for("bob").post(url).status_code == 403
    world["accepted"].refresh_from_db()
    assert world["accepted"].status == "accepted"


def test_another_organization_cannot_undo(client_for, world):
    url = reverse("admin:reconciliation_match_unmatch", args=[world["accepted"].pk])
    assert client_for("charlie").post(url).status_code == 404


def test_a_manual_match_says_manual_not_a_score(client_for, world, alice):
    from reconciliation.services.matches import match_create_manual

    match = match_create_manual(
        run=world["run"],
        source_entry_ids=[world["transfer_item"].pk],
        ledger_entry_ids=[world["free_gl"].pk],
        actor=alice,
    )
    client = client_for("rita")
    review = client.get(_review(match)).content.decode()
    assert 'title="matched by a person">manual<' in review
    assert "score 100" not in review
    listing = client.get(reverse("admin:reconciliation_match_changelist"))
    assert "manual" in [
        listing.context["cl"].model_admin.score_column(m)
        for m in listing.context["cl"].result_list
        if m.pk == match.pk
    ]


# --- discrepancies -------------------------------------------------------------------------


def _close_action(client, ids, **extra):
    return client.post(
        reverse("admin:reconciliation_discrepancy_changelist"),
        {"action": "close_selected", "_selected_action": ids, **extra},
    )


def test_closing_discrepancies_in_bulk_asks_for_a_reason_first(client_for, world):
    ids = list(world["run"].discrepancies.filter(status="open").values_list("pk", flat=True))
    client = client_for("rita")
    page = _close_action(client, ids)
    assert page.status_code == 200
    assert 'id="close-discrepancies-form"' in page.content.decode()
    without_reason = _close_action(client, ids, post="yes", note="checked")
    assert without_reason.status_code == 200  # the form again
    assert not Discrepancy.objects.filter(pk__in=ids, status="closed").exists()
    _close_action(client, ids, post="yes", reason="timing_difference", note="clears in Dec")
    closed = Discrepancy.objects.filter(pk__in=ids)
    assert {(d.status, d.close_reason, d.note) for d in closed} == {
        ("closed", "timing_difference", "clears in Dec")
    }
    assert AuditEvent.objects.filter(action="discrepancy.updated", subject_id=ids[0]).exists()


def test_assign_to_me_and_the_mine_filter(client_for, world, cast):
    discrepancy = world["discrepancy"]
    client = client_for("rita")
    client.post(
        reverse("admin:reconciliation_discrepancy_changelist"),
        {"action": "assign_to_me", "_selected_action": [discrepancy.pk]},
    )
    discrepancy.refresh_from_db()
    assert discrepancy.assigned_to == cast["rita"][0]
    url = reverse("admin:reconciliation_discrepancy_changelist") + "?assignee=me"
    assert [d.pk for d in client.get(url).context["cl"].result_list] == [discrepancy.pk]
    assert list(client_for("alice").get(url).context["cl"].result_list) == []


def test_only_reviewers_are_offered_as_assignees(client_for, world, cast):
    url = reverse("admin:reconciliation_discrepancy_change", args=[world["discrepancy"].pk])
    field = client_for("rita").get(url).context["adminform"].form.fields["assigned_to"]
    offered = set(field.queryset.values_list("username", flat=True))
    assert offered == {"alice", "rita"}  # bob is a viewer; charlie is another organization


# --- report and sign-off -----------------------------------------------------------------------


def test_the_report_page_shows_the_apis_figures(client_for, api_client_for, world):
    run = world["run"]
    page = client_for("bob").get(reverse("admin:reconciliation_run_report", args=[run.pk]))
    assert page.status_code == 200
    api = api_client_for("bob").get(f"/v1/ledgers/reconciliation/runs/{run.pk}/report").json()
    shown = page.context["report"]
    for key in ("book_balance", "adjusted_bank_balance", "adjusted_book_balance", "difference"):
        assert shown[key] == api[key]
    html = page.content.decode()
    assert 'id="download-pdf"' in html
    # GL-2 is only in a pending suggestion on 6 Nov: outstanding, linked to its page.
    outstanding = LedgerEntry.objects.get(external_id="GL-2")
    assert reverse("admin:ledgers_ledgerentry_change", args=[outstanding.pk]) in html


def test_close_then_approve_by_a_second_person_freezes_the_run(client_for, world, alice, cast):
    run = world["run"]
    run_close(run=run, actor=alice, reason="CSV export has no balances")
    approve = reverse("admin:reconciliation_run_approve", args=[run.pk])
    preparer = client_for("alice").get(approve)
    assert 'id="approver-is-preparer"' in preparer.content.decode()
    refused = client_for("alice").post(approve, follow=True)
    assert any("second person" in m for m in _messages(refused))
    assert Run.objects.get(pk=run.pk).approved_at is None
    client_for("rita").post(approve, {"note": "checked"})
    run.refresh_from_db()
    assert (run.approved_by, run.status) == (cast["rita"][0], "closed")
    page = client_for("bob").get(reverse("admin:reconciliation_run_report", args=[run.pk]))
    assert page.context["report"]["frozen"] is True
    assert 'id="sha256"' in page.content.decode()


def test_a_viewer_cannot_approve(client_for, world, alice):
    run_close(run=world["run"], actor=alice, reason="no balances")
    url = reverse("admin:reconciliation_run_approve", args=[world["run"].pk])
    assert client_for("bob").post(url).status_code == 403
