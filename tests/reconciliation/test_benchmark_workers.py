"""`manage.py benchmark --scenario match-workers`: a multi-currency run matched by real
Celery worker processes on the real Redis broker, with 1 and with N workers, one JSON line.

Shapes only, as in test_benchmark_command.py: speed belongs to the benchmark, not to a
timed test. The partitioned pass only starts at RUN_MATCH_PARTITION_MIN_ROWS free rows, so
the test lowers it (the workers inherit the environment): with the partitioned code the
2-worker pass is split into parts, without it both passes are single tasks; either way the
run completes and both passes match the same.
"""

from __future__ import annotations

import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.live import redis_up

# The phases and the workers commit in processes of their own: no transaction around them.
pytestmark = [pytest.mark.django_db(transaction=True)]

# A Redis database of its own: the benchmark purges its queue, and the worker tests
# (TEST_REDIS_URL, db 15) flush theirs.
REDIS_URL = os.environ.get("BENCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _benchmark_workers() -> set[int]:
    """Running processes that are a benchmark's Celery worker (or one of its children)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"celery" in cmdline and b"\x00bench-" in cmdline and state != "Z":
            found.add(int(entry.name))
    return found


def test_workers_below_one_are_rejected() -> None:
    with pytest.raises(CommandError, match="--workers"):
        call_command("benchmark", "--scenario", "match-workers", "--workers", "0")


@pytest.mark.worker
def test_match_workers_times_one_and_two_workers_and_leaves_no_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    from benchmarks.data import BENCH_ORGANIZATION
    from ledgers.models import Organization

    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("RUN_MATCH_PARTITION_MIN_ROWS", "100")
    before = _benchmark_workers()
    out, err = StringIO(), StringIO()

    call_command(
        "benchmark",
        "--scenario",
        "match-workers",
        "--rows",
        "2000",
        "--workers",
        "2",
        stdout=out,
        stderr=err,
    )

    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, out.getvalue()
    line = lines[0]
    assert line["scenario"] == "match-workers"
    assert line["rows"] >= 2000
    assert line["workers"] == 2
    assert line["currencies"] == 4
    assert len(set(line["currency_codes"])) == 4
    assert line["seconds_1_worker"] > 0
    assert line["seconds_n_workers"] > 0
    assert line["speedup"] > 0
    assert line["matched_1_worker"] > 0
    assert line["matched_1_worker"] == line["matched_n_workers"]
    assert line["matched_equal"] is True
    assert "warning" not in line
    # each pass was a real worker's: it received the run's task
    for tasks in (line["tasks_1_worker"], line["tasks_n_workers"]):
        assert tasks.get("reconciliation.run_auto_match") == 1, tasks
    assert "reconciliation.run_auto_match_part" not in line["tasks_1_worker"]
    if hasattr(settings, "RUN_MATCH_PARTITION_MIN_ROWS"):  # the partitioned pass exists
        assert line["tasks_n_workers"].get("reconciliation.run_auto_match_part") == 1
    assert "match-workers" in err.getvalue()  # the summary line
    # no worker process left behind, and no benchmark data
    assert _benchmark_workers() - before == set()
    assert not Organization.objects.filter(name=BENCH_ORGANIZATION).exists()
