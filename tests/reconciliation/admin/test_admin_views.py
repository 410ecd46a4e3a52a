"""The reconciliation admin through Django's test client: roles, tenancy, decisions, forms.

Every write here must go through a service, so each test also checks the audit event the
service writes (the same one the API writes).
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledgers.models import AuditEvent
from reconciliation.models import Discrepancy, Match, Run, SourceEntry, SourceFile
from reconciliation.services.runs import run_close

pytestmark = pytest.mark.django_db

CHANGELISTS = ["run", "sourcefile", "sourceentry", "match", "discrepancy"]
# Session, user, memberships, the RelatedOnly filters' choices, the page (counts are
# annotated subqueries or, for runs, grouped queries cached per run version; never one
# query per row)... Pinned on purpose: update them deliberately, never to "fix" a test.
CHANGELIST_QUERIES = {"run": 10, "sourcefile": 8, "sourceentry": 10, "match": 9, "discrepancy": 9}


def review_url(match: Match) -> str:
    return reverse("admin:reconciliation_match_review_one", args=[match.pk])


def change_url(obj: object) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def changelist_url(model: str) -> str:
    return reverse(f"admin:reconciliation_{model}_changelist")


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- rendering and query counts --------------------------------------------------------------


def _add_units(ledger, alice, start: int, count: int) -> None:
    """`count` more rows of every kind: `count` GL entries, one run whose file has `count`
    matching and `count` unmatched lines (auto-matched once), and `count - 1` more runs
    with a one-line file each, so runs and files grow by `count` too."""
    import datetime as dt

    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.services.auto_match import run_auto_match
    from reconciliation.services.imports import source_file_upload
    from reconciliation.services.runs import run_create

    def upload(run, name: str, lines: list[str]) -> None:
        csv = "\n".join(["Booking date,Amount,Reference,Description,Counterparty", *lines])
        data = (csv + "\n").encode()
        source_file_upload(
            run=run, stream=io.BytesIO(data), filename=name, size=len(data), actor=alice
        )

    numbers = range(start, start + count)
    ledger_entries_create(
        ledger=ledger,
        items=[
            LedgerEntryInput(
                external_id=f"U-{i}",
                amount=Decimal("100.00") + i,
                currency="EUR",
                booking_date=dt.date(2026, 11, 2),
                reference=f"INV-{9000 + i}",
                counterparty="ACME GmbH",
            )
            for i in numbers
        ],
        actor=alice,
    )
    run = run_create(ledger=ledger, actor=alice, note=f"units from {start}")
    upload(
        run,
        f"units-{start}.csv",
        [
            f"2026-11-02,{Decimal('100.00') + i},INV-{9000 + i},Invoice {9000 + i},ACME GmbH"
            for i in numbers
        ]
        + [f"2026-11-03,{5000 + i}.00,,Unknown {i},Somebody" for i in numbers],
    )
    run_auto_match(run=run, actor=alice)
    for i in list(numbers)[1:]:
        extra = run_create(ledger=ledger, actor=alice, note=f"unit {i}")
        upload(extra, f"unit-{i}.csv", [f"2026-11-04,{7000 + i}.00,,Other {i},Somebody"])


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.slow
def test_every_changelist_costs_the_same_queries_for_1_and_30_rows(
    client_for, alice_ledger, alice, django_assert_num_queries
):
    client = client_for("rita")
    _add_units(alice_ledger, alice, 0, 1)
    for model in CHANGELISTS:
        client.get(changelist_url(model))  # warm caches (content types, permissions)
    one = {model: _queries(client, changelist_url(model)) for model in CHANGELISTS}
    _add_units(alice_ledger, alice, 1, 29)
    for model in CHANGELISTS:
        client.get(changelist_url(model))  # the run counts are cached per run version
    thirty = {model: _queries(client, changelist_url(model)) for model in CHANGELISTS}
    assert thirty == one == CHANGELIST_QUERIES
    assert (Run.objects.count(), SourceFile.objects.count(), Match.objects.count()) == (30, 30, 30)
    assert SourceEntry.objects.count() == 2 + 58 + 28
    for model in CHANGELISTS:
        with django_assert_num_queries(CHANGELIST_QUERIES[model]):
            client.get(changelist_url(model))


def test_every_change_page_and_history_renders(client_for, world):
    client = client_for("rita")
    objects = [
        world["run"],
        world["file"],
        world["free_item"],
        world["accepted"],
        world["suggested"],
        world["discrepancy"],
    ]
    for obj in objects:
        response = client.get(change_url(obj))
        assert response.status_code == 200, obj
        opts = obj._meta
        history = reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk])
        assert client.get(history).status_code == 200, obj


def test_the_run_page_tells_where_the_run_stands(client_for, world):
    response = client_for("rita").get(change_url(world["run"]))
    html = response.content.decode()
    assert 'id="run-summary"' in html
    counts = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "unmatched 3 · matched 1 · partial 0 · closed 1" in counts
    assert "suggested 1 · accepted 1 · rejected 0" in counts
    assert "world.csv" in html
    assert "Review suggestions (1)" in html
    assert 'id="auto-match-button"' in html
    assert 'id="close-run-button"' in html
    assert 'id="upload-button"' in html


# --- roles ---------------------------------------------------------------------------------


def test_a_viewer_sees_no_action_buttons(client_for, world):
    bob = client_for("bob")
    run_page = bob.get(change_url(world["run"])).content.decode()
    for button in ("auto-match-button", "close-run-button", "upload-button"):
        assert f'id="{button}"' not in run_page
    assert "View suggestions (1)" in run_page
    review = bob.get(review_url(world["suggested"]))
    assert review.status_code == 200
    html = review.content.decode()
    assert 'id="accept-button"' not in html
    assert 'id="reject-button"' not in html
    for model in ("match", "sourceentry", "discrepancy"):
        listing = bob.get(changelist_url(model)).content.decode()
        assert 'name="action"' not in listing, model
    item_page = bob.get(change_url(world["free_item"])).content.decode()
    assert 'id="close-item"' not in item_page


@pytest.mark.parametrize(
    ("route", "data"),
    [
        ("review", {"decision": "accept"}),
        ("review", {"decision": "reject", "note": "no"}),
        ("upload", {}),
        ("auto_match", {}),
        ("close_run", {}),
        ("close_item", {"reason": "write_off"}),
    ],
)
def test_a_viewer_cannot_post_decisions(client_for, world, route, data):
    urls = {
        "review": review_url(world["suggested"]),
        "upload": reverse("admin:reconciliation_run_upload", args=[world["run"].pk]),
        "auto_match": reverse("admin:reconciliation_run_auto_match", args=[world["run"].pk]),
        "close_run": reverse("admin:reconciliation_run_close", args=[world["run"].pk]),
        "close_item": reverse(
            "admin:reconciliation_sourceentry_close", args=[world["free_item"].pk]
        ),
    }
    events = AuditEvent.objects.count()
    response = client_for("bob").post(urls[route], data)
    assert response.status_code == 403
    assert AuditEvent.objects.count() == events
    world["suggested"].refresh_from_db()
    assert world["suggested"].status == "suggested"


def test_a_viewer_cannot_run_a_bulk_action_by_posting_it(client_for, world):
    response = client_for("bob").post(
        changelist_url("match"),
        {"action": "accept_selected", "_selected_action": [world["suggested"].pk], "post": "yes"},
    )
    # The action is not offered to a viewer, so Django refuses the form; nothing changes.
    assert response.status_code in (200, 302, 403)
    world["suggested"].refresh_from_db()
    assert world["suggested"].status == "suggested"


# --- review screen --------------------------------------------------------------------------


def test_the_review_screen_shows_both_sides_and_why(client_for, world):
    response = client_for("rita").get(review_url(world["suggested"]))
    html = response.content.decode()
    assert "Suggestion 1 of 1" in html
    assert "-2.50 EUR" in html  # the difference, big
    assert "97.50 EUR" in html
    assert "100.00 EUR" in html
    assert "Beta AG" in html
    assert "INV-1002" in html
    assert "≠" in html  # amount differs
    assert "name similar (100 %)" in html  # the engine's words, as in the "why" line
    assert "same reference INV1002" in html
    assert 'id="why"' in html
    assert 'data-key="a"' in html
    assert 'data-key="r"' in html


def test_each_field_verdict_says_what_the_engines_explanation_says(world):
    """One wording and one figure per field: the side-by-side verdicts come from the
    engine's scoring functions, so they repeat the stored explanation, never contradict it."""
    from reconciliation.admin.formatting import explanation_rows, plain_detail
    from reconciliation.admin.review import comparison_rows
    from reconciliation.selectors import match_ledger_entries, match_source_entries
    from reconciliation.services.auto_match import run_match_settings

    match = world["suggested"]
    rows = comparison_rows(
        match,
        match_source_entries(match=match),
        match_ledger_entries(match=match),
        run_match_settings(match.run),
    )
    verdicts = {row.label.lower(): row.verdict.text for row in rows if row.verdict}
    why = {row["criterion"].lower(): plain_detail(row["detail"]) for row in explanation_rows(match)}
    for field in ("amount", "date", "reference", "counterparty", "description"):
        assert verdicts[field] == why[field], field


def test_the_queue_starts_with_the_best_score(client_for, world, second_suggestion):
    # 55.00 vs 57.00 (2.00 off) scores above 97.50 vs 100.00 (2.50 off), both within 5.00.
    first, then = second_suggestion, world["suggested"]
    assert first.score > then.score
    client = client_for("rita")
    response = client.get(reverse("admin:reconciliation_match_review") + f"?run={world['run'].pk}")
    assert response.status_code == 302
    assert response["Location"].startswith(review_url(first))
    page = client.get(response["Location"]).content.decode()
    assert "Suggestion 1 of 2" in page
    assert review_url(then) in page  # the Next link


def test_a_reviewer_accepts_on_the_review_screen_and_the_next_one_opens(
    client_for, cast, world, second_suggestion
):
    rita = cast["rita"][0]
    run_id = world["run"].pk
    response = client_for("rita").post(
        review_url(world["suggested"]), {"decision": "accept", "note": "", "run": str(run_id)}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{review_url(second_suggestion)}?run={run_id}"
    match = Match.objects.get(pk=world["suggested"].pk)
    assert (match.status, match.decided_by) == ("accepted", rita)
    event = AuditEvent.objects.get(action="match.accepted", subject_id=match.pk)
    assert event.actor == rita
    assert event.after == {"status": "accepted"}


def test_a_reviewer_rejects_with_a_note(client_for, cast, world):
    response = client_for("rita").post(
        review_url(world["suggested"]), {"decision": "reject", "note": "not the same invoice"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:reconciliation_match_review")  # queue empty
    match = Match.objects.get(pk=world["suggested"].pk)
    assert (match.status, match.note) == ("rejected", "not the same invoice")
    event = AuditEvent.objects.get(action="match.rejected", subject_id=match.pk)
    assert (event.actor, event.note) == (cast["rita"][0], "not the same invoice")


def test_the_empty_queue_says_so(client_for, world):
    run = world["run"]
    client = client_for("rita")
    client.post(review_url(world["suggested"]), {"decision": "accept"})
    page = client.get(reverse("admin:reconciliation_match_review") + f"?run={run.pk}")
    assert page.status_code == 200
    assert "No suggestions left to review" in page.content.decode()


def test_a_decision_on_a_closed_run_shows_an_error_message(client_for, world, alice):
    run_close(run=world["run"], actor=alice, reason="CSV statement without balances")
    client = client_for("rita")
    response = client.post(review_url(world["suggested"]), {"decision": "accept"}, follow=True)
    assert response.status_code == 200
    assert any("The run is closed" in text for text in texts(response))
    html = response.content.decode()
    assert 'id="run-closed"' in html
    assert 'id="accept-button"' not in html
    world["suggested"].refresh_from_db()
    assert world["suggested"].status == "suggested"


def test_other_candidates_list_the_twin_suggestion(client_for, world, alice):
    """Two equal card payments: each suggestion names the other GL entry as a candidate."""
    import datetime as dt

    from ledgers.services import LedgerEntryInput, ledger_entries_create
    from reconciliation.services.auto_match import run_auto_match
    from reconciliation.services.imports import source_file_upload

    run = world["run"]
    ledger_entries_create(
        ledger=run.ledger,
        items=[
            LedgerEntryInput(
                external_id=f"FUEL-{n}",
                amount=Decimal("-49.90"),
                currency="EUR",
                booking_date=dt.date(2026, 11, 12),
                description="Card payment fuel",
            )
            for n in (1, 2)
        ],
        actor=alice,
    )
    csv = (
        b"Booking date,Amount,Reference,Description,Counterparty\n"
        b"2026-11-12,-49.90,,CARD 4711 TANKSTELLE,\n2026-11-12,-49.90,,CARD 4711 TANKSTELLE,\n"
    )
    source_file_upload(
        run=run, stream=io.BytesIO(csv), filename="twins.csv", size=len(csv), actor=alice
    )
    run_auto_match(run=run, actor=alice)
    twins = Match.objects.filter(run=run, status="suggested", source_total=Decimal("-49.90"))
    assert twins.count() == 2
    html = client_for("rita").get(review_url(twins[0])).content.decode()
    assert 'id="candidates"' in html
    assert "suggested elsewhere" in html


# --- bulk decisions -------------------------------------------------------------------------


def test_bulk_accept_shows_a_confirmation_page_then_accepts(client_for, cast, world):
    client = client_for("rita")
    suggested = world["suggested"]
    selection = {"action": "accept_selected", "_selected_action": [suggested.pk]}
    page = client.post(changelist_url("match"), selection)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="bulk-items"' in html
    assert "suggested → accepted" in html
    assert Match.objects.get(pk=suggested.pk).status == "suggested"  # nothing yet

    done = client.post(changelist_url("match"), {**selection, "post": "yes", "note": "fees"})
    assert done.status_code == 302
    match = Match.objects.get(pk=suggested.pk)
    assert (match.status, match.note) == ("accepted", "fees")
    assert AuditEvent.objects.filter(
        action="match.accepted", subject_id=suggested.pk, actor=cast["rita"][0]
    ).exists()


def test_bulk_accept_reports_each_refused_row_as_an_error(client_for, world):
    client = client_for("rita")
    rejected = world["accepted"]
    client.post(review_url(rejected), {"decision": "reject"})
    response = client.post(
        changelist_url("match"),
        {"action": "accept_selected", "_selected_action": [rejected.pk], "post": "yes"},
        follow=True,
    )
    assert any("cannot be accepted" in text for text in texts(response))
    assert Match.objects.get(pk=rejected.pk).status == "rejected"


# --- items ----------------------------------------------------------------------------------


def test_closing_an_item_asks_for_a_reason_then_closes_it(client_for, cast, world):
    client = client_for("rita")
    item = world["free_item"]
    selection = {"action": "close_selected", "_selected_action": [item.pk]}
    form = client.post(changelist_url("sourceentry"), selection)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="reason"' in html
    assert "Write-off" in html
    assert SourceEntry.objects.get(pk=item.pk).match_status == "unmatched"

    done = client.post(
        changelist_url("sourceentry"),
        {**selection, "post": "yes", "reason": "write_off", "note": "small credit"},
    )
    assert done.status_code == 302
    item.refresh_from_db()
    assert (item.match_status, item.close_reason, item.close_note) == (
        "closed",
        "write_off",
        "small credit",
    )
    event = AuditEvent.objects.get(action="item.closed", subject_id=item.pk)
    assert (event.actor, event.note) == (cast["rita"][0], "small credit")
    assert Discrepancy.objects.get(pk=world["discrepancy"].pk).status == "closed"


def test_closing_without_a_reason_shows_the_form_again(client_for, world):
    item = world["free_item"]
    response = client_for("rita").post(
        changelist_url("sourceentry"),
        {"action": "close_selected", "_selected_action": [item.pk], "post": "yes", "reason": ""},
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    item.refresh_from_db()
    assert item.match_status == "unmatched"


def test_a_matched_item_is_not_closed_and_the_error_is_shown(client_for, world):
    matched = SourceEntry.objects.get(run=world["run"], match_status="matched")
    response = client_for("rita").post(
        changelist_url("sourceentry"),
        {
            "action": "close_selected",
            "_selected_action": [matched.pk],
            "post": "yes",
            "reason": "other",
        },
        follow=True,
    )
    assert any("reject the match before closing" in text for text in texts(response))
    matched.refresh_from_db()
    assert matched.match_status == "matched"


def test_an_item_is_closed_and_reopened_from_its_own_page(client_for, world):
    client = client_for("rita")
    item = world["transfer_item"]
    page = client.get(change_url(item)).content.decode()
    assert 'id="close-item"' in page
    close = reverse("admin:reconciliation_sourceentry_close", args=[item.pk])
    assert client.get(close).status_code == 200
    client.post(close, {"reason": "timing_difference"})
    item.refresh_from_db()
    assert (item.match_status, item.close_reason) == ("closed", "timing_difference")
    client.post(reverse("admin:reconciliation_sourceentry_reopen", args=[item.pk]))
    item.refresh_from_db()
    assert item.match_status == "unmatched"
    assert AuditEvent.objects.filter(action="item.reopened", subject_id=item.pk).exists()


def test_imported_facts_are_read_only(client_for, world):
    item = world["free_item"]
    client = client_for("alice")  # even an admin
    amount = item.amount
    response = client.post(change_url(item), {"amount": "1.00"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.amount == amount
    delete = reverse("admin:reconciliation_sourceentry_delete", args=[item.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


# --- discrepancies --------------------------------------------------------------------------


def test_discrepancies_are_marked_in_review_then_closed(client_for, world):
    client = client_for("rita")
    discrepancy = world["discrepancy"]
    steps = (
        ("mark_in_review", {}, "in_review"),
        ("close_selected", {"post": "yes", "reason": "manual_review"}, "closed"),
    )
    for action, confirm, status in steps:
        client.post(
            changelist_url("discrepancy"),
            {"action": action, "_selected_action": [discrepancy.pk], "index": 0, **confirm},
        )
        discrepancy.refresh_from_db()
        assert discrepancy.status == status
    assert (
        AuditEvent.objects.filter(action="discrepancy.updated", subject_id=discrepancy.pk).count()
        == 2
    )


# --- run page actions -----------------------------------------------------------------------


def test_uploading_a_statement_imports_it(client_for, world):
    csv = b"Booking date,Amount,Reference,Description\n2026-11-10,12.00,X-1,Coffee\n"
    upload = io.BytesIO(csv)
    upload.name = "more.csv"
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_upload", args=[world["run"].pk]),
        {"file": upload, "format": ""},
        follow=True,
    )
    assert any("imported 1 entries" in text for text in texts(response))
    assert SourceFile.objects.filter(run=world["run"], filename="more.csv").exists()


def test_uploading_the_same_file_again_shows_the_duplicate_error(client_for, world):
    from tests.conftest import WORLD_CSV

    upload = io.BytesIO(WORLD_CSV)
    upload.name = "again.csv"
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_upload", args=[world["run"].pk]),
        {"file": upload},
        follow=True,
    )
    assert response.status_code == 200
    assert any("already imported" in text and "duplicate_file" in text for text in texts(response))
    assert not SourceFile.objects.filter(filename="again.csv").exists()


def test_an_unparseable_statement_names_the_row(client_for, world):
    csv = b"Booking date,Amount,Reference\n2026-11-10,12.00,A\n2026-11-11,not money,B\n"
    upload = io.BytesIO(csv)
    upload.name = "broken.csv"
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_upload", args=[world["run"].pk]),
        {"file": upload, "format": "csv"},
        follow=True,
    )
    errors = [text for text in texts(response) if "broken.csv" in text]
    assert errors
    assert re.search(r"(row|line) 3", errors[0]), errors


def test_auto_match_from_the_run_page_reports_what_it_did(client_for, world):
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_auto_match", args=[world["run"].pk]), follow=True
    )
    assert any(text.startswith("Auto-match: 0 new matches") for text in texts(response))
    assert AuditEvent.objects.filter(action="run.auto_matched", run_id=world["run"].pk).exists()


def test_closing_a_run_asks_for_confirmation_and_a_reason_when_it_cannot_balance(client_for, world):
    """world's statement is a CSV without balances: its report cannot balance, so closing
    asks why (#14 sign-off), then records the reason and the note."""
    client = client_for("rita")
    url = reverse("admin:reconciliation_run_close", args=[world["run"].pk])
    page = client.get(url).content.decode()
    assert 'id="still-open"' in page
    assert "cannot balance" in page
    assert 'name="reason"' in page
    refused = client.post(url, {"note": "November done"})
    assert refused.status_code == 200
    assert refused.context["form"].errors["reason"]
    assert Run.objects.get(pk=world["run"].pk).status != "closed"
    client.post(url, {"note": "November done", "reason": "CSV export has no balances"})
    run = Run.objects.get(pk=world["run"].pk)
    assert run.status == "closed"
    event = AuditEvent.objects.get(action="run.closed", run_id=run.pk)
    assert event.note == "November done"
    assert event.after["reason"] == "CSV export has no balances"


def test_an_admin_can_delete_a_run_through_the_service(client_for, world):
    run = world["run"]
    client = client_for("alice")
    assert client.get(reverse("admin:reconciliation_run_delete", args=[run.pk])).status_code == 200
    client.post(reverse("admin:reconciliation_run_delete", args=[run.pk]), {"post": "yes"})
    assert not Run.objects.filter(pk=run.pk).exists()
    assert AuditEvent.objects.filter(action="run.deleted", subject_id=run.pk).exists()


def test_a_reviewer_cannot_delete_a_run(client_for, world):
    run = world["run"]
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_delete", args=[run.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Run.objects.filter(pk=run.pk).exists()


# --- tenancy --------------------------------------------------------------------------------


def test_charlie_sees_no_rows_of_org_a(client_for, world):
    charlie = client_for("charlie")
    for model in CHANGELISTS:
        response = charlie.get(changelist_url(model))
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0, model


@pytest.mark.parametrize("key", ["run", "file", "free_item", "suggested", "discrepancy"])
def test_charlie_gets_doesnt_exist_for_org_a_objects(client_for, world, key):
    response = client_for("charlie").get(change_url(world[key]), follow=True)
    assert any("doesn\u2019t exist" in text for text in texts(response))


@pytest.mark.parametrize("route", ["review", "close_item", "close_run", "upload", "auto_match"])
def test_charlie_gets_404_from_the_custom_screens(client_for, world, route):
    urls = {
        "review": review_url(world["suggested"]),
        "close_item": reverse(
            "admin:reconciliation_sourceentry_close", args=[world["free_item"].pk]
        ),
        "close_run": reverse("admin:reconciliation_run_close", args=[world["run"].pk]),
        "upload": reverse("admin:reconciliation_run_upload", args=[world["run"].pk]),
        "auto_match": reverse("admin:reconciliation_run_auto_match", args=[world["run"].pk]),
    }
    charlie = client_for("charlie")
    assert charlie.post(urls[route], {"decision": "accept"}).status_code == 404
    world["suggested"].refresh_from_db()
    assert world["suggested"].status == "suggested"


def test_charlies_review_queue_of_alices_run_is_404(client_for, world):
    url = reverse("admin:reconciliation_match_review") + f"?run={world['run'].pk}"
    assert client_for("charlie").get(url).status_code == 404


def test_an_item_in_a_pending_suggestion_is_not_offered_for_closing(client_for, world):
    client = client_for("rita")
    item = SourceEntry.objects.get(match_links__match=world["suggested"])
    assert item.match_status == "unmatched"
    assert 'id="close-item"' not in client.get(change_url(item)).content.decode()
    form = client.post(
        changelist_url("sourceentry"), {"action": "close_selected", "_selected_action": [item.pk]}
    )
    assert "refused: in a pending suggestion" in form.content.decode()


def test_every_count_on_the_run_page_links_to_a_working_filtered_list(client_for, world):
    client = client_for("rita")
    html = client.get(change_url(world["run"])).content.decode()
    links = re.findall(r'href="(/admin/reconciliation/[a-z]+/\?[^"]+)"', html)
    assert len(links) >= 8
    for link in {link.replace("&amp;", "&") for link in links}:
        response = client.get(link)
        assert response.status_code == 200, link
        assert "?e=1" not in response.get("Location", ""), link  # an invalid lookup


def test_an_admin_adds_a_run_through_the_service(client_for, alice_ledger):
    response = client_for("alice").post(
        reverse("admin:reconciliation_run_add"),
        {"ledger": alice_ledger.pk, "mode": "manual", "note": "December"},
    )
    assert response.status_code == 302
    run = Run.objects.get(note="December")
    assert run.status == "pending"
    assert AuditEvent.objects.filter(action="run.created", subject_id=run.pk).exists()


def test_a_reviewer_cannot_add_a_run(client_for, alice_ledger):
    response = client_for("rita").post(
        reverse("admin:reconciliation_run_add"), {"ledger": alice_ledger.pk, "mode": "manual"}
    )
    assert response.status_code == 403
    assert not Run.objects.exists()


def test_an_admin_deletes_a_source_file_through_the_service(client_for, world):
    source_file = world["file"]
    url = reverse("admin:reconciliation_sourcefile_delete", args=[source_file.pk])
    client = client_for("alice")
    assert client.get(url).status_code == 200
    client.post(url, {"post": "yes"})
    assert not SourceFile.objects.filter(pk=source_file.pk).exists()
    assert AuditEvent.objects.filter(action="source_file.deleted", subject_id=source_file.pk)


REVIEW_SCREEN_QUERIES = 17  # session, roles, the match, both sides, queue, candidates, period


def test_the_review_screen_costs_a_bounded_number_of_queries(
    client_for, world, django_assert_max_num_queries
):
    client = client_for("rita")
    client.get(review_url(world["suggested"]))  # warm caches
    with django_assert_max_num_queries(REVIEW_SCREEN_QUERIES):
        assert client.get(review_url(world["suggested"])).status_code == 200
