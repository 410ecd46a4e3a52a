"""Concurrent writers against real PostgreSQL (issue #13 §1): each thread has its own
connection and only committed data is shared, as between gunicorn workers.

Uploads of one file, or of overlapping statements of one account, must queue on the
ledger's import lock (reconciliation/services/imports.py) instead of all getting in.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reconciliation.models import Run, SourceEntry, SourceFile

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = "/v1/ledgers/reconciliation/runs"


def statement(first: int, last: int) -> bytes:
    """A CSV whose rows first..last (inclusive) are the same rows in every statement."""
    rows = [
        f"2026-11-{1 + i % 28:02d},{100 + i}.{i % 100:02d},BR-{i},Payment {i}"
        for i in range(first, last + 1)
    ]
    return ("Booking date,Amount,Bank reference,Description\n" + "\n".join(rows) + "\n").encode()


def post_upload(client: Any, run: Run, content: bytes, name: str) -> tuple[int, dict[str, Any]]:
    handle = io.BytesIO(content)
    handle.name = name
    response = client.post(f"{RUNS}/{run.pk}/sources/upload", {"file": handle}, format="multipart")
    return response.status_code, response.json()


def new_runs(ledger: Any, actor: Any, n: int) -> list[Run]:
    from reconciliation.services.runs import run_create

    return [run_create(ledger=ledger, actor=actor, note=f"run {i}") for i in range(n)]


def outcome(results: list[tuple[int, dict[str, Any]]]) -> Counter[tuple[int, str]]:
    return Counter(
        (code, body["errors"][0]["code"] if code >= 400 else "") for code, body in results
    )


ROWS = 300


def test_ten_parallel_uploads_of_one_file_into_ten_runs_import_it_once(
    api_client_for: Any, alice_ledger: Any, alice: Any, concurrently: Any
) -> None:
    content = statement(1, ROWS)
    runs = new_runs(alice_ledger, alice, 10)
    results = concurrently(
        10, lambda i: post_upload(api_client_for("rita"), runs[i], content, f"nov-{i}.csv")
    )
    assert outcome(results) == {(201, ""): 1, (409, "duplicate_file"): 9}
    [winner] = [body for code, body in results if code == 201]
    assert winner["imported"] == ROWS
    for code, body in results:
        if code == 409:
            assert body["existing_source_file"] == winner["source_file"]
    assert SourceEntry.objects.filter(ledger=alice_ledger).count() == ROWS
    assert SourceFile.objects.filter(ledger=alice_ledger).count() == 1


def test_ten_parallel_uploads_of_one_file_into_one_run_import_it_once(
    api_client_for: Any, alice_run: Any, concurrently: Any
) -> None:
    content = statement(1, ROWS)
    results = concurrently(
        10, lambda i: post_upload(api_client_for("rita"), alice_run, content, "nov.csv")
    )
    assert outcome(results) == {(201, ""): 1, (409, "duplicate_file"): 9}
    assert SourceEntry.objects.filter(run=alice_run).count() == ROWS
    assert SourceFile.objects.filter(run=alice_run).count() == 1


def test_an_allowed_duplicate_still_imports_again_alongside_the_original(
    api_client_for: Any, alice_ledger: Any, alice: Any, concurrently: Any
) -> None:
    """allow_duplicate=true deliberately imports a file again: the lock must not stop it."""
    content = statement(1, 20)
    runs = new_runs(alice_ledger, alice, 3)

    def send(i: int) -> tuple[int, dict[str, Any]]:
        handle = io.BytesIO(content)
        handle.name = "again.csv"
        response = api_client_for("rita").post(
            f"{RUNS}/{runs[i].pk}/sources/upload",
            {"file": handle, "allow_duplicate": "true"},
            format="multipart",
        )
        return response.status_code, response.json()

    results = concurrently(3, send)
    assert [code for code, _ in results] == [201, 201, 201]
    assert SourceEntry.objects.filter(ledger=alice_ledger).count() == 60


@pytest.mark.parametrize("same_run", [True, False], ids=["one-run", "two-runs"])
def test_overlapping_statements_uploaded_at_once_never_double_an_entry(
    api_client_for: Any, alice_ledger: Any, alice: Any, concurrently: Any, same_run: bool
) -> None:
    # 1..200 and 101..300 share rows 101..200; whichever commits second skips those.
    files = [statement(1, 200), statement(101, 300)]
    runs = new_runs(alice_ledger, alice, 1 if same_run else 2)
    results = concurrently(
        2,
        lambda i: post_upload(
            api_client_for("rita"), runs[0 if same_run else i], files[i], f"part-{i}.csv"
        ),
    )
    assert [code for code, _ in results] == [201, 201]
    assert sorted(body["skipped_duplicates"] for _, body in results) == [0, 100]
    assert sum(body["imported"] for _, body in results) == 300
    entries = SourceEntry.objects.filter(ledger=alice_ledger)
    assert entries.count() == 300
    assert entries.values("bank_reference").distinct().count() == 300


def test_a_hundred_same_key_creates_make_one_run(api_client_for: Any, alice_ledger: Any) -> None:
    """100 requests with one idempotency key, 16 at a time (each thread holds a connection of
    the shared server's 100), released together: one run, every answer 201 or 409."""
    threads = 16
    barrier = threading.Barrier(threads)

    def create(_: int) -> tuple[int, str]:
        from django.db import connections

        response = api_client_for("alice").post(
            RUNS,
            {"ledger_id": str(alice_ledger.pk), "idempotency_key": "cron-2026-12-04"},
            format="json",
        )
        code = response.json()["errors"][0]["code"] if response.status_code == 409 else ""
        connections.close_all()
        return response.status_code, code

    def first_together(i: int) -> tuple[int, str]:
        if i < threads:
            barrier.wait(timeout=30)
        return create(i)

    run_all: Callable[[int], tuple[int, str]] = first_together
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(run_all, range(100)))
    assert Run.objects.filter(ledger=alice_ledger).count() == 1
    assert {code for code, _ in results} <= {200, 201, 409}
    assert {reason for code, reason in results if code == 409} <= {"idempotency_in_progress"}
    assert sum(1 for code, _ in results if code == 201) >= 1
