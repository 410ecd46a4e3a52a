"""The reviewer's admin screens in a real Chromium (Playwright, sync API), keyboard first.

Playwright's sync API runs an asyncio event loop in this thread. Django refuses ORM calls
from a thread with a running loop (SynchronousOnlyOperation) although nothing here is
async: the test and the live server only share the database. DJANGO_ALLOW_ASYNC_UNSAFE
lifts that guard; it is set for this module, where the loop is Playwright's and not ours.

Screenshots go to test-artifacts/ (gitignored) for a look at the review screen.
"""

from __future__ import annotations

import os
import re

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from ledgers.models import AuditEvent
from reconciliation.models import Match, SourceEntry
from tests.browser import ARTIFACTS, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_decides_with_the_keyboard_and_closes_an_item(
    browser, live_server, cast, world, second_suggestion
):
    ARTIFACTS.mkdir(exist_ok=True)
    rita = cast["rita"][0]
    run = world["run"]
    # The queue is ordered by score: 55.00 vs 57.00 (2.00 off) before 97.50 vs 100.00.
    first, then = second_suggestion, world["suggested"]
    page = login(browser, live_server, "rita")

    # The run page, then the queue: the best score first.
    page.goto(f"{live_server.url}/admin/reconciliation/run/{run.pk}/change/")
    page.click("#review-button")
    page.wait_for_selector("#position")
    assert page.inner_text("#position") == "Suggestion 1 of 2"
    assert "-2.00 EUR" in page.inner_text("#difference")
    page.screenshot(path=str(ARTIFACTS / "review-screen.png"), full_page=True)

    # A accepts; the next suggestion opens by itself.
    with page.expect_navigation():
        page.keyboard.press("a")
    page.wait_for_selector("#position")
    assert page.inner_text("#position") == "Suggestion 1 of 1"
    assert str(then.pk) in page.url
    assert "accepted" in page.inner_text(".messagelist")

    # Typing "r" in the note types it; Esc leaves the field, then R rejects.
    page.click("#note")
    page.keyboard.type("wrong customer, really")
    assert Match.objects.get(pk=then.pk).status == "suggested"
    page.screenshot(path=str(ARTIFACTS / "review-screen-with-note.png"), full_page=True)
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("r")
    page.wait_for_selector("#queue-done")
    page.screenshot(path=str(ARTIFACTS / "review-queue-done.png"), full_page=True)

    accepted = Match.objects.get(pk=first.pk)
    rejected = Match.objects.get(pk=then.pk)
    assert (accepted.status, accepted.decided_by) == ("accepted", rita)
    assert (rejected.status, rejected.note) == ("rejected", "wrong customer, really")
    assert AuditEvent.objects.filter(action="match.accepted", subject_id=first.pk, actor=rita)
    assert AuditEvent.objects.get(action="match.rejected", subject_id=rejected.pk).note == (
        "wrong customer, really"
    )

    # Close an unmatched item with a reason through the intermediate form.
    item = world["free_item"]
    page.goto(
        f"{live_server.url}/admin/reconciliation/sourceentry/"
        f"?run__id__exact={run.pk}&match_status__exact=unmatched"
    )
    page.check(f'input[name="_selected_action"][value="{item.pk}"]')
    page.select_option('select[name="action"]', "close_selected")
    with page.expect_navigation():
        page.click('button[name="index"]')
    page.wait_for_selector("#close-items-form")
    page.select_option("#id_reason", "write_off")
    page.fill("#id_note", "interest, booked by hand")
    page.screenshot(path=str(ARTIFACTS / "close-items-form.png"), full_page=True)
    with page.expect_navigation():
        page.click("#confirm-close-items")
    assert re.search(r"Closed 1 item", page.inner_text(".messagelist"))

    item = SourceEntry.objects.get(pk=item.pk)
    assert (item.match_status, item.close_reason) == ("closed", "write_off")
    event = AuditEvent.objects.get(action="item.closed", subject_id=item.pk)
    assert (event.actor, event.note) == (rita, "interest, booked by hand")
    page.context.close()


def test_a_viewer_sees_no_action_buttons(browser, live_server, world):
    page = login(browser, live_server, "bob")
    page.goto(f"{live_server.url}/admin/reconciliation/run/{world['run'].pk}/change/")
    page.wait_for_selector("#run-summary")
    for button in ("#auto-match-button", "#close-run-button", "#upload-button"):
        assert page.locator(button).count() == 0
    page.click("#review-button")
    page.wait_for_selector("#position")
    assert page.locator("#accept-button").count() == 0
    assert page.locator("#reject-button").count() == 0
    page.keyboard.press("a")  # nothing to press: the page stays, nothing changes
    page.wait_for_timeout(300)
    assert Match.objects.get(pk=world["suggested"].pk).status == "suggested"
    page.screenshot(path=str(ARTIFACTS / "review-screen-viewer.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/reconciliation/match/")
    assert page.locator('select[name="action"]').count() == 0
    page.context.close()
