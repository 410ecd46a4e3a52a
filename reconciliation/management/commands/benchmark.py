"""`manage.py benchmark`: the performance scenarios of DESIGN.md §3, one JSON line each.

The logic lives in `benchmarks/`; this is the command line around it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmarks.runner import plan, run
from benchmarks.scenarios import SCENARIOS, default_workdir

# The ratio targets of issue #17 (DESIGN.md §3): each end-to-end figure against a floor
# measured in the same run on the same rows.
RATIOS = (
    ("import-csv", "ratio_to_unindexed_copy", "plain COPY into an unindexed table", 2.0),
    ("import-camt", "ratio_to_iterparse", "plain lxml iterparse of the file", 2.0),
    ("match", "ratio_to_engine", "the pure engine alone", 10.0),
    ("match-skew", "ratio_to_engine", "the pure engine alone", 10.0),
)


def summary(results: list[dict[str, Any]]) -> list[str]:
    """One human line per scenario (on stderr: stdout stays JSON lines)."""
    lines = ["", "summary (seconds; ratio to its floor, measured in the same run):"]
    for result in results:
        if result["scenario"] == "match-workers":
            lines.extend(_workers_summary(result))
            continue
        text = f"  {result['scenario']:<12} {result['rows']:>9,} rows {result['seconds']:>9.2f} s"
        text += f"  load {result.get('load_1m', '-')}"
        for scenario, key, floor, target in RATIOS:
            if scenario == result["scenario"] and key in result:
                verdict = "ok" if result[key] <= target else "OVER"
                text += f"  {result[key]:.2f}x {floor} (target <= {target:g}x: {verdict})"
        lines.append(text)
    return lines


def _workers_summary(result: dict[str, Any]) -> list[str]:
    """1 worker against N on the same run: the speedup, and where the CPU went."""
    n = result["workers"]
    text = (
        f"  {result['scenario']:<12} {result['rows']:>9,} rows in {result['currencies']} "
        f"currencies: 1 worker {result['seconds_1_worker']:.2f} s, {n} workers "
        f"{result['seconds_n_workers']:.2f} s: {result['speedup']}x"
    )
    text += f"  load {result.get('load_1m', '-')}"
    lines = [text]
    if result.get("db_cpu_s") is not None:
        lines.append(
            f"  {'':<12} CPU s workers / PostgreSQL: 1 worker "
            f"{result['workers_cpu_s_1_worker']} / {result['db_cpu_s_1_worker']}, {n} workers "
            f"{result['workers_cpu_s']} / {result['db_cpu_s']}"
        )
    if not result["matched_equal"]:
        lines.append(f"  {'':<12} !!! {result['warning']}")
    return lines


class Command(BaseCommand):
    help = (
        "Run benchmark scenarios against the configured database and print one JSON object "
        "per scenario (rows, seconds, rows_per_s, peak_rss_mb, queries, ...). Creates its "
        "own organization/ledger/run and removes them afterwards unless --keep."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
        parser.add_argument(
            "--rows",
            type=int,
            default=None,
            help="entries per scenario (default: 1,000,000; matching and match-workers "
            "100,000; truth: 2,000 cases a month; `all` runs the DESIGN.md sizes)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="match-workers: the worker count compared with one worker (default 2); "
            "needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0)",
        )
        parser.add_argument("--skew", action="store_true", help="skewed amounts for `match`")
        parser.add_argument("--seed", type=int, default=8)
        parser.add_argument("--output", help="also append the JSON lines to this file")
        parser.add_argument("--keep", action="store_true", help="keep the benchmark data")
        parser.add_argument(
            "--no-isolate",
            action="store_true",
            help="run every phase in this process (faster to start; peak RSS not per phase)",
        )
        parser.add_argument("--workdir", help="where generated statement files go")
        parser.add_argument(
            "--loadtest-setup",
            metavar="FILE",
            help="prepare the load test's data (--rows bank entries, default 50,000) and "
            "write the ids its users need to FILE (used by loadtest.sh)",
        )
        parser.add_argument(
            "--loadtest-cleanup", action="store_true", help="remove the load test's data"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["loadtest_setup"] or options["loadtest_cleanup"]:
            self._loadtest(options)
            return
        rows = options["rows"]
        if rows is not None and rows < 100:
            raise CommandError("--rows must be at least 100")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        steps = plan(
            scenario=options["scenario"],
            rows=rows,
            skew=options["skew"],
            workers=options["workers"],
        )
        # `make bench` on a fresh embedded server (or any new database) finds no tables:
        # bring the schema up to date first, as `make run` and the load test do.
        call_command("migrate", interactive=False, verbosity=0)
        output = Path(options["output"]) if options["output"] else None
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
        results = []
        for result in run(
            steps=steps,
            seed=options["seed"],
            keep=options["keep"],
            isolate=not options["no_isolate"],
            workdir=options["workdir"] or default_workdir(),
        ):
            results.append(result)
            line = json.dumps(result, sort_keys=False)
            self.stdout.write(line)
            self.stdout.flush()
            if output is not None:
                with output.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
        for text in summary(results):
            self.stderr.write(text)

    def _loadtest(self, options: dict[str, Any]) -> None:
        from django.conf import settings

        from benchmarks.loadtest import loadtest_cleanup, loadtest_setup

        settings.DEBUG = False  # no query log while loading tens of thousands of rows
        if options["loadtest_cleanup"]:
            loadtest_cleanup()
            return
        state = loadtest_setup(rows=options["rows"] or 50_000, seed=options["seed"])
        Path(options["loadtest_setup"]).write_text(json.dumps(state), encoding="utf-8")
        self.stdout.write(json.dumps({key: state[key] for key in ("ledger_id", "run_id", "rows")}))
