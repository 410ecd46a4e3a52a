"""Runs benchmark scenarios and yields their JSON lines; measured phases run in fresh
processes.

Why processes: `ru_maxrss` only ever grows, so a peak measured in a process that also
generated the input (or ran an earlier scenario) says nothing. Every measured phase
therefore runs in a `spawn`ed child that sets Django up from scratch against the same
database (the test database too: its name is handed over): the import (then, its peak
taken, the COPY floor of the same rows), the synthetic data set-up of a match scenario
(a million synthetic rows are big), the match itself, the list pages. Writing a
statement file streams and runs here, as does cleanup; this process must not sit inside
a transaction (the children commit).

`--scenario all` without `--rows` runs the sizes DESIGN.md §3 names: both imports at
1,000,000 entries, matching uniform and skewed at 100,000 and uniform at 1,000,000, and
the list pages on the 1,000,000-entry run the last match leaves behind. `--scenario truth`
(not in `all`) measures matching quality instead: one line per mix of the truth month
(`--rows` cases a month, 2,000 by default), with its precision, recall, F1, link F1,
auto-accept precision, automation and discrepancy figures. `--scenario match-workers`
(not in `all` either: it needs Redis and starts Celery workers) matches one multi-currency
run of `--rows` bank rows (100,000 by default) with one worker and with `--workers` N,
each pass on freshly loaded identical data, and prints one line with both timings.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connection

from benchmarks import child, scenarios

Result = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    scenario: str
    rows: int
    skew: bool = False
    mix: tuple[str, float, bool] | None = None  # truth: (format, collisions, tolerance)
    workers: int = 1  # match-workers: the N the 1-worker pass is compared with


def plan(*, scenario: str, rows: int | None, skew: bool, workers: int = 2) -> list[Step]:
    if scenario == "match-workers":
        return [Step(scenario=scenario, rows=rows or 100_000, workers=workers)]
    if scenario == "truth":
        # Cases per month: the acceptance sizes are 200 and 2,000.
        return [
            Step(scenario="truth", rows=rows or 2_000, mix=mix) for mix in scenarios.TRUTH_MIXES
        ]
    if scenario != "all":
        default = 100_000 if scenario in ("match", "match-skew") else 1_000_000
        return [
            Step(
                scenario=scenario,
                rows=rows or default,
                skew=skew or scenario == "match-skew",
            )
        ]
    if rows is not None:
        return [
            Step(scenario="import-csv", rows=rows),
            Step(scenario="import-camt", rows=rows),
            Step(scenario="match", rows=rows, skew=skew),
            Step(scenario="match-skew", rows=rows, skew=True),
            Step(scenario="list", rows=rows),
        ]
    return [
        Step(scenario="import-csv", rows=1_000_000),
        Step(scenario="import-camt", rows=1_000_000),
        Step(scenario="match", rows=100_000),
        Step(scenario="match-skew", rows=100_000, skew=True),
        Step(scenario="match", rows=1_000_000),
        Step(scenario="list", rows=1_000_000),
    ]


class Phases:
    """Calls a scenario function in a fresh spawned process (or here, when not isolated)."""

    def __init__(self, *, isolate: bool) -> None:
        self.isolate = isolate
        self.db_name = str(connection.settings_dict["NAME"])
        self.settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")

    def __call__(self, function: str, **kwargs: Any) -> Any:
        if not self.isolate:
            return getattr(scenarios, function)(**kwargs)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=child.init,
            initargs=(self.db_name, self.settings_module),
        ) as pool:
            return pool.submit(child.call, function, kwargs).result()


def run(
    *, steps: list[Step], seed: int, keep: bool, isolate: bool, workdir: str
) -> Iterator[Result]:
    phases = Phases(isolate=isolate)
    uniform_seconds: dict[int, float] = {}
    handover: dict[str, Any] | None = None  # the last match run, for the list pages
    needs_list = any(step.scenario == "list" for step in steps)
    pending_cleanup: list[tuple[str, dict[str, Any] | None]] = []
    try:
        for number, step in enumerate(steps):
            later = steps[number + 1 :]
            if step.scenario in ("import-csv", "import-camt"):
                # Writing the file streams (flat memory), so it can happen here.
                state = scenarios.prepare_import(
                    scenario=step.scenario, rows=step.rows, seed=seed, workdir=workdir
                )
                try:
                    result = phases(
                        "measure_import_with_floor",
                        scenario=step.scenario,
                        rows=step.rows,
                        state=state,
                    )
                finally:
                    _cleanup(step.scenario, state, keep)
            elif step.scenario in ("match", "match-skew"):
                state = phases(
                    "prepare_match",
                    scenario=step.scenario,
                    rows=step.rows,
                    seed=seed + (1 if step.skew else 0),
                    skew=step.skew,
                )
                engine = phases("measure_engine", state=state)
                result = phases("measure_match", scenario=step.scenario, state=state)
                result.update(engine)
                if engine["engine_alone_seconds"]:
                    result["ratio_to_engine"] = round(
                        result["seconds"] / engine["engine_alone_seconds"], 2
                    )
                in_pass = result.get("stages", {}).get("engine")
                if in_pass:
                    # The same ratio against the engine stage of the pass itself: measured
                    # in the same process a moment apart, so a busy neighbour skews it less.
                    result["ratio_to_engine_in_pass"] = round(result["seconds"] / in_pass, 2)
                result["skew"] = step.skew
                if step.skew and step.rows in uniform_seconds:
                    result["ratio_to_uniform"] = round(
                        result["seconds"] / uniform_seconds[step.rows], 2
                    )
                elif not step.skew:
                    uniform_seconds[step.rows] = result["seconds"]
                reusable = (
                    not step.skew
                    and needs_list
                    and not any(s.scenario == "match" and not s.skew for s in later)
                    and any(s.scenario == "list" and s.rows == step.rows for s in later)
                )
                if reusable:
                    if handover is not None:
                        pending_cleanup.append(("match", handover))
                    handover = state
                else:
                    _cleanup(step.scenario, state, keep)
            elif step.scenario == "truth":
                assert step.mix is not None  # noqa: S101 - plan() sets it
                file_format, collisions, tolerance = step.mix
                result = phases(
                    "measure_truth",
                    rows=step.rows,
                    seed=seed,
                    file_format=file_format,
                    collisions=collisions,
                    tolerance=tolerance,
                )
            elif step.scenario == "match-workers":
                result = _match_workers(phases, step=step, seed=seed, keep=keep)
            elif step.scenario == "list":
                if handover is not None:
                    state = scenarios.prepare_list(rows=step.rows, seed=seed, state=handover)
                else:
                    state = phases("prepare_list", rows=step.rows, seed=seed, state=None)
                handover = None
                try:
                    result = phases("measure_list", state=state)
                finally:
                    _cleanup("list", state, keep)
            else:
                raise ValueError(f"unknown scenario {step.scenario!r}")
            result["rss_isolated"] = phases.isolate
            yield result
    finally:
        if handover is not None:
            pending_cleanup.append(("match", handover))
        for scenario, state in pending_cleanup:
            _cleanup(scenario, state, keep)


def _match_workers(phases: Phases, *, step: Step, seed: int, keep: bool) -> Result:
    """The run matched by 1 worker, then by N, each on its own fresh copy of the same data
    (prepare -> measure -> cleanup twice), combined into one line."""
    from benchmarks.workers import combine, redis_url

    passes = []
    state: dict[str, Any] = {}
    for count in sorted({1, step.workers}):
        state = phases("prepare_match_workers", rows=step.rows, seed=seed, workers=step.workers)
        try:
            passes.append(
                phases("measure_match_workers", state=state, workers=count, broker_url=redis_url())
            )
        finally:
            _cleanup(step.scenario, state, keep)
    result = combine(state=state, passes=passes, workers=step.workers)
    if "warning" in result:
        sys.stderr.write(f"\n!!! match-workers: {result['warning']}\n\n")
    return result


def _cleanup(scenario: str, state: dict[str, Any] | None, keep: bool) -> None:
    if keep:
        return
    owner = (state or {}).get("context", {}).get("scenario", scenario)
    scenarios.cleanup(scenario=owner, state=state)
