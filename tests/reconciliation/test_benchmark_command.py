"""`manage.py benchmark`: every scenario runs end to end on the test database and prints one
JSON object per line with the agreed fields. Shapes only: speed targets belong to the
benchmark itself, never to a timed test (STYLE.md §7).

One run of `--scenario all --rows 10000` covers every scenario through the real path
(each phase in a spawned process against the test database, then cleanup), so the file
costs one benchmark run, not five.
"""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

# The phases run in child processes that commit: the test must not hold a transaction
# open around them (their rows would be invisible and their locks would wait on ours).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROWS = 10_000
SCENARIOS = ["import-csv", "import-camt", "match", "match-skew", "list"]
COMMON = {"scenario": str, "rows": int, "seconds": float, "peak_rss_mb": float, "queries": int}


@pytest.fixture
def benchmark_lines() -> list[dict[str, Any]]:
    out = StringIO()
    call_command("benchmark", scenario="all", rows=ROWS, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _check_common(line: dict[str, Any]) -> None:
    for name, kind in COMMON.items():
        assert isinstance(line[name], kind | int if kind is float else kind), (name, line)
    assert line["rows"] > 0
    assert line["seconds"] > 0
    assert line["peak_rss_mb"] > 0
    assert line["queries"] > 0
    assert isinstance(line["rows_per_s"], int)
    assert line["rss_isolated"] is True  # each phase in its own process


def test_benchmark_all_prints_one_line_per_scenario_and_cleans_up(benchmark_lines):
    from benchmarks.data import BENCH_ORGANIZATION
    from ledgers.models import Organization

    assert [line["scenario"] for line in benchmark_lines] == SCENARIOS
    for line in benchmark_lines:
        _check_common(line)
    imports = {line["scenario"]: line for line in benchmark_lines[:2]}
    for line in imports.values():
        assert line["rows"] == ROWS
        assert line["skipped_duplicates"] == 0
        assert line["copy_floor_rows"] == ROWS
        assert line["ratio_to_copy_floor"] > 0
        assert line["ratio_to_copy_floor_no_fk"] > 0
        assert line["ratio_to_unindexed_copy"] > 0
    # the camt floor read every entry of the same file
    assert imports["import-camt"]["iterparse_entries"] == ROWS
    assert imports["import-camt"]["ratio_to_iterparse"] > 0
    assert "ratio_to_iterparse" not in imports["import-csv"]
    match, skew, listing = benchmark_lines[2], benchmark_lines[3], benchmark_lines[4]
    for line in (match, skew):
        assert line["rows"] >= ROWS
        assert 0 < line["matched"] <= line["rows"]
        assert line["accepted"] + line["suggested"] == line["matched"]
        assert {"engine", "persist", "discrepancies"} <= line["stages"].keys()
        assert line["engine_alone_proposals"] == line["matched"]  # the same rows, alone
        assert line["ratio_to_engine"] > 0
    assert match["skew"] is False
    assert skew["skew"] is True
    assert skew["ratio_to_uniform"] > 0
    assert listing["rows"] == match["rows"]  # the list pages read the run `match` left
    assert listing["fixed_query_counts"] is True
    assert listing["first_page_ms"] > 0
    assert listing["deep_page_ms"] > 0
    assert set(listing["endpoints"]) == {"items", "gl-only", "gl-all", "matches", "discrepancies"}
    for endpoint in listing["endpoints"].values():
        assert endpoint["first_page_queries"] == endpoint["deep_page_queries"] > 0
    assert not Organization.objects.filter(name=BENCH_ORGANIZATION).exists()


@pytest.mark.slow
def test_benchmark_truth_prints_one_line_per_mix_and_cleans_up():
    from benchmarks.data import BENCH_ORGANIZATION
    from ledgers.models import Organization

    out = StringIO()
    call_command("benchmark", scenario="truth", rows=200, seed=7, stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    mixes = {(m["format"], m["collisions"], m["tolerance"]) for m in (x["mix"] for x in lines)}
    assert len(lines) == len(mixes) == 12
    for line in lines:
        _check_common(line)
        assert line["scenario"] == "truth"
        assert line["rows"] == 200
        assert line["units"] > 0
        assert 0 <= line["automation"] <= line["recall"] <= 1
        assert line["fee_suggested_right"] <= line["fee_cases"]
    assert not Organization.objects.filter(name=BENCH_ORGANIZATION).exists()


def test_benchmark_on_a_new_database_migrates_it_first(tmp_path: Any) -> None:
    """`make bench` on a fresh embedded server (or any new database) starts from no tables:
    the command brings the schema up before its scenarios instead of failing on the first
    query."""
    import os
    import subprocess
    import sys
    import uuid
    from pathlib import Path
    from urllib.parse import quote

    import psycopg
    from django.db import connection

    params = connection.settings_dict
    auth = params["USER"] or ""
    if params["PASSWORD"]:
        auth += f":{params['PASSWORD']}"
    # The embedded server listens on a socket directory: a URL carries it percent-encoded.
    host = quote(params["HOST"] or "127.0.0.1", safe="")
    server = f"postgres://{auth}@{host}:{params['PORT'] or 5432}"
    name = f"recon_bench_fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{server}/{name}"
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run(  # noqa: S603 -- our own manage.py
            [
                sys.executable,
                "manage.py",
                "benchmark",
                "--scenario",
                "list",
                "--rows",
                "100",
                "--no-isolate",
                "--workdir",
                str(tmp_path),
            ],
            cwd=root,
            env={**os.environ, "DATABASE_URL": url, "BENCHMARK_QUIET": "1"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert [line["scenario"] for line in lines] == ["list"]
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
