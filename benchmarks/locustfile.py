"""Load test: mixed reads and writes against a running server (DESIGN.md §3, "50 req/s").

Run by `benchmarks/loadtest.sh`, which prepares the data, starts gunicorn on
a free loopback port and passes the prepared ids in `LOADTEST_STATE` (a JSON file).
Each user paces itself at `LOADTEST_RATE` requests per second (default 2; 25 users give
~50 req/s), so the offered load is fixed whatever the latency.

Traffic: ~80 % reads (run list and detail, item pages first and deep through `cursor`,
filtered items, matches, discrepancies, GL-only and GL-all pages) and ~20 % writes
(create a run with an Idempotency-Key, upload a small CSV statement to it and auto-match
it; accept or reject a suggested match; close and reopen an item; edit a run note).
A 409 on a decision is the API answering a race between two users correctly (the match
was decided meanwhile) and counts as a success; anything else non-2xx is a failure.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import date, timedelta
from typing import Any

from locust import HttpUser, constant_throughput, task

STATE: dict[str, Any] = json.loads(open(os.environ["LOADTEST_STATE"]).read())  # noqa: SIM115
RATE = int(os.environ.get("LOADTEST_RATE", "2"))  # requests per second per user
RUNS = "/v1/ledgers/reconciliation/runs"
BASE = "/v1/ledgers/reconciliation"


def _statement_csv(rng: random.Random, rows: int = 40) -> bytes:
    """A small, always different bank CSV (so no upload is a duplicate file)."""
    start = date(2024, 3, 1) + timedelta(days=rng.randrange(300))
    lines = ["Buchungstag;Valutadatum;Auftraggeber/Empfänger;Verwendungszweck;Betrag;Währung"]
    for n in range(rows):
        day = start + timedelta(days=n % 5)
        cents = rng.randrange(100, 5_000_000) * (-1 if rng.random() < 0.6 else 1)
        whole, frac = divmod(abs(cents), 100)
        amount = f"{'-' if cents < 0 else ''}{whole},{frac:02d}"
        lines.append(
            f"{day:%d.%m.%Y};{day:%d.%m.%Y};Load Test GmbH;RE {rng.getrandbits(40)};{amount};EUR"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


class ReviewerUser(HttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Token {STATE['token']}"
        self.rng = random.Random()  # noqa: S311 -- load shape, not security
        self.run_url = f"{RUNS}/{STATE['run_id']}"
        self.item_cursor: str | None = None

    # --- reads ------------------------------------------------------------------------

    @task(5)
    def run_list(self) -> None:
        self.client.get(f"{RUNS}?limit=20", name="GET runs")

    @task(5)
    def run_detail(self) -> None:
        self.client.get(self.run_url, name="GET run")

    @task(10)
    def items_first_page(self) -> None:
        self.client.get(f"{self.run_url}/items?cursor=", name="GET items (cursor first)")

    @task(8)
    def items_next_page(self) -> None:
        """Walk the item list page by page through `next`, like an export client."""
        url = self.item_cursor or f"{self.run_url}/items?cursor=&limit=100"
        with self.client.get(url, name="GET items (cursor next)", catch_response=True) as r:
            if r.status_code == 200:
                self.item_cursor = r.json().get("next")
                r.success()

    @task(5)
    def items_filtered(self) -> None:
        self.client.get(
            f"{self.run_url}/items?match_status=unmatched&ordering=-amount&limit=50",
            name="GET items (filtered, ordered)",
        )

    @task(4)
    def items_offset(self) -> None:
        offset = self.rng.randrange(0, 200) * 50
        self.client.get(f"{self.run_url}/items?offset={offset}", name="GET items (offset)")

    @task(8)
    def matches(self) -> None:
        self.client.get(f"{self.run_url}/matches?cursor=", name="GET matches")

    @task(3)
    def matches_suggested(self) -> None:
        self.client.get(
            f"{self.run_url}/matches?status=suggested&limit=50", name="GET matches (suggested)"
        )

    @task(5)
    def discrepancies(self) -> None:
        self.client.get(f"{self.run_url}/discrepancies?cursor=", name="GET discrepancies")

    @task(4)
    def gl_only(self) -> None:
        self.client.get(f"{self.run_url}/gl-only?cursor=", name="GET gl-only")

    @task(3)
    def gl_all(self) -> None:
        self.client.get(f"{self.run_url}/gl-all?cursor=", name="GET gl-all")

    # --- writes -----------------------------------------------------------------------

    @task(2)
    def new_run_upload_and_match(self) -> None:
        key = str(uuid.uuid4())
        body = {"ledger_id": STATE["ledger_id"], "note": "load test", "idempotency_key": key}
        r = self.client.post(RUNS, json=body, name="POST run")
        if r.status_code != 201:
            return
        run_url = f"{RUNS}/{r.json()['id']}"
        upload = self.client.post(
            f"{run_url}/sources/upload",
            files={"file": ("statement.csv", _statement_csv(self.rng), "text/csv")},
            name="POST upload (40-row CSV)",
        )
        if upload.status_code == 201:
            self.client.post(f"{run_url}/auto-match", name="POST auto-match (small run)")

    @task(2)
    def decide_match(self) -> None:
        match_id = self.rng.choice(STATE["suggested_match_ids"])
        action = "accept" if self.rng.random() < 0.7 else "reject"
        with self.client.post(
            f"{BASE}/matches/{match_id}/{action}",
            json={"note": "load test"},
            name=f"POST match {action}",
            catch_response=True,
        ) as r:
            if r.status_code in (200, 409):
                r.success()

    @task(1)
    def close_and_reopen_item(self) -> None:
        item_id = self.rng.choice(STATE["unmatched_item_ids"])
        with self.client.post(
            f"{BASE}/items/{item_id}/close",
            json={"ledger_id": STATE["ledger_id"], "reason": "manual_review"},
            name="POST item close",
            catch_response=True,
        ) as r:
            if r.status_code in (200, 409):
                r.success()
        with self.client.post(
            f"{BASE}/items/{item_id}/reopen", json={}, name="POST item reopen", catch_response=True
        ) as r:
            if r.status_code in (200, 409):
                r.success()

    @task(2)
    def run_note(self) -> None:
        self.client.patch(
            self.run_url, json={"note": f"reviewed {self.rng.randrange(1000)}"}, name="PATCH run"
        )
