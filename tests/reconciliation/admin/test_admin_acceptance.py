"""Issue #7's acceptance, told as a reviewer's morning on `make run`'s demo data.

The demo run arrives auto-matched with suggestions waiting (bank fees, twin card payments)
and two bank-only lines (a fee and interest). A reviewer works through all of it in the
admin alone -- review screen, the items list's close form, the run's close button -- and
the run ends closed with every suggestion decided and every item matched or closed.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from ledgers.choices import MembershipRole
from ledgers.models import AuditEvent
from ledgers.services import user_setup
from reconciliation.models import Discrepancy, Match, Run, SourceEntry

pytestmark = pytest.mark.django_db

MATCH_ID = re.compile(r"/admin/reconciliation/match/([0-9a-f-]{36})/review/")
SELECTED = re.compile(r'name="_selected_action" value="([0-9a-f-]{36})"')


@pytest.mark.slow
def test_a_reviewer_works_through_the_demo_run_entirely_in_the_admin(
    django_capture_on_commit_callbacks,
):
    # `make run`: demo data, the statement uploaded into an automatic run, matched by the
    # (eager) worker once the upload commits.
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())
    run = Run.objects.get(note="November 2026 (demo)")
    assert run.status == "completed"
    waiting = Match.objects.filter(run=run, status="suggested").count()
    assert waiting >= 6

    reviewer, _, _ = user_setup(
        username="rev",
        organization_name="Demo",
        role=MembershipRole.REVIEWER,
        password=None,
        staff=True,
    )
    client = Client()
    client.force_login(reviewer)
    run_url = reverse("admin:reconciliation_run_change", args=[run.pk])

    # 1. The run page says how many suggestions wait.
    page = client.get(run_url).content.decode()
    assert f"Review suggestions ({waiting})" in page

    # 2. The queue: decide each suggestion; the next one opens by itself.
    response = client.get(reverse("admin:reconciliation_match_review") + f"?run={run.pk}")
    decided = 0
    while response.status_code == 302 and MATCH_ID.search(response["Location"]):
        screen = client.get(response["Location"])
        html = screen.content.decode()
        assert f"Suggestion 1 of {waiting - decided}" in html
        match = Match.objects.get(pk=MATCH_ID.search(response["Location"]).group(1))
        note = "bank fee" if match.difference else "same amount and day"
        response = client.post(
            response["Location"], {"decision": "accept", "note": note, "run": str(run.pk)}
        )
        decided += 1
        assert decided <= waiting
    assert decided == waiting
    done = client.get(response["Location"]).content.decode()
    assert "No suggestions left to review" in done

    # 3. What is left unmatched is bank-only: close it with a reason through the form.
    items_url = (
        reverse("admin:reconciliation_sourceentry_changelist")
        + f"?run__id__exact={run.pk}&match_status__exact=unmatched"
    )
    listing = client.get(items_url).content.decode()
    leftovers = SELECTED.findall(listing)
    assert len(leftovers) == 2  # the account fee and the credit interest
    selection = {"action": "close_selected", "_selected_action": leftovers}
    form = client.post(items_url, selection).content.decode()
    assert 'id="close-items-form"' in form
    client.post(
        items_url,
        {**selection, "post": "yes", "reason": "manual_review", "note": "book in December"},
    )

    # 4. The accepted bank fees left amount_mismatch discrepancies: close them as explained.
    fees_url = (
        reverse("admin:reconciliation_discrepancy_changelist")
        + f"?run__id__exact={run.pk}&kind__exact=amount_mismatch&status__exact=open"
    )
    fees = SELECTED.findall(client.get(fees_url).content.decode())
    assert (
        len(fees) == Match.objects.filter(run=run, status="accepted").exclude(difference=0).count()
    )
    action = {"action": "close_selected", "_selected_action": fees, "index": 0}
    confirm = client.post(fees_url, action).content.decode()
    assert 'id="close-discrepancies-form"' in confirm  # nothing closes without a reason
    assert Discrepancy.objects.filter(run=run, kind="amount_mismatch", status="open").exists()
    client.post(fees_url, {**action, "post": "yes", "reason": "other", "note": "bank fees"})
    assert not Discrepancy.objects.filter(run=run, kind="amount_mismatch", status="open").exists()

    # 5. Close the run after the confirmation page says nothing is left.
    close_url = reverse("admin:reconciliation_run_close", args=[run.pk])
    confirm = client.get(close_url).content.decode()
    assert "Every suggestion is decided and every item is matched or closed" in confirm
    client.post(close_url, {"note": "November reconciled"})

    run.refresh_from_db()
    assert run.status == "closed"
    assert not Match.objects.filter(run=run, status="suggested").exists()
    assert not SourceEntry.objects.filter(run=run, match_status="unmatched").exists()
    assert set(SourceEntry.objects.filter(run=run).values_list("match_status", flat=True)) <= {
        "matched",
        "partial",
        "closed",
    }
    by_reviewer = AuditEvent.objects.filter(run_id=run.pk, actor=reviewer)
    assert by_reviewer.filter(action="match.accepted").count() == waiting
    assert by_reviewer.filter(action="item.closed").count() == 2
    assert by_reviewer.filter(action="run.closed").count() == 1
    assert by_reviewer.filter(action="discrepancy.updated").count() == len(fees)

    # 6. A decision on the closed run is refused with a message, not a 500.
    accepted = Match.objects.filter(run=run, status="accepted").first()
    refused = client.post(
        reverse("admin:reconciliation_match_review_one", args=[accepted.pk]),
        {"decision": "reject"},
        follow=True,
    )
    assert refused.status_code == 200
    assert "The run is closed" in refused.content.decode()
