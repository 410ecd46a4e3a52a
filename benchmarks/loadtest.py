"""Data for the load test (`loadtest.sh`): a matched run to read, ids to write against.

`loadtest_setup()` builds, under the benchmark tenant, a ledger with a synthetic GL and a
run of `rows` bank entries that auto-match has been through (so items, matches,
discrepancies and GL lists all have pages), and returns what the locust users need: the
API token, the ledger and run ids, and samples of suggested matches and unmatched items
for the write tasks. `loadtest_cleanup()` removes the ledger and everything the users
created in it (their runs, uploads and decisions).
"""

from __future__ import annotations

from typing import Any

from benchmarks import data, scenarios

SCENARIO = "loadtest"
SAMPLE = 3000


def loadtest_setup(*, rows: int, seed: int) -> dict[str, Any]:
    from reconciliation.choices import MatchStatus, SourceEntryMatchStatus
    from reconciliation.models import Match, SourceEntry

    state = scenarios.prepare_match(scenario=SCENARIO, rows=rows, seed=seed, skew=False)
    scenarios.measure_match(scenario=SCENARIO, state=state)
    data.vacuum_analyze_all()
    context = state["context"]
    suggested = Match.objects.filter(
        run_id=context["run_id"], status=MatchStatus.SUGGESTED
    ).values_list("pk", flat=True)[:SAMPLE]
    unmatched = SourceEntry.objects.filter(
        run_id=context["run_id"], match_status=SourceEntryMatchStatus.UNMATCHED
    ).values_list("pk", flat=True)[:SAMPLE]
    return {
        "token": context["token"],
        "ledger_id": context["ledger_id"],
        "run_id": context["run_id"],
        "suggested_match_ids": [str(pk) for pk in suggested],
        "unmatched_item_ids": [str(pk) for pk in unmatched],
        "rows": rows,
    }


def loadtest_cleanup() -> None:
    data.ledger_cleanup(scenario=SCENARIO)
    data.organization_cleanup()
