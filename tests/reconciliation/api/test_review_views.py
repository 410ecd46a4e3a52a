"""Items, gl-only, gl-all, discrepancies, events; item close/reopen (API.md, issue 6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledgers.models import AuditEvent, LedgerEntry
from reconciliation.models import Discrepancy, SourceEntry

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"
ITEM_LIST_QUERIES = 5  # token, memberships, run (with counts), COUNT, page


def test_items_filter_by_status_amount_date_and_text(api_client_for, world):
    client = api_client_for("bob")
    url = f"{RUNS}/{world['run'].pk}/items"
    assert client.get(url).json()["count"] == 5
    assert client.get(url, {"match_status": "closed"}).json()["count"] == 1
    # A pending suggestion leaves its item unmatched (API.md): 3 unmatched + 1 closed.
    assert client.get(url, {"match_status": ["unmatched", "closed"]}).json()["count"] == 4
    assert client.get(url, {"amount_min": "50", "amount_max": "99"}).json()["count"] == 2
    assert client.get(url, {"booking_date_from": "2026-11-05"}).json()["count"] == 2
    [hit] = client.get(url, {"search": "inv-1002"}).json()["results"]
    assert hit["amount"] == "97.50"
    assert client.get(url, {"amount_min": "abc"}).status_code == 400
    assert client.get(url, {"match_status": "lost"}).status_code == 400


def test_items_page_with_a_cursor(api_client_for, world):
    client = api_client_for("bob")
    url = f"{RUNS}/{world['run'].pk}/items"
    first = client.get(url, {"cursor": "", "limit": 2}).json()
    assert "count" not in first
    seen = [r["id"] for r in first["results"]]
    page = first
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == len(set(seen)) == 5
    dates = [SourceEntry.objects.get(pk=i).booking_date for i in seen]
    assert dates == sorted(dates)
    assert client.get(url, {"cursor": "!!!"}).status_code == 400


def _bulk_items(run, source_file, n: int) -> None:
    SourceEntry.objects.bulk_create(
        SourceEntry(
            run=run,
            source_file=source_file,
            statement=source_file.statements.first(),
            ledger_id=run.ledger_id,
            line=1000 + i,
            booking_date=dt.date(2026, 1, 1) + dt.timedelta(days=i % 300),
            amount=Decimal(i),
            currency="EUR",
            fingerprint=f"bulk{i}",
        )
        for i in range(n)
    )


@pytest.mark.slow
def test_a_deep_cursor_page_costs_the_same_queries_as_the_first(
    api_client_for, world, django_assert_num_queries
):
    _bulk_items(world["run"], world["file"], 50_000)
    client = api_client_for("bob")
    url = f"{RUNS}/{world['run'].pk}/items"
    with django_assert_num_queries(ITEM_LIST_QUERIES - 1):  # no COUNT with a cursor
        first = client.get(url, {"cursor": "", "limit": 500}).json()
    cursor_page = first
    for _ in range(60):  # walk deep into the run
        cursor_page = client.get(cursor_page["next"]).json()
    with django_assert_num_queries(ITEM_LIST_QUERIES - 1):
        deep = client.get(cursor_page["next"]).json()
    assert len(deep["results"]) == 500


@pytest.mark.parametrize("n", [0, 40])
def test_item_lists_cost_fixed_queries(api_client_for, world, n, django_assert_num_queries):
    _bulk_items(world["run"], world["file"], n)
    with django_assert_num_queries(ITEM_LIST_QUERIES):
        api_client_for("bob").get(f"{RUNS}/{world['run'].pk}/items")


def test_gl_only_excludes_entries_linked_in_this_or_another_run(api_client_for, world, alice):
    from reconciliation.models import SourceFile, Statement
    from reconciliation.services.matches import match_create_manual
    from reconciliation.services.runs import run_create

    client = api_client_for("bob")
    url = f"{RUNS}/{world['run'].pk}/gl-only"
    assert [r["external_id"] for r in client.get(url).json()["results"]] == ["GL-3"]
    other = run_create(ledger=world["run"].ledger, actor=alice)
    sf = SourceFile.objects.create(
        run=other, ledger=other.ledger, filename="x", status="processed", sha256="0", size_bytes=1
    )
    statement = Statement.objects.create(source_file=sf, run=other, ledger=other.ledger, index=0)
    entry = SourceEntry.objects.create(
        run=other,
        source_file=sf,
        statement=statement,
        ledger=other.ledger,
        line=1,
        booking_date=dt.date(2026, 11, 25),
        amount=Decimal("77"),
        currency="EUR",
        fingerprint="o",
    )
    match_create_manual(
        run=other, source_entry_ids=[entry.pk], ledger_entry_ids=[world["free_gl"].pk], actor=alice
    )
    assert client.get(url).json()["results"] == []


def test_gl_all_shows_each_entry_with_its_link_state(api_client_for, world):
    rows = api_client_for("bob").get(f"{RUNS}/{world['run'].pk}/gl-all").json()["results"]
    state = {r["external_id"]: (r["link_state"], r["match_id"]) for r in rows}
    assert state["GL-1"] == ("accepted", str(world["accepted"].pk))
    assert state["GL-2"] == ("suggested", str(world["suggested"].pk))
    assert state["GL-3"] == ("unlinked", None)


def test_discrepancies_filter_and_update(api_client_for, world):
    client = api_client_for("rita")
    url = f"{RUNS}/{world['run'].pk}/discrepancies"
    kinds = {d["kind"] for d in client.get(url).json()["results"]}
    # GL-3 (Nov 25) lies outside the statement's dates (Nov 2-6): not "missing in statement".
    assert kinds == {"missing_in_ledger", "amount_mismatch"}
    assert client.get(url, {"kind": "amount_mismatch"}).json()["results"][0]["amount"] == "-2.50"
    assert client.get(url, {"severity": "lost"}).status_code == 400
    target = world["discrepancy"]
    response = client.patch(
        f"{BASE}/discrepancies/{target.pk}",
        {"status": "in_review", "note": "asking the bank"},
        format="json",
    )
    assert (response.status_code, response.json()["status"]) == (200, "in_review")
    assert client.patch(f"{BASE}/discrepancies/{target.pk}", {}, format="json").status_code == 400
    assert AuditEvent.objects.filter(action="discrepancy.updated", subject_id=target.pk).exists()


def test_closing_and_reopening_an_item_round_trips(api_client_for, world, alice_ledger):
    client = api_client_for("rita")
    item, discrepancy = world["free_item"], world["discrepancy"]
    closed = client.post(
        f"{BASE}/items/{item.pk}/close",
        {"ledger_id": str(alice_ledger.pk), "reason": "write_off", "note": "below threshold"},
        format="json",
    )
    assert closed.status_code == 200, closed.content
    assert (closed.json()["match_status"], closed.json()["close_reason"]) == ("closed", "write_off")
    assert Discrepancy.objects.get(pk=discrepancy.pk).status == "closed"
    reopened = client.post(f"{BASE}/items/{item.pk}/reopen")
    assert reopened.json()["match_status"] == "unmatched"
    assert Discrepancy.objects.get(pk=discrepancy.pk).status == "open"
    actions = list(AuditEvent.objects.filter(subject_id=item.pk).values_list("action", flat=True))
    assert actions == ["item.closed", "item.reopened"]
    events = client.get(f"{RUNS}/{world['run'].pk}/events", {"subject_id": str(item.pk)}).json()
    assert [e["action"] for e in events["results"]] == ["item.closed", "item.reopened"]
    assert events["results"][0]["actor"] == "rita"


def test_closing_with_another_ledger_id_is_400(api_client_for, world, charlie_ledger):
    response = api_client_for("rita").post(
        f"{BASE}/items/{world['free_item'].pk}/close",
        {"ledger_id": str(charlie_ledger.pk), "reason": "other"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "ledger_id"


def test_closing_a_matched_item_is_409(api_client_for, world, alice_ledger):
    matched = world["accepted"].source_links.get().source_entry
    response = api_client_for("rita").post(
        f"{BASE}/items/{matched.pk}/close",
        {"ledger_id": str(alice_ledger.pk), "reason": "other"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["current_status"] == "matched"


def test_an_unknown_close_reason_is_400(api_client_for, world, alice_ledger):
    response = api_client_for("rita").post(
        f"{BASE}/items/{world['free_item'].pk}/close",
        {"ledger_id": str(alice_ledger.pk), "reason": "because"},
        format="json",
    )
    assert response.status_code == 400


def test_events_survive_run_deletion(api_client_for, world):
    client = api_client_for("alice")
    run_id = world["run"].pk
    assert client.delete(f"{RUNS}/{run_id}").status_code == 204
    events = client.get(f"{RUNS}/{run_id}/events", {"limit": 500}).json()["results"]
    assert events[-1]["action"] == "run.deleted"
    assert events[0]["action"] == "run.created"
    assert api_client_for("charlie").get(f"{RUNS}/{run_id}/events").status_code == 404
    assert LedgerEntry.objects.filter(ledger=world["run"].ledger).count() == 3
