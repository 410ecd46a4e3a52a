"""Fault injection against the real service (issue #13): each test breaks one process in
the middle of real work and asserts what a user would see afterwards, then runs the SQL
integrity checks (reconciliation/integrity.py) over the whole database.

"Same counts as an undisturbed run": the month is matched once, undisturbed, through the
synchronous auto-match route; a run that survived a fault must end with exactly its
numbers (accepted and suggested matches, items, open discrepancies).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.reliability.conftest import RUNS, Month, new_ledger, new_run, upload, upload_each
from tests.reliability.harness import (
    Database,
    Stack,
    children,
    run_counts,
    run_state,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

_BASELINE: dict[str, dict[str, int]] = {}


def baseline(stack: Stack, month: Month) -> dict[str, int]:
    if not _BASELINE:
        ledger = new_ledger(stack, month, "baseline")
        run = new_run(stack, ledger, mode="manual")
        assert upload(stack, run, month).status_code == 201
        response = stack.api("POST", f"{RUNS}/{run}/auto-match")
        assert response.status_code == 200, response.text
        _BASELINE["counts"] = run_counts(stack.db, run)
    return _BASELINE["counts"]


def _upload_for_worker(stack: Stack, month: Month, name: str) -> str:
    run = new_run(stack, new_ledger(stack, month, name))
    response = upload(stack, run, month)
    assert response.status_code == 201, response.text
    return run


def _wait_for_lease(db: Database, run: str) -> None:
    """Until a worker holds the run's lease: it is matching now."""
    wait_until(
        lambda: db.query(
            "SELECT 1 FROM reconciliation_matchrequest WHERE run_id = %s AND lease_owner <> ''",
            [run],
        ),
        timeout=120,
        interval=0.05,
        what="a worker to start matching",
    )


def _wait_for_end(stack: Stack, run: str, *, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        wait_until(
            lambda: run_state(stack.db, run)["status"] != "running",
            timeout=timeout,
            what=f"run {run} to finish",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{run_state(stack.db, run)}\n{stack.logs_tail()}") from exc
    state = run_state(stack.db, run)
    state["seconds"] = time.monotonic() - started
    assert state["status"] == "completed", (state, stack.logs_tail())
    assert state["request"] is None  # nothing left owed
    return state


def _still_matching(stack: Stack, run: str) -> None:
    state = run_state(stack.db, run)
    assert state["status"] == "running", (
        "the pass ended before the fault: raise RELIABILITY_CASES so it lasts longer",
        state,
    )


def test_a_worker_killed_mid_match_is_replaced_and_the_run_completes(
    stack: Stack, month: Month
) -> None:
    expected = baseline(stack, month)
    worker = stack.start_worker("first")
    run = _upload_for_worker(stack, month, "whole worker killed")
    _wait_for_lease(stack.db, run)
    time.sleep(0.5)
    worker.kill_group()  # main process and pool child, no goodbye: the message stays unacked
    _still_matching(stack, run)

    stack.start_worker("second")
    # Not the broker's visibility timeout (an hour): the lease expires, the sweep re-queues.
    state = _wait_for_end(stack, run, timeout=120)
    assert run_counts(stack.db, run) == expected
    assert stack.integrity() == []
    assert state["seconds"] < 120
    (attempts,), *_ = stack.db.query(
        "SELECT match_attempts FROM reconciliation_run WHERE id = %s", [run]
    )
    assert attempts == 1  # re-queued once, by the sweep, when the dead worker's lease expired


def test_a_pool_child_killed_mid_match_is_redelivered_and_the_run_completes(
    stack: Stack, month: Month
) -> None:
    expected = baseline(stack, month)
    worker = stack.start_worker("worker")
    run = _upload_for_worker(stack, month, "pool child killed")
    _wait_for_lease(stack.db, run)
    time.sleep(0.5)
    (child,) = children(worker.pid)
    os.kill(child, signal.SIGKILL)  # the main process sees it and re-queues the message
    _still_matching(stack, run)

    _wait_for_end(stack, run, timeout=120)
    assert run_counts(stack.db, run) == expected
    assert stack.integrity() == []


# Workers share a run of two currencies (services/match_parts.py) from this many free rows.
SHARED = {"RUN_MATCH_WORKERS": "2", "RUN_MATCH_PARTITION_MIN_ROWS": "1000"}


def _two_currency_baseline(stack: Stack, two_currencies: Month) -> dict[str, int]:
    """Counts of the two-currency month matched once, undisturbed, in one task."""
    if "two currencies" not in _BASELINE:
        ledger = new_ledger(stack, two_currencies, "two currencies, baseline")
        run = new_run(stack, ledger, mode="manual")
        upload_each(stack, run, two_currencies)
        response = stack.api("POST", f"{RUNS}/{run}/auto-match")
        assert response.status_code == 200, response.text
        _BASELINE["two currencies"] = run_counts(stack.db, run)
    return _BASELINE["two currencies"]


def _shared_run_with_a_worker_killed(
    stack: Stack, month: Month, name: str, *, victim: Callable[[Any], bool], what: str
) -> tuple[str, Any, Any]:
    """Two workers share a run of `month` (SHARED); the first whose log shows `victim` is
    SIGKILLed (with its pool) 0.3 s later. Returns the run, the killed worker, the other."""
    workers = [stack.start_worker(f"{name.replace(' ', '-')}-{n}", **SHARED) for n in (1, 2)]
    run = new_run(stack, new_ledger(stack, month, name))
    upload_each(stack, run, month)
    killed = wait_until(
        lambda: next((w for w in workers if victim(w)), None),
        timeout=120,
        interval=0.05,
        what=what,
    )
    time.sleep(0.3)
    killed.kill_group()
    (survivor,) = (w for w in workers if w is not killed)
    return run, killed, survivor


def test_a_helper_killed_mid_part_leaves_its_part_to_the_lease_holder(
    stack: Stack, two_currencies: Month
) -> None:
    expected = _two_currency_baseline(stack, two_currencies)
    # One worker holds the lease and matches one part; the other takes the helper task and
    # the other part, and dies in the middle of it.
    run, helper, _ = _shared_run_with_a_worker_killed(
        stack, two_currencies, "helper killed", victim=_taking_a_part_as_helper,
        what="a helper to take a part",
    )  # fmt: skip
    assert "matched" not in _after_helper_took_part(helper), (
        "the helper finished its part before the kill: raise RELIABILITY_CASES"
    )

    _wait_for_end(stack, run, timeout=120)
    assert run_counts(stack.db, run) == expected
    assert stack.db.query("SELECT count(*) FROM reconciliation_matchpart") == [(0,)]
    assert stack.integrity() == []


def test_a_lease_holder_killed_mid_part_keeps_the_parts_committed_and_a_new_task_ends_the_run(
    stack: Stack, two_currencies: Month
) -> None:
    expected = _two_currency_baseline(stack, two_currencies)
    # The worker that planned the parts holds the run's lease; it dies in the middle of its
    # own part, while the other worker matches the other part as a helper.
    run, holder, survivor = _shared_run_with_a_worker_killed(
        stack, two_currencies, "holder killed", victim=_matching_its_own_part,
        what="the lease holder to take a part",
    )  # fmt: skip
    assert " matched" not in _after_holder_took_part(holder), (
        "the lease holder finished its part before the kill: raise RELIABILITY_CASES"
    )
    _still_matching(stack, run)

    # The survivor commits its part (and takes the dead holder's once the rollback frees
    # it); the sweep hands the run to a new task when the lease expires, which plans again
    # over what is still free and completes the run.
    _wait_for_end(stack, run, timeout=120)
    assert "matched" in _after_helper_took_part(survivor)
    (attempts,), *_ = stack.db.query(
        "SELECT match_attempts FROM reconciliation_run WHERE id = %s", [run]
    )
    assert attempts == 1  # the dead holder's lease expired once and the sweep re-queued
    assert run_counts(stack.db, run) == expected
    assert stack.db.query("SELECT count(*) FROM reconciliation_matchpart") == [(0,)]
    assert stack.integrity() == []


def _after_holder_took_part(worker: Any) -> str:
    log = str(worker.tail(1_000_000))
    plan = log.find("parts by up to")
    part = log.find("matching part", plan) if plan >= 0 else -1
    return log[part + len("matching part") :] if part >= 0 else ""


def _matching_its_own_part(worker: Any) -> bool:
    return bool(_after_holder_took_part(worker))


def _after_helper_took_part(worker: Any) -> str:
    log = str(worker.tail(1_000_000))
    helper_task = log.find("run_auto_match_part[")
    if helper_task < 0:
        return ""
    part = log.find("matching part", helper_task)
    return log[part + len("matching part") :] if part >= 0 else ""


def _taking_a_part_as_helper(worker: Any) -> bool:
    return bool(_after_helper_took_part(worker))


def test_an_upload_while_redis_is_down_is_matched_when_it_returns(
    stack: Stack, month: Month
) -> None:
    expected = baseline(stack, month)
    stack.start_worker("worker")
    ledger = new_ledger(stack, month, "broker down")
    run = new_run(stack, ledger)
    stack.stop_redis()

    response = upload(stack, run, month)
    assert response.status_code == 201, response.text  # committed, whatever the broker does
    state = run_state(stack.db, run)
    assert state["status"] == "running"
    assert state["request"] is not None
    assert state["request"][2] is False  # in the outbox, not with a broker

    time.sleep(3)
    stack.start_redis()  # same port, empty: the outbox is all that remembers the request
    _wait_for_end(stack, run, timeout=120)
    assert run_counts(stack.db, run) == expected
    assert stack.integrity() == []


def test_a_database_outage_during_a_match_is_outlasted(stack: Stack, month: Month) -> None:
    expected = baseline(stack, month)
    worker = stack.start_worker("worker")
    run = _upload_for_worker(stack, month, "database down")
    _wait_for_lease(stack.db, run)
    time.sleep(0.5)
    stack.db.stop()  # every connection closed mid-transaction, new ones refused
    time.sleep(20)
    stack.db.start()

    _wait_for_end(stack, run, timeout=180)
    assert run_counts(stack.db, run) == expected
    assert stack.integrity() == []
    assert "database error (OperationalError); retry" in worker.tail(100_000)  # backed off


# Within this many seconds a request answers 503 while PostgreSQL is frozen (#13 §3).
FROZEN_ANSWER_SECONDS = 10


def test_a_frozen_database_answers_503_quickly(stack: Stack) -> None:
    # Warm the web threads first: a thread that already holds a persistent connection checks
    # it before reuse, and that check must give up on a frozen server, not hang.
    with ThreadPoolExecutor(max_workers=8) as pool:
        warm = list(pool.map(lambda _: stack.api("GET", "/v1/ledgers").status_code, range(32)))
    assert set(warm) == {200}
    pids = stack.db.freeze()
    try:
        for path in ("/v1/ledgers", "/v1/ledgers", "/healthz"):
            started = time.monotonic()
            response = stack.api("GET", path)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert elapsed < FROZEN_ANSWER_SECONDS, (path, elapsed)
            if path.startswith("/v1/"):
                assert response.json()["errors"][0]["code"] == "service_unavailable"
                assert response.headers.get("Retry-After")
    finally:
        stack.db.thaw(pids)
    wait_until(lambda: stack.api("GET", "/healthz").status_code == 200, timeout=60, what="recovery")
    assert stack.integrity() == []


def test_an_idempotency_key_is_free_at_once_after_its_request_died(
    stack: Stack, month: Month
) -> None:
    ledger = new_ledger(stack, month, "request killed")
    run = new_run(stack, ledger, mode="manual")
    outcome: dict[str, Any] = {}

    def first_attempt() -> None:
        try:
            outcome["response"] = upload(stack, run, month, idempotency_key="march-upload")
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=first_attempt)
    thread.start()
    # The upload imports in one transaction: kill the web workers while it is open.
    wait_until(
        lambda: stack.db.query(
            "SELECT 1 FROM pg_stat_activity WHERE datname = 'recon' AND xact_start IS NOT NULL"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ),
        timeout=60,
        interval=0.02,
        what="the upload's transaction",
    )
    assert stack.web is not None
    for pid in children(stack.web.pid):
        os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert "error" in outcome, ("the upload finished before the kill", outcome)

    wait_until(
        lambda: stack.api("GET", "/healthz").status_code == 200, timeout=60, what="new workers"
    )
    started = time.monotonic()
    retry = upload(stack, run, month, idempotency_key="march-upload")
    assert retry.status_code == 201, retry.text  # not 409 idempotency_in_progress
    assert time.monotonic() - started < FROZEN_ANSWER_SECONDS
    again = upload(stack, run, month, idempotency_key="march-upload")
    assert again.json() == retry.json()  # the replay of the one that got through
    assert stack.integrity() == []


@pytest.mark.parametrize("target", ["one run", "ten runs of one ledger"])
def test_parallel_uploads_of_one_file_import_it_once(
    stack: Stack, month: Month, target: str
) -> None:
    ledger = new_ledger(stack, month, f"parallel {target}")
    if target == "one run":
        runs = [new_run(stack, ledger, mode="manual")] * 10
    else:
        runs = [new_run(stack, ledger, mode="manual") for _ in range(10)]
    barrier = threading.Barrier(10)
    responses: list[requests.Response] = []

    def send(run: str) -> None:
        barrier.wait()
        responses.append(upload(stack, run, month))

    threads = [threading.Thread(target=send, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.text[:200] for r in responses]
    codes = {r.json()["errors"][0]["code"] for r in responses if r.status_code == 409}
    assert codes == {"duplicate_file"}
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    (stored,), *_ = stack.db.query(
        "SELECT count(*) FROM reconciliation_sourceentry e JOIN reconciliation_run r"
        " ON r.id = e.run_id WHERE r.ledger_id = %s",
        [ledger],
    )
    assert stored == winner["imported"]
    assert stack.integrity() == []
