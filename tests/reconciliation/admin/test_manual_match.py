"""The manual-match workbench through Django's test client (the browser journeys are in
test_admin_browser.py): what it lists, what it refuses, and the match it makes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from ledgers.models import AuditEvent
from reconciliation.admin.manual import manual_match_url
from reconciliation.models import Match

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_workbench_opens_with_the_item_ticked_and_gl_near_it(client_for, world):
    item = world["transfer_item"]
    response = client_for("rita").get(manual_match_url(world["run"], items=[item.pk]))
    assert response.status_code == 200
    bank = {row["id"]: row for row in response.context["bank_rows"]}
    assert bank[item.pk]["selected"]
    # The other free items of the run stay on the bank side, to tick more of them.
    assert world["free_item"].pk in bank
    # GL-3 (77.00 on 25 Nov) is outside the ±3-day window of the 6 Nov item: not offered
    # until the reviewer widens the dates.
    assert world["free_gl"].pk not in {row["id"] for row in response.context["gl_rows"]}


def test_searching_wider_finds_the_gl_entry_and_keeps_the_selection(client_for, world):
    item, gl = world["transfer_item"], world["free_gl"]
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_manual_match", args=[world["run"].pk]),
        {"action": "search", "items": [item.pk], "amount_min": "77", "amount_max": "77"},
    )
    assert response.status_code == 200
    assert gl.pk in {row["id"] for row in response.context["gl_rows"]}
    assert [r["id"] for r in response.context["bank_rows"] if r["selected"]] == [item.pk]


def test_a_reviewer_matches_one_item_with_one_gl_entry(client_for, world, cast):
    item, gl = world["transfer_item"], world["free_gl"]
    back = reverse("admin:reconciliation_sourceentry_change", args=[item.pk])
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_manual_match", args=[world["run"].pk]),
        {"action": "match", "items": [item.pk], "gl": [gl.pk], "note": "paid late", "next": back},
    )
    assert response.status_code == 302
    assert response["Location"] == back
    match = Match.objects.get(source_links__source_entry=item, status="accepted")
    assert (match.kind, match.shape, match.note) == ("manual", "one_to_one", "paid late")
    assert match.created_by == cast["rita"][0]
    item.refresh_from_db()
    assert item.match_status == "matched"
    assert AuditEvent.objects.filter(subject_id=match.pk, actor=cast["rita"][0]).exists()
    assert any("Matched 1 bank item with 1 GL entry" in m for m in _messages(response))


def test_two_instalments_are_matched_with_one_invoice(client_for, split):
    run = split["items"][0].run
    items = [i.pk for i in split["items"]]
    page = client_for("rita").get(manual_match_url(run, items=items))
    # The GL side is searched near the selection's total (150.00) and dates.
    assert split["gl"].pk in {row["id"] for row in page.context["gl_rows"]}
    assert page.context["bank_totals"]["text"] == "150.00"
    client_for("rita").post(
        reverse("admin:reconciliation_run_manual_match", args=[run.pk]),
        {"action": "match", "items": items, "gl": [split["gl"].pk]},
    )
    match = Match.objects.get(ledger_links__ledger_entry=split["gl"])
    assert (match.shape, match.difference) == ("many_to_one", Decimal("0"))


def test_an_item_already_matched_is_refused_with_the_reason(client_for, world):
    accepted = world["accepted"]
    item = accepted.source_links.get().source_entry
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_manual_match", args=[world["run"].pk]),
        {"action": "match", "items": [item.pk], "gl": [world["free_gl"].pk]},
        follow=True,
    )
    assert any("already in a suggested or accepted match" in m for m in _messages(response))
    assert Match.objects.filter(kind="manual").count() == 0


def test_a_viewer_cannot_open_the_workbench(client_for, world):
    url = manual_match_url(world["run"], items=[world["transfer_item"].pk])
    assert client_for("bob").get(url).status_code == 403


def test_another_organization_gets_404(client_for, world):
    url = manual_match_url(world["run"], items=[world["transfer_item"].pk])
    assert client_for("charlie").get(url).status_code == 404


def test_the_item_page_offers_match_with_gl_only_for_a_free_item(client_for, world):
    free = world["transfer_item"]
    matched = world["accepted"].source_links.get().source_entry
    client = client_for("rita")
    page = client.get(reverse("admin:reconciliation_sourceentry_change", args=[free.pk]))
    assert 'id="match-with-gl"' in page.content.decode()
    page = client.get(reverse("admin:reconciliation_sourceentry_change", args=[matched.pk]))
    assert 'id="match-with-gl"' not in page.content.decode()


def test_from_a_gl_entry_the_workbench_opens_in_its_run(client_for, world):
    gl = world["free_gl"]
    response = client_for("rita").get(
        reverse("admin:reconciliation_run_match_from_gl", args=[gl.pk])
    )
    assert response.status_code == 302
    assert response["Location"].startswith(
        reverse("admin:reconciliation_run_manual_match", args=[world["run"].pk])
    )
    assert f"gl={gl.pk}" in response["Location"]


def test_the_list_action_sends_items_of_one_run_to_the_workbench(client_for, world):
    items = [world["transfer_item"].pk, world["free_item"].pk]
    response = client_for("rita").post(
        reverse("admin:reconciliation_sourceentry_changelist"),
        {"action": "match_selected", "_selected_action": items},
    )
    assert response.status_code == 302
    assert all(f"items={pk}" in response["Location"] for pk in items)
