"""Benchmark scenarios: each is prepare -> measure -> (floor) -> cleanup.

Every phase runs in its own process when the runner isolates them (the default), so the
peak RSS a measure phase reports is the peak of that phase alone: set-up data generated in
`prepare` never counts, and `ru_maxrss` never goes down inside one process.

What is timed is the real code path, nothing stubbed:
- import-csv / import-camt: `source_file_upload()` from an open file to its commit
  (detection, sha256, streaming parse, dedupe, COPY, statements, statement checks, audit).
- match / match-skew: `run_auto_match()` end to end (load free rows, the engine, persist
  matches and links, status refresh, discrepancy recompute, audit, commit).
- list: the list endpoints through Django's test client (the full middleware, auth,
  tenancy, filter, paging and JSON rendering), first page and a deep keyset page.
- copy floor: COPY of the very rows the import wrote into a table built LIKE the source
  entry table (same columns, defaults, constraints and indexes), in the same run; and into
  a bare twin (columns only: no index, constraint or key), the floor the import's ratio
  target (<= 2x) is stated against.
- parse floor (camt): a plain lxml `iterparse` of the same file, `Ntry` elements only,
  each cleared after its end event: what reading the XML costs before any field is
  looked at; the camt import's ratio target (<= 2x) is stated against it.
- engine floor (match): the pure engine alone on the same free rows, loaded untimed in a
  process of its own before the pass; the pass's ratio target (<= 10x) is against it.
- match-workers: a multi-currency run handed to real Celery worker processes (1, then
  N with RUN_MATCH_WORKERS=N), from the hand-over to `completed` (benchmarks.workers).
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from benchmarks import data, generators
from benchmarks.measure import Meter, Progress, heartbeat, peak_rss_mb

Result = dict[str, Any]
State = dict[str, Any]

# `truth` and `match-workers` are not part of `all`: the one measures matching quality,
# the other needs Redis and starts Celery worker processes.
SCENARIOS = ("import-csv", "import-camt", "match", "match-skew", "list", "truth", "match-workers")
# The truth month's mixes (`--scenario truth`, not part of `all`: it measures matching
# quality, not speed): both formats, 0/30/100 % of cases on common amounts and days, a
# new ledger (no tolerance) and one with an amount tolerance of 5.00.
TRUTH_MIXES = tuple(
    (file_format, collisions, tolerance)
    for collisions in (0.0, 0.3, 1.0)
    for tolerance in (False, True)
    for file_format in ("camt.053", "csv")
)
DEEP_PAGE = 10_000  # "the 10,000th page" at the default page size
PAGE_SIZE = 50
LIST_REPEATS = 5
FLOOR_TABLE = "benchmark_copy_floor"


# --- imports -------------------------------------------------------------------------------


def prepare_import(*, scenario: str, rows: int, seed: int, workdir: str) -> State:
    context = data.context_create(scenario=scenario, with_account=True)
    suffix = "csv" if scenario == "import-csv" else "xml"
    path = Path(workdir) / f"{scenario}-{rows}-{seed}.{suffix}"
    progress = Progress(f"{scenario}: writing {path.name}", rows)
    if scenario == "import-csv":
        stats = generators.write_csv_statement(path, rows, seed=seed, progress=progress.update)
    else:
        stats = generators.write_camt053(path, rows, seed=seed, progress=progress.update)
    progress.done()
    return {"context": context.as_dict(), "path": str(path), "size_bytes": stats.size_bytes}


def measure_import(*, scenario: str, rows: int, state: State) -> Result:
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    from reconciliation.models import Run
    from reconciliation.services.imports import source_file_upload

    context = state["context"]
    run = Run.objects.select_related("ledger", "account").get(pk=context["run_id"])
    actor = get_user_model().objects.get(pk=context["user_id"])
    path = Path(state["path"])
    size = path.stat().st_size
    meter = Meter()
    # The API's 50 MB upload limit would stop a million-row file before parsing: the
    # benchmark measures the import path, not the limit.
    with override_settings(STATEMENT_MAX_UPLOAD_BYTES=size + 1), path.open("rb") as raw:
        stream = _ProgressStream(raw, Progress(f"{scenario}: importing", size, unit="MB"))
        with meter:
            result = source_file_upload(
                run=run, stream=stream, filename=path.name, size=size, actor=actor
            )
        stream.progress.done()
    return meter.result(
        scenario,
        rows=result.imported,
        file_mb=round(size / 2**20, 1),
        skipped_duplicates=result.skipped_duplicates,
        skipped=result.skipped,
        warnings=len(result.warnings),
        source_file_id=str(result.source_file.pk),
    )


def measure_import_with_floor(*, scenario: str, rows: int, state: State) -> Result:
    """The import, then (its peak RSS already taken) the COPY floor of the same rows."""
    result = measure_import(scenario=scenario, rows=rows, state=state)
    floor = measure_copy_floor(
        scenario=scenario, state=state, source_file_id=result["source_file_id"]
    )
    result.update(floor)
    if floor.get("copy_floor_unindexed_seconds"):
        result["ratio_to_unindexed_copy"] = round(
            result["seconds"] / floor["copy_floor_unindexed_seconds"], 2
        )
    if scenario == "import-camt":
        parse_floor = measure_iterparse_floor(path=Path(state["path"]))
        result.update(parse_floor)
        if parse_floor["iterparse_seconds"]:
            result["ratio_to_iterparse"] = round(
                result["seconds"] / parse_floor["iterparse_seconds"], 2
            )
    if floor.get("copy_floor_seconds"):
        result["ratio_to_copy_floor"] = round(result["seconds"] / floor["copy_floor_seconds"], 2)
        result["ratio_to_copy_floor_no_fk"] = round(
            result["seconds"] / floor["copy_floor_no_fk_seconds"], 2
        )
    return result


class _ProgressStream:
    """A binary file that reports how far it has been read (sha256 pass, then parse)."""

    def __init__(self, raw: Any, progress: Progress) -> None:
        self.raw = raw
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.progress.update(self.raw.tell())
        return chunk

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        self.progress.update(self.raw.tell())
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def measure_copy_floor(*, scenario: str, state: State, source_file_id: str) -> Result:
    """Raw COPY of the rows the import wrote, into a twin of the source entry table.

    The rows are dumped with COPY TO (not timed) and replayed with COPY FROM in 1 MB
    chunks, so no Python touches a row: what is timed is the server's work alone (parse,
    heap, WAL, indexes) plus the commit. Twice: into a table `LIKE ... INCLUDING ALL`
    (same columns, defaults, checks and all ten indexes; LIKE never copies foreign keys),
    and into the same with the source entry table's foreign keys added as well (deferred,
    so they are checked at commit, as the import's are).
    """
    from reconciliation.models import SourceEntry

    table = SourceEntry._meta.db_table
    columns = [str(f.column) for f in SourceEntry._meta.concrete_fields]
    dump = Path(state["path"]).with_suffix(".copy")
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with (
            dump.open("wb") as out,
            raw.copy(
                f"COPY (SELECT {', '.join(columns)} FROM {table} WHERE source_file_id = %s) "  # noqa: S608
                "TO STDOUT",
                (source_file_id,),
            ) as copy,
        ):
            for chunk in copy:
                out.write(chunk)
        foreign_keys = _floor_parents(cursor, table, source_file_id)
    rows = _count_lines(dump)
    try:
        with heartbeat(f"{scenario}: raw COPY floor, bare table"):
            bare = _timed_floor_copy(table, columns, dump, foreign_keys=[], bare=True)
        with heartbeat(f"{scenario}: raw COPY floor, indexes only"):
            plain = _timed_floor_copy(table, columns, dump, foreign_keys=[])
        with heartbeat(f"{scenario}: raw COPY floor, indexes and foreign keys"):
            with_fk = _timed_floor_copy(table, columns, dump, foreign_keys=foreign_keys)
    finally:
        dump.unlink()
        with connection.cursor() as cursor:
            for number in range(len(foreign_keys)):
                cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}_parent_{number}")
    return {
        "copy_floor_rows": rows,
        "copy_floor_unindexed_seconds": round(bare, 3),
        "copy_floor_seconds": round(with_fk, 3),
        "copy_floor_rows_per_s": round(rows / with_fk) if with_fk else None,
        "copy_floor_no_fk_seconds": round(plain, 3),
        "copy_floor_no_fk_rows_per_s": round(rows / plain) if plain else None,
        "copy_floor_indexes": _index_count(table),
        "copy_floor_foreign_keys": len(foreign_keys),
    }


def _floor_parents(cursor: Any, table: str, source_file_id: str) -> list[str]:
    """One private parent table per foreign key of `table`, holding the keys the rows
    reference, and the matching FOREIGN KEY clauses for the floor table.

    The checks cost what they cost against the real parents (an index probe and a
    FOR KEY SHARE row lock each), but adding a foreign key to a real table would take a
    SHARE ROW EXCLUSIVE lock on it and stall (or deadlock with) anyone writing runs or
    files meanwhile: the benchmark may share its database.
    """
    cursor.execute(
        """
        SELECT a.attname, format_type(fa.atttypid, fa.atttypmod)
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
        WHERE c.conrelid = %s::regclass AND c.contype = 'f'
        ORDER BY a.attname
        """,
        [table],
    )
    clauses = []
    for number, (column, kind) in enumerate(cursor.fetchall()):
        parent = f"{FLOOR_TABLE}_parent_{number}"
        cursor.execute(f"DROP TABLE IF EXISTS {parent}")
        cursor.execute(f"CREATE TABLE {parent} (id {kind} PRIMARY KEY)")
        cursor.execute(
            f"INSERT INTO {parent} SELECT DISTINCT {column} FROM {table} "  # noqa: S608
            f"WHERE source_file_id = %s AND {column} IS NOT NULL",
            [source_file_id],
        )
        clauses.append(
            f"FOREIGN KEY ({column}) REFERENCES {parent} (id) DEFERRABLE INITIALLY DEFERRED"
        )
    return clauses


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _index_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [table])
        return int(cursor.fetchone()[0])


def _timed_floor_copy(
    table: str, columns: list[str], dump: Path, *, foreign_keys: list[str], bare: bool = False
) -> float:
    # LIKE without INCLUDING copies column names, types and NOT NULL only: no index,
    # check, default or key, the cheapest table the same rows can go into.
    like = f"LIKE {table}" if bare else f"LIKE {table} INCLUDING ALL"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} ({like})")
        for definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {FLOOR_TABLE} ADD {definition}")
    try:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            sql = f"COPY {FLOOR_TABLE} ({', '.join(columns)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy, dump.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    copy.write(chunk)
        return time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")


def measure_iterparse_floor(*, path: Path) -> Result:
    """A plain lxml iterparse of the statement file: end events of `Ntry` only, each
    entry cleared and unlinked once seen (flat memory, as the parser does), no field read.

    The same parser options as the import's (no entities, no network, no DTD), so the
    difference to the import is the parser's own work plus the database's."""
    from lxml import etree

    entries = 0
    with heartbeat("import-camt: plain lxml iterparse floor"):
        started = time.perf_counter()
        with path.open("rb") as handle:
            for _event, element in etree.iterparse(
                handle,
                events=("end",),
                tag="{*}Ntry",
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
            ):
                entries += 1
                element.clear()
                parent = element.getparent()
                while element.getprevious() is not None and parent is not None:
                    del parent[0]
        seconds = time.perf_counter() - started
    return {
        "iterparse_entries": entries,
        "iterparse_seconds": round(seconds, 3),
    }


# --- matching ------------------------------------------------------------------------------


def prepare_match(*, scenario: str, rows: int, seed: int, skew: bool) -> State:
    from benchmarks.synthetic import generate

    context = data.context_create(scenario=scenario, with_account=False)
    with heartbeat(f"{scenario}: generating {rows:,} synthetic bank rows"):
        truth = generate(rows, seed=seed, skew=skew)
    progress = Progress(
        f"{scenario}: loading {len(truth.source):,} + {len(truth.ledger):,} rows",
        len(truth.source) + len(truth.ledger),
    )
    data.load_truth_set(
        context=context, source=truth.source, ledger=truth.ledger, progress=progress.update
    )
    progress.done()
    return {
        "context": context.as_dict(),
        "source_rows": len(truth.source),
        "ledger_rows": len(truth.ledger),
        "truth_groups": len(truth.truth),
    }


def measure_engine(*, state: State) -> Result:
    """The pure engine alone on the free rows the pass is about to match.

    Loading goes through the pass's own loaders (untimed); only `engine.match` is timed,
    in a process of its own, so neither its time nor its memory counts in the pass."""
    from django.db.models import Max, Min

    from reconciliation.matching.engine import match as engine_match
    from reconciliation.models import Run, SourceEntry
    from reconciliation.services import auto_match

    run = Run.objects.select_related("ledger", "account").get(pk=state["context"]["run_id"])
    with transaction.atomic():
        sources = auto_match._source_rows(run)
        span = SourceEntry.objects.filter(run=run).aggregate(
            first=Min("booking_date"), last=Max("booking_date")
        )
        match_settings = auto_match.run_match_settings(run)
        reach = max(match_settings.date_window_days, match_settings.reference_window_days)
        ledger = auto_match._ledger_rows(run, first=span["first"], last=span["last"], window=reach)
        forbidden = auto_match._forbidden_pairs(run)
    with heartbeat("engine alone"):
        started = time.perf_counter()
        proposals = engine_match(
            source=sources, ledger=ledger, settings=match_settings, forbidden_pairs=forbidden
        ).proposals
        seconds = time.perf_counter() - started
    return {"engine_alone_seconds": round(seconds, 3), "engine_alone_proposals": len(proposals)}


def measure_match(*, scenario: str, state: State) -> Result:
    from django.contrib.auth import get_user_model

    from reconciliation.models import Run
    from reconciliation.services.auto_match import run_auto_match

    context = state["context"]
    run = Run.objects.select_related("ledger", "account").get(pk=context["run_id"])
    actor = get_user_model().objects.get(pk=context["user_id"])
    meter = Meter()
    with _stage_timers() as (stages, stage_rss), heartbeat(f"{scenario}: run_auto_match"), meter:
        result = run_auto_match(run=run, actor=actor)
    return meter.result(
        scenario,
        rows=state["source_rows"],
        ledger_rows=state["ledger_rows"],
        matched=result.matched,
        accepted=result.accepted,
        suggested=result.suggested,
        open_discrepancies=result.discrepancies,
        stages={
            **{name: round(value, 3) for name, value in stages.items()},
            # what no step accounts for: mostly COMMIT, where PostgreSQL runs the deferred
            # foreign-key checks of every inserted match, link and discrepancy row
            "commit_and_rest": round(meter.seconds - sum(stages.values()), 3),
        },
        # the process's peak RSS once each step had run: where the peak was reached
        stage_peak_rss_mb=stage_rss,
    )


@contextmanager
def _stage_timers() -> Iterator[tuple[dict[str, float], dict[str, float]]]:
    """Wall time per step of `run_auto_match`, by wrapping the module-level steps it calls
    (looked up at call time), for the profile-by-stage in the report."""
    from reconciliation.matching import engine
    from reconciliation.services import auto_match, discrepancies, entries

    stages: dict[str, float] = {}
    rss: dict[str, float] = {}
    targets = [
        (auto_match, "_source_rows", "load_source"),
        (auto_match, "_ledger_rows", "load_ledger"),
        (auto_match, "_forbidden_pairs", "forbidden_pairs"),
        (engine, "match", "engine"),
        (auto_match, "_persist", "persist"),
        (entries, "entries_mark_auto_accepted", "statuses"),
        (discrepancies, "discrepancies_recompute", "discrepancies"),
    ]
    originals = []
    for module, name, label in targets:
        original = getattr(module, name)
        originals.append((module, name, original))
        setattr(module, name, _timed(original, label, stages, rss))
    try:
        yield stages, rss
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def _timed(
    func: Callable[..., Any], label: str, stages: dict[str, float], rss: dict[str, float]
) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            stages[label] = stages.get(label, 0.0) + time.perf_counter() - started
            rss[label] = peak_rss_mb()

    return wrapper


# --- matching by Celery workers (benchmarks.workers) -----------------------------------------


def prepare_match_workers(*, rows: int, seed: int, workers: int) -> State:
    from benchmarks import workers as scenario

    return scenario.prepare(rows=rows, seed=seed, workers=workers)


def measure_match_workers(*, state: State, workers: int, broker_url: str) -> Result:
    from benchmarks import workers as scenario

    return scenario.measure(state=state, workers=workers, broker_url=broker_url)


# --- list endpoints ------------------------------------------------------------------------

LIST_ENDPOINTS = ("items", "gl-only", "gl-all", "matches", "discrepancies")


def prepare_list(*, rows: int, seed: int, state: State | None) -> State:
    """A matched run: the match scenario's (when `all` hands it over) or a new one."""
    if state is None:
        state = prepare_match(scenario="list", rows=rows, seed=seed, skew=False)
        measure_match(scenario="list", state=state)
    data.vacuum_analyze_all()
    return state


def measure_list(*, state: State) -> Result:
    from django.db import reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    context = state["context"]
    client = Client(HTTP_AUTHORIZATION=f"Token {context['token']}")
    base = f"/v1/ledgers/reconciliation/runs/{context['run_id']}"
    endpoints: dict[str, Any] = {}
    worst = {"first_page": 0.0, "deep_page": 0.0}
    queries: set[int] = set()
    served = 0
    total_seconds = 0.0
    cpu_started = time.process_time()
    rss = Meter()
    with rss:
        for name in LIST_ENDPOINTS:
            keyset = _keyset_for(name)
            total = _list_count(context, name)
            position = min(DEEP_PAGE * PAGE_SIZE - PAGE_SIZE, max(0, total - PAGE_SIZE - 1))
            cursor = _cursor_at(context, name, keyset, position) if position > 0 else ""
            urls = {
                "first_page": f"{base}/{name}?cursor=",
                "deep_page": f"{base}/{name}?cursor={cursor}",
                "first_page_offset": f"{base}/{name}",
                "deep_page_offset": f"{base}/{name}?offset={position}",
            }
            measured: dict[str, Any] = {"rows": total, "deep_position": position}
            for label, url in urls.items():
                response = client.get(url)  # warm: plan cache, connection, code paths
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} answered {response.status_code}")
                times = []
                for _ in range(LIST_REPEATS):
                    started = time.perf_counter()
                    response = client.get(url)
                    times.append(time.perf_counter() - started)
                served += len(response.json()["results"]) * LIST_REPEATS
                total_seconds += sum(times)
                with CaptureQueriesContext(connection) as captured:
                    client.get(url)
                count = len(captured)  # read before the log is cleared
                timings = _query_timings(captured.captured_queries)
                reset_queries()
                measured[f"{label}_run_lookup_ms"] = timings["run_lookup_ms"]
                measured[f"{label}_page_query_ms"] = timings["page_query_ms"]
                ms = round(statistics.median(times) * 1000, 2)
                measured[f"{label}_ms"] = ms
                measured[f"{label}_queries"] = count
                if label in worst:
                    worst[label] = max(worst[label], ms)
                    queries.add(count)
            endpoints[name] = measured
    result = rss.result("list", rows=endpoints["items"]["rows"])
    result.update(
        seconds=round(total_seconds, 3),
        rows_per_s=round(served / total_seconds) if total_seconds else None,
        queries=max(queries) if queries else 0,
        fixed_query_counts=all(
            e["first_page_queries"] == e["deep_page_queries"] for e in endpoints.values()
        ),
        first_page_ms=worst["first_page"],
        deep_page_ms=worst["deep_page"],
        deep_page=DEEP_PAGE,
        page_size=PAGE_SIZE,
        repeats=LIST_REPEATS,
        cpu_s=round(time.process_time() - cpu_started, 3),
        endpoints=endpoints,
    )
    return result


def _query_timings(queries: list[dict[str, str]]) -> dict[str, float]:
    """Where a page's database time goes: resolving the run (the child views load it
    through `run_scope_get`, with its ledger) versus the page query."""
    run_lookup = page = 0.0
    for query in queries:
        seconds = float(query["time"])
        if query["sql"].startswith('SELECT "reconciliation_run"."id"'):
            run_lookup += seconds
        elif "LIMIT" in query["sql"]:
            page = max(page, seconds)
    return {"run_lookup_ms": round(run_lookup * 1000, 2), "page_query_ms": round(page * 1000, 2)}


def _keyset_for(name: str) -> tuple[str, str]:
    return ("created_at", "id") if name in ("matches", "discrepancies") else ("booking_date", "id")


def _list_queryset(context: dict[str, Any], name: str) -> Any:
    from ledgers.models import LedgerEntry
    from reconciliation.models import Discrepancy, Match, Run, SourceEntry
    from reconciliation.selectors import run_gl_entries

    if name == "items":
        return SourceEntry.objects.filter(run_id=context["run_id"])
    if name == "matches":
        return Match.objects.filter(run_id=context["run_id"])
    if name == "discrepancies":
        return Discrepancy.objects.filter(run_id=context["run_id"])
    run = Run.objects.get(pk=context["run_id"])
    if name == "gl-only":
        return run_gl_entries(run=run, only_unlinked=True)
    return LedgerEntry.objects.filter(ledger_id=context["ledger_id"])


def _list_count(context: dict[str, Any], name: str) -> int:
    return int(_list_queryset(context, name).count())


def _cursor_at(context: dict[str, Any], name: str, keyset: tuple[str, str], position: int) -> str:
    """The `next` cursor a client holds after reading `position` rows (config.api's format)."""
    row = _list_queryset(context, name).order_by(*keyset).values_list(*keyset)[position - 1]
    values = [str(v) for v in row]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# --- shared --------------------------------------------------------------------------------


# --- matching quality ---------------------------------------------------------------------


def truth_scenario(file_format: str, collisions: float, tolerance: bool) -> str:
    """The mix's name, also its ledger's (`benchmark <name>`), so cleanup finds it."""
    return f"truth-{file_format}-{round(collisions * 100)}-{'tolerance' if tolerance else 'new'}"


def measure_truth(
    *, rows: int, seed: int, file_format: str, collisions: float, tolerance: bool
) -> Result:
    """One mix of the truth month (benchmarks.truth_month) through upload, auto-match and
    discrepancies, scored against its truth (benchmarks.truth.TruthFigures)."""
    from benchmarks.truth import truth_run
    from benchmarks.truth_month import generate_month
    from ledgers.services import user_setup

    name = truth_scenario(file_format, collisions, tolerance)
    data.ledger_cleanup(scenario=name)
    user, organization, _ = user_setup(
        username=data.BENCH_USER,
        organization_name=data.BENCH_ORGANIZATION,
        role="admin",
        password=None,
        staff=False,
    )
    month = generate_month(rows, collisions=collisions, seed=seed, tolerance=tolerance)
    meter = Meter()
    try:
        with heartbeat(f"{name}: {rows:,} cases through upload and auto-match"), meter:
            figures = truth_run(
                month=month,
                file_format=file_format,
                organization=organization,
                actor=user,
                ledger_name=data.ledger_name(name),
            )
    finally:
        cleanup(scenario=name, state=None)
    found = figures.as_dict()
    return meter.result(
        "truth",
        rows=rows,
        mix={"format": file_format, "collisions": collisions, "tolerance": tolerance},
        bank_entries=len(month.bank),
        gl_entries=len(month.gl),
        **{key: found[key] for key in _TRUTH_FIGURES},
    )


_TRUTH_FIGURES = (
    "units",
    "proposals",
    "correct",
    "precision",
    "recall",
    "f1",
    "link_precision",
    "link_recall",
    "link_f1",
    "auto_accepted",
    "auto_correct",
    "auto_accept_precision",
    "ambiguous_auto_accepted",
    "automation",
    "fee_cases",
    "fee_suggested_right",
    "false_missing_in_ledger",
    "false_missing_in_statement",
    "expected_missing_in_statement",
    "found_missing_in_statement",
    "missing_outside_period",
    "balance_findings",
    "missed",
    "wrong",
)


def cleanup(*, scenario: str, state: State | None) -> None:
    data.ledger_cleanup(scenario=scenario)
    data.organization_cleanup()
    if state and state.get("path"):
        Path(state["path"]).unlink(missing_ok=True)


def default_workdir() -> str:
    from django.conf import settings

    path = Path(os.environ.get("BENCHMARK_DIR", Path(settings.VAR_DIR) / "benchmark"))
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
