from __future__ import annotations

from typing import Any

import pytest

from ledgers.models import AuditEvent, IdempotencyRecord
from reconciliation.models import Run

pytestmark = pytest.mark.django_db
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"
RUN_LIST_QUERIES = 9  # token, memberships, COUNT(*), page, 4 grouped counts + statement periods


def create(client, ledger, **extra):
    return client.post(
        RUNS, {"ledger_id": str(ledger.pk), "mode": "automatic", **extra}, format="json"
    )


def test_a_run_is_created_pending_with_zero_counts(api_client_for, alice_ledger):
    response = create(api_client_for("alice"), alice_ledger, note="Nov 24")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["mode"], body["source_type"], body["note"]) == (
        "pending",
        "automatic",
        "upload",
        "Nov 24",
    )
    assert body["counts"] == {
        "items": {"unmatched": 0, "matched": 0, "partial": 0, "closed": 0},
        "matches": {"suggested": 0, "accepted": 0, "rejected": 0},
        "open_discrepancies": 0,
        "source_files": 0,
    }
    assert body["created_by"] == "alice"
    assert AuditEvent.objects.filter(action="run.created", subject_id=body["id"]).exists()


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"source_type": "ftp"}, "source_type"),
        ({"ledger_id": "not-a-uuid"}, "ledger_id"),
        ({"status": "closed"}, "status"),
        ({"match_settings": {"date_window_days": -1}}, "match_settings.date_window_days"),
    ],
)
def test_bad_run_fields_are_400(api_client_for, alice_ledger, body, attr):
    response = create(api_client_for("alice"), alice_ledger, **body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["attr"] == attr
    assert Run.objects.count() == 0


def test_an_unknown_ledger_is_404(api_client_for, cast):
    response = api_client_for("alice").post(
        RUNS, {"ledger_id": "00000000-0000-4000-8000-000000000000"}, format="json"
    )
    assert response.status_code == 404


def test_a_replayed_create_returns_the_original_201_and_creates_nothing(
    api_client_for, alice_ledger
):
    client = api_client_for("alice")
    first = create(client, alice_ledger, idempotency_key="2026-11-24")
    again = create(client, alice_ledger, idempotency_key="2026-11-24")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    assert Run.objects.count() == 1


def test_the_idempotency_key_may_come_as_a_header(api_client_for, alice_ledger):
    client = api_client_for("alice")
    first = (
        create(client, alice_ledger, HTTP_IDEMPOTENCY_KEY="k1")
        if False
        else client.post(
            RUNS, {"ledger_id": str(alice_ledger.pk)}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
    )
    again = client.post(
        RUNS, {"ledger_id": str(alice_ledger.pk)}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["idempotency_key"] == "k1"
    assert Run.objects.count() == 1


def test_the_same_key_with_another_body_is_409(api_client_for, alice_ledger):
    client = api_client_for("alice")
    create(client, alice_ledger, idempotency_key="k")
    response = create(client, alice_ledger, idempotency_key="k", note="different")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert Run.objects.count() == 1


def test_a_failed_keyed_create_releases_the_key(api_client_for, alice_ledger):
    client = api_client_for("alice")
    bad = create(
        client, alice_ledger, idempotency_key="k", account_id="00000000-0000-4000-8000-000000000000"
    )
    assert bad.status_code == 404
    assert create(client, alice_ledger, idempotency_key="k").status_code == 201
    assert IdempotencyRecord.objects.get(key="k").state == "done"


def test_keys_are_scoped_per_organization(api_client_for, alice_ledger, charlie_ledger):
    assert create(api_client_for("alice"), alice_ledger, idempotency_key="same").status_code == 201
    assert (
        create(api_client_for("charlie"), charlie_ledger, idempotency_key="same").status_code == 201
    )


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_create_exactly_one_run(
    api_client_for, alice_ledger, concurrently
):
    def post(_: int) -> tuple[int, str]:
        response = create(api_client_for("alice"), alice_ledger, idempotency_key="cron-2026-11-24")
        code = response.json()["errors"][0]["code"] if response.status_code == 409 else ""
        return response.status_code, code

    results = concurrently(20, post)
    assert Run.objects.count() == 1
    assert {status for status, _ in results} <= {201, 409}
    assert {code for status, code in results if status == 409} <= {"idempotency_in_progress"}
    created_ids = {
        create(api_client_for("alice"), alice_ledger, idempotency_key="cron-2026-11-24").json()[
            "id"
        ]
    }
    assert created_ids == {str(Run.objects.get().pk)}


def test_runs_are_listed_with_filters_and_ordering(api_client_for, alice_ledger, charlie_run):
    client = api_client_for("alice")
    create(client, alice_ledger, mode="manual")
    create(client, alice_ledger, mode="automatic")
    assert client.get(RUNS).json()["count"] == 2
    assert client.get(RUNS, {"mode": "manual"}).json()["count"] == 1
    assert (
        client.get(RUNS, {"status": "pending", "ledger_id": str(alice_ledger.pk)}).json()["count"]
        == 2
    )
    modes = [r["mode"] for r in client.get(RUNS, {"ordering": "mode"}).json()["results"]]
    assert modes == ["automatic", "manual"]
    assert client.get(RUNS, {"ordering": "secret"}).status_code == 400
    assert client.get(RUNS, {"limit": "1"}).json()["next"] is not None
    assert client.get(RUNS, {"limit": "0"}).status_code == 400
    assert client.get(RUNS, {"created_after": "2000-01-01"}).json()["count"] == 2


@pytest.mark.parametrize("n_runs", [1, 50])
def test_listing_runs_costs_the_same_queries_for_any_page_size(
    api_client_for, alice_ledger, alice, n_runs, django_assert_num_queries
):
    from reconciliation.services.runs import run_create

    for _ in range(n_runs):
        run_create(ledger=alice_ledger, actor=alice)
    with django_assert_num_queries(RUN_LIST_QUERIES):
        response = api_client_for("alice").get(RUNS)
    assert response.json()["count"] == n_runs


def test_patch_changes_only_the_note(api_client_for, alice_run):
    client = api_client_for("rita")
    response = client.patch(f"{RUNS}/{alice_run.pk}", {"note": "Nov"}, format="json")
    assert (response.status_code, response.json()["note"]) == (200, "Nov")
    response = client.patch(f"{RUNS}/{alice_run.pk}", {"status": "closed"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "status"


def test_a_closed_run_refuses_changes_and_deletion(api_client_for, alice_run):
    client = api_client_for("alice")
    closed = client.post(
        f"{RUNS}/{alice_run.pk}/close", {"reason": "no statement this month"}, format="json"
    )
    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert closed.json()["closed_at"] is not None
    for response in (
        client.patch(f"{RUNS}/{alice_run.pk}", {"note": "x"}, format="json"),
        client.delete(f"{RUNS}/{alice_run.pk}"),
    ):
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "run_closed"
    assert client.post(f"{RUNS}/{alice_run.pk}/close", {}, format="json").status_code == 200


def test_deleting_a_run_keeps_its_audit_trail(api_client_for, alice_run):
    response = api_client_for("alice").delete(f"{RUNS}/{alice_run.pk}")
    assert response.status_code == 204
    assert not Run.objects.filter(pk=alice_run.pk).exists()
    actions = list(AuditEvent.objects.filter(run_id=alice_run.pk).values_list("action", flat=True))
    assert actions == ["run.created", "run.deleted"]


def test_each_run_of_a_page_carries_its_own_counts(api_client_for, world, alice):
    """The counts are attached per page by grouped queries: each run gets its own."""
    from reconciliation.services.runs import run_create

    empty = run_create(ledger=world["run"].ledger, actor=alice)
    detail = api_client_for("rita").get(f"{RUNS}/{world['run'].pk}").json()["counts"]
    assert detail["items"]["unmatched"] > 0
    assert detail["matches"]["suggested"] > 0
    assert detail["source_files"] == 1
    assert detail["open_discrepancies"] > 0
    listed = {
        run["id"]: run["counts"]
        for run in api_client_for("rita").get(RUNS, {"limit": 500}).json()["results"]
    }
    assert listed[str(world["run"].pk)] == detail
    assert listed[str(empty.pk)] == {
        "items": {"unmatched": 0, "matched": 0, "partial": 0, "closed": 0},
        "matches": {"suggested": 0, "accepted": 0, "rejected": 0},
        "open_discrepancies": 0,
        "source_files": 0,
    }


def test_counts_follow_every_change_to_the_run(api_client_for, world):
    """Counts are cached per run version: a decision must show in the next view."""
    client = api_client_for("rita")
    url = f"{RUNS}/{world['run'].pk}"
    before = client.get(url).json()["counts"]
    assert client.get(url).json()["counts"] == before  # served again (cached)
    assert client.post(f"{BASE}/matches/{world['suggested'].pk}/accept").status_code == 200
    after = client.get(url).json()["counts"]
    assert after["matches"]["accepted"] == before["matches"]["accepted"] + 1
    assert after["matches"]["suggested"] == before["matches"]["suggested"] - 1
    listed = client.get(RUNS, {"limit": 500}).json()["results"]
    assert next(r for r in listed if r["id"] == str(world["run"].pk))["counts"] == after


def test_an_items_offset_page_by_status_counts_from_the_run_counts(
    api_client_for: Any, world: dict[str, Any]
) -> None:
    """`count` of an offset page filtered by match_status alone comes from the run's
    cached counts (no COUNT over the run's rows) and still follows every change; any
    other filter counts the rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reconciliation.models import SourceEntry

    client = api_client_for("rita")
    items = f"{RUNS}/{world['run'].pk}/items"
    client.get(f"{RUNS}/{world['run'].pk}")  # counts cached

    def real(**filters: Any) -> int:
        return SourceEntry.objects.filter(run=world["run"], **filters).count()

    def page(params: dict[str, Any]) -> tuple[int, bool]:
        with CaptureQueriesContext(connection) as captured:
            body = client.get(items, params).json()
        counted = any("COUNT(*)" in q["sql"] and "GROUP BY" not in q["sql"] for q in captured)
        return body["count"], counted

    assert page({"match_status": "unmatched", "ordering": "-amount"}) == (
        real(match_status="unmatched"),
        False,
    )
    assert page({"match_status": ["unmatched", "matched"]}) == (
        real(match_status__in=["unmatched", "matched"]),
        False,
    )
    assert page({"offset": 0}) == (real(), True)  # unfiltered: an index-only COUNT
    assert page({"match_status": "unmatched", "currency": "EUR"}) == (
        real(match_status="unmatched", currency="EUR"),
        True,
    )
    assert client.post(f"{BASE}/matches/{world['suggested'].pk}/accept").status_code == 200
    assert page({"match_status": "matched"}) == (real(match_status="matched"), False)
    assert page({"match_status": "unmatched"}) == (real(match_status="unmatched"), False)


def test_a_note_keeps_the_cached_counts_and_a_decision_refreshes_them(
    api_client_for: Any, world: dict[str, Any]
) -> None:
    """A note cannot move a run's counts, so it leaves their cache alone (recounting a big
    run reads every row); a decision still invalidates them."""
    client = api_client_for("rita")
    url = f"{RUNS}/{world['run'].pk}"

    def version() -> int:
        return Run.objects.get(pk=world["run"].pk).counts_version

    counts = client.get(url).json()["counts"]
    start = version()
    assert client.patch(url, {"note": "checked by rita"}, format="json").status_code == 200
    match_url = f"{BASE}/matches/{world['suggested'].pk}"
    noted = client.patch(f"{match_url}/note", {"note": "looks right"}, format="json")
    assert noted.status_code == 200
    assert version() == start
    assert client.get(url).json()["counts"] == counts
    assert client.post(f"{match_url}/accept").status_code == 200
    assert version() > start
    assert client.get(url).json()["counts"]["matches"]["accepted"] == (
        counts["matches"]["accepted"] + 1
    )
