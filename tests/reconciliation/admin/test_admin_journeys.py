"""Month-end close in a real Chromium (#14 acceptance): each journey a reviewer takes.

Manual match 1:1 and N:1 from the item page; undo after accept and after reject; bulk
discrepancy close needs a reason; the report page's figures equal the API's; close, then
approve by a second person, after which every write is refused.
(DJANGO_ALLOW_ASYNC_UNSAFE: see test_admin_browser.py.)
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from ledgers.models import AuditEvent, LedgerEntry
from reconciliation.models import Discrepancy, Match, Run
from tests.browser import ARTIFACTS, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _item_page(live_server, item) -> str:
    return f"{live_server.url}/admin/reconciliation/sourceentry/{item.pk}/change/"


def test_manual_match_one_to_one_from_the_item_page(browser, live_server, world, cast):
    item, gl = world["transfer_item"], world["free_gl"]
    page = login(browser, live_server, "rita")
    page.goto(_item_page(live_server, item))
    page.click("#match-with-gl")
    page.wait_for_selector("#manual-match-form")
    assert page.is_checked(f"#bank-{item.pk}")
    assert page.inner_text("#bank-total") == "77.00"
    # GL-3 is outside the date window: widen the search to the amount only.
    page.fill("#id_date_from", "")
    page.fill("#id_date_to", "")
    with page.expect_navigation():
        page.click("#search-button")
    page.check(f"#gl-{gl.pk}")
    assert page.inner_text("#difference") == "0.00"
    assert page.is_enabled("#match-button")
    page.fill("#note", "paid late")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manual-match.png"), full_page=True)
    with page.expect_navigation():
        page.click("#match-button")
    assert "Matched 1 bank item with 1 GL entry" in page.inner_text(".messagelist")
    assert page.url.rstrip("/").endswith(f"{item.pk}/change")
    match = Match.objects.get(source_links__source_entry=item)
    assert (match.kind, match.status, match.note) == ("manual", "accepted", "paid late")
    assert match.created_by == cast["rita"][0]
    page.context.close()


def test_manual_match_two_instalments_with_one_invoice(browser, live_server, split):
    invoice = split["gl"]
    first, second = sorted(split["items"], key=lambda item: item.booking_date)
    page = login(browser, live_server, "rita")
    page.goto(_item_page(live_server, first))
    page.click("#match-with-gl")
    page.wait_for_selector("#manual-match-form")
    page.check(f"#bank-{second.pk}")  # the second instalment, on the bank side
    assert page.inner_text("#bank-count") == "2"
    assert page.inner_text("#bank-total") == "150.00"
    # The GL side was searched near 100.00; search again near what is ticked now.
    with page.expect_navigation():
        page.click("#near-button")
    assert page.is_checked(f"#bank-{second.pk}")
    page.check(f"#gl-{invoice.pk}")
    assert page.inner_text("#difference") == "0.00"
    with page.expect_navigation():
        page.click("#match-button")
    match = Match.objects.get(ledger_links__ledger_entry=invoice)
    assert (match.shape, match.difference) == ("many_to_one", Decimal("0"))
    page.context.close()


def test_mixed_currencies_disable_the_match_button(browser, live_server, world, alice):
    from ledgers.services import LedgerEntryInput, ledger_entries_create

    run = world["run"]
    (usd,) = ledger_entries_create(
        ledger=run.ledger,
        items=[
            LedgerEntryInput(
                external_id="GL-USD",
                amount=Decimal("77.00"),
                currency="USD",
                booking_date=dt.date(2026, 11, 6),
            )
        ],
        actor=alice,
    ).entries
    page = login(browser, live_server, "rita")
    page.goto(_item_page(live_server, world["transfer_item"]))
    page.click("#match-with-gl")
    page.wait_for_selector("#manual-match-form")
    page.check(f"#gl-{usd.pk}")
    assert "Currencies differ" in page.inner_text("#currency-check")
    assert not page.is_enabled("#match-button")
    page.context.close()


def test_undo_after_accept_and_after_reject(browser, live_server, world):
    match = world["suggested"]
    page = login(browser, live_server, "rita")
    review = f"{live_server.url}/admin/reconciliation/match/{match.pk}/review/"
    page.goto(review)
    with page.expect_navigation():
        page.keyboard.press("a")
    assert Match.objects.get(pk=match.pk).status == "accepted"
    with page.expect_navigation():
        page.click('[data-undo="unmatch"]')
    assert "Undone" in page.inner_text(".messagelist")
    assert Match.objects.get(pk=match.pk).status == "suggested"

    page.goto(review)
    with page.expect_navigation():
        page.keyboard.press("r")
    assert Match.objects.get(pk=match.pk).status == "rejected"
    with page.expect_navigation():
        page.click('[data-undo="reopen"]')
    assert Match.objects.get(pk=match.pk).status == "suggested"
    actions = list(
        AuditEvent.objects.filter(subject_id=match.pk)
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions[-4:] == ["match.accepted", "match.unmatched", "match.rejected", "match.reopened"]
    page.context.close()


def test_bulk_discrepancy_close_requires_a_reason(browser, live_server, world):
    run = world["run"]
    open_ones = list(Discrepancy.objects.filter(run=run, status="open"))
    page = login(browser, live_server, "rita")
    page.goto(
        f"{live_server.url}/admin/reconciliation/discrepancy/?run__id__exact={run.pk}&status=open"
    )
    page.check("#action-toggle")
    page.select_option('select[name="action"]', "close_selected")
    with page.expect_navigation():
        page.click('button[name="index"]')
    page.wait_for_selector("#close-discrepancies-form")
    page.click("#confirm-close-discrepancies")  # no reason chosen: the browser refuses
    assert page.eval_on_selector("#id_reason", "el => el.validity.valueMissing")
    assert page.locator("#close-discrepancies-form").count() == 1
    ids = [d.pk for d in open_ones]
    assert set(Discrepancy.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"open"}
    page.select_option("#id_reason", "timing_difference")
    page.fill("#id_note", "clears in December")
    with page.expect_navigation():
        page.click("#confirm-close-discrepancies")
    assert "now closed" in page.inner_text(".messagelist")
    closed = Discrepancy.objects.filter(pk__in=[d.pk for d in open_ones])
    assert {(d.status, d.close_reason, d.note) for d in closed} == {
        ("closed", "timing_difference", "clears in December")
    }
    page.context.close()


def test_the_report_page_shows_the_apis_figures(browser, live_server, world, api_client_for):
    run = world["run"]
    api = api_client_for("bob").get(f"/v1/ledgers/reconciliation/runs/{run.pk}/report").json()
    page = login(browser, live_server, "bob")
    page.goto(f"{live_server.url}/admin/reconciliation/run/{run.pk}/change/")
    page.click("#report-button")
    page.wait_for_selector("#statement")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert api["book_balance"] in page.inner_text("#book-balance")
    assert api["adjusted_book_balance"] in page.inner_text("#adjusted-book")
    assert api["period_end"] in page.inner_text("#period-end")
    outstanding = api["deposits_in_transit"]
    assert outstanding["total"] in page.inner_text("#section-deposits_in_transit")
    page.context.close()


def test_close_then_approve_by_a_second_person_then_every_write_is_refused(
    browser, live_server, world, cast
):
    run = world["run"]
    rita = login(browser, live_server, "rita")
    rita.goto(f"{live_server.url}/admin/reconciliation/run/{run.pk}/change/")
    rita.click("#close-run-button")
    rita.wait_for_selector("#close-run-form")
    assert "cannot balance" in rita.inner_text("#report-state")  # a CSV without balances
    rita.fill("#id_reason", "CSV export has no balances; checked against the portal")
    with rita.expect_navigation():
        rita.click("#confirm-close")
    assert Run.objects.get(pk=run.pk).status == "closed"
    # The preparer is not offered the approval.
    assert rita.locator("#approve-button").count() == 0
    rita.context.close()

    alice = login(browser, live_server, "alice")
    alice.goto(f"{live_server.url}/admin/reconciliation/run/{run.pk}/change/")
    alice.click("#approve-button")
    alice.wait_for_selector("#approve-form")
    with alice.expect_navigation():
        alice.click("#confirm-approve")
    assert "Approved" in alice.inner_text(".messagelist")
    run.refresh_from_db()
    assert (run.approved_by, run.closed_by) == (cast["alice"][0], cast["rita"][0])
    assert "approved by alice" in alice.inner_text("#sign-off")
    # Every write is refused now: the screens offer none, and a forged one is refused.
    alice.goto(f"{live_server.url}/admin/reconciliation/match/{world['accepted'].pk}/review/")
    assert alice.locator("#reject-button").count() == 0
    assert alice.locator("#unmatch-button").count() == 0
    alice.context.close()
    client = api_client_for_writes(cast)
    for method, path, body in (
        ("post", f"/v1/ledgers/reconciliation/runs/{run.pk}/auto-match", {}),
        ("patch", f"/v1/ledgers/reconciliation/runs/{run.pk}", {"note": "x"}),
        ("post", f"/v1/ledgers/reconciliation/matches/{world['accepted'].pk}/reject", {}),
    ):
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 409, path
        assert response.json()["errors"][0]["code"] == "run_approved"
    assert LedgerEntry.objects.filter(ledger=run.ledger).count() == 3


def api_client_for_writes(cast):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {cast['alice'][2]}")
    return client


def test_the_run_list_fits_a_1440_pixel_screen(browser, live_server, world):
    page = login(browser, live_server, "rita")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/admin/reconciliation/run/")
    page.wait_for_selector("#result_list")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440
    assert "1 suggestion" in page.inner_text("#result_list")
    page.context.close()
