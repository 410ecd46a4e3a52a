"""`--scenario match-workers`: one big run matched by real Celery workers, 1 and N of them.

Issue #17 asks how auto-match throughput grows with workers and where PostgreSQL becomes
the limit. The pass of a run is partitioned by (account, currency) when RUN_MATCH_WORKERS
> 1 (`reconciliation.run_auto_match` enqueues RUN_MATCH_WORKERS - 1
`reconciliation.run_auto_match_part` tasks and works on parts itself), so the data is one
run whose free bank rows span K = max(4, N) currencies (2-decimal ones, so amounts and
tolerances behave the same in each), `--rows` bank rows in all, split evenly: the synthetic
truth set of `benchmarks.synthetic`, generated once per currency with a seed of its own.

What is timed is the production path, nothing stubbed: the run goes `running` with a match
request in one transaction (as an upload of an automatic run does), the request is handed
to Redis after commit, and a `celery -A config worker --pool prefork --concurrency N`
process started with the project's settings (RUN_MATCH_WORKERS=N) takes it. The clock runs
from the hand-over to the moment the benchmark sees the run `completed` (polled every
0.2 s). The worker is started and answers a ping before the clock starts, so its start-up
is not in the figure, and stopped after (SIGTERM, then SIGKILL of its process group). Each
pool process still imports the matching code on its first task (about 1 s), as a freshly
started production worker does: both passes pay it.

Each worker count gets the same data, loaded afresh (prepare -> measure -> cleanup twice):
the matched counts of both passes must be equal, and the line says loudly when they are
not. Also measured over the timed window: the CPU seconds of the worker processes and of
the PostgreSQL backends serving the benchmark's database (read from /proc when the server
runs on this machine), which says whether the workers or the database are the bottleneck.

Needs Redis: REDIS_URL (default redis://127.0.0.1:6379/0). The benchmark purges the
`celery` queue of that database before each pass, so give it a database of its own when
other workers use Redis on the same server. Not part of `--scenario all`, like `truth`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from benchmarks import data
from benchmarks.measure import Progress, _backend_cpu, heartbeat, peak_rss_mb, process_cpu_seconds
from reconciliation.matching.types import EntryRow

Result = dict[str, Any]
State = dict[str, Any]

SCENARIO = "match-workers"
# Two minor units each: the synthetic amounts are cents, and a currency with none (JPY)
# or three (KWD) would change what a fee or a tolerance is.
CURRENCIES = (
    *("EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN"),
    *("CZK", "AUD", "CAD", "NZD", "SGD", "HKD", "ZAR", "MXN"),
)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
QUEUE = "celery"
POLL_SECONDS = 0.2
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
# The test settings pin Celery to eager mode and the test broker: a worker started with
# them would run the part tasks inline. Workers of a test run use the local settings (as
# tests/reconciliation/tasks/test_worker.py does), with the URLs handed over below.
WORKER_SETTINGS_FOR = {"config.settings.test": "config.settings.local"}


def currencies_for(workers: int) -> tuple[str, ...]:
    """K = max(4, N) currencies: at least one (account, currency) part per worker."""
    return CURRENCIES[: min(len(CURRENCIES), max(4, workers))]


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def timeout_for(rows: int) -> float:
    """How long a pass may take before the benchmark gives up: generous (the 100k pass
    takes about 10 s alone, the 1M pass about 2 minutes), scaled to the rows."""
    return 120.0 + rows / 200


# --- data ----------------------------------------------------------------------------------


def multi_currency_rows(
    *, rows: int, seed: int, currencies: tuple[str, ...]
) -> tuple[list[EntryRow], list[EntryRow]]:
    """About `rows` bank rows split evenly over `currencies`, and their GL rows: one
    synthetic set per currency (a seed each), its rows re-labelled with the currency."""
    from benchmarks.synthetic import generate

    source: list[EntryRow] = []
    ledger: list[EntryRow] = []
    share, extra = divmod(rows, len(currencies))
    for number, currency in enumerate(currencies):
        part = generate(
            share + (1 if number < extra else 0),
            seed=seed * 1000 + number,
            with_truth=False,
        )
        source.extend(replace(row, currency=currency) for row in part.source)
        ledger.extend(replace(row, currency=currency) for row in part.ledger)
    # The generator's ids are 128 random bits of its seeded generator: distinct seeds make
    # a collision all but impossible, but a silent one would merge two rows' primary keys.
    ids = {row.id for row in source} | {row.id for row in ledger}
    if len(ids) != len(source) + len(ledger):
        raise RuntimeError("synthetic ids collide across currencies: pick another --seed")
    return source, ledger


def prepare(*, rows: int, seed: int, workers: int) -> State:
    """A pending run over `rows` bank rows in K currencies, its GL rows in the ledger."""
    currencies = currencies_for(workers)
    context = data.context_create(scenario=SCENARIO, with_account=False)
    with heartbeat(f"{SCENARIO}: generating {rows:,} bank rows in {len(currencies)} currencies"):
        source, ledger = multi_currency_rows(rows=rows, seed=seed, currencies=currencies)
    progress = Progress(
        f"{SCENARIO}: loading {len(source):,} + {len(ledger):,} rows", len(source) + len(ledger)
    )
    data.load_truth_set(
        context=context,
        source=source,
        ledger=ledger,
        progress=progress.update,
        run_status="pending",
    )
    progress.done()
    return {
        "context": context.as_dict(),
        "source_rows": len(source),
        "ledger_rows": len(ledger),
        "currencies": list(currencies),
    }


# --- the pass ------------------------------------------------------------------------------


def measure(*, state: State, workers: int, broker_url: str, timeout: float | None = None) -> Result:
    """Start a worker with `workers` processes (RUN_MATCH_WORKERS=workers), hand it the
    run, time it to `completed`, stop the worker. Raises when the run fails, the worker
    dies, or the pass outlasts `timeout`."""
    from reconciliation.models import Match, Run

    run_id = state["context"]["run_id"]
    timeout = timeout if timeout is not None else timeout_for(state["source_rows"])
    log_path = Path(_workdir()) / f"{SCENARIO}-{workers}.log"
    node = f"bench-{os.getpid()}-{workers}@{socket.gethostname()}"
    with _producer(broker_url) as app:
        app.control.purge()  # messages a crashed earlier benchmark left would run first
        with _worker(workers=workers, broker_url=broker_url, node=node, log=log_path) as worker:
            _wait_ready(app, worker, node=node, log=log_path)
            cpu = _CpuSampler(worker_pid=worker.pid)
            load = os.getloadavg()[0]
            with heartbeat(f"{SCENARIO}: {workers} worker(s) matching {state['source_rows']:,}"):
                started = time.perf_counter()
                _hand_over(run_id)
                seconds = _wait_completed(
                    run_id, worker=worker, cpu=cpu, timeout=timeout, log=log_path, started=started
                )
            cpu.sample()
    received = _tasks_received(log_path)
    counts: dict[str, int] = dict(
        Match.objects.filter(run_id=run_id)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    run = Run.objects.get(pk=run_id)
    return {
        "workers": workers,
        "seconds": round(seconds, 3),
        "rows_per_s": round(state["source_rows"] / seconds) if seconds else None,
        "matched": sum(counts.values()),
        "accepted": counts.get("accepted", 0),
        "suggested": counts.get("suggested", 0),
        "tasks": received,
        "workers_cpu_s": cpu.workers_seconds(),
        "db_cpu_s": cpu.database_seconds(),
        "load_1m": round(load, 2),
        "run_status": run.status,
        "peak_rss_mb": peak_rss_mb(),
    }


def _workdir() -> str:
    from benchmarks.scenarios import default_workdir

    return default_workdir()


@contextlib.contextmanager
def _producer(broker_url: str) -> Iterator[Any]:
    """This process's Celery app on the benchmark's broker, not eager (the command may run
    under settings without REDIS_URL, where tasks would run right here); restored after."""
    from config.celery import app as celery_app

    app: Any = celery_app  # `_pool` is private: the worker tests reset it the same way
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=broker_url)
    app._pool = None  # the producer pool was built for the previous broker
    try:
        yield app
    finally:
        app.conf.update(saved)
        app._pool = None


def database_url() -> str:
    """The benchmark's own database as a URL for the worker processes: built from the live
    connection settings, so it is right under scripts/with_db.sh (DATABASE_URL), on the
    embedded server (the host is a socket directory) and in a test (the test database)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{user}{password}@{host}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def worker_environment(*, workers: int, broker_url: str) -> dict[str, str]:
    module = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS_FOR.get(module, module),
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "RUN_MATCH_WORKERS": str(workers),
        # Production runs with DEBUG off; with it on, every worker keeps each statement's
        # SQL in memory for the whole pass.
        "DEBUG": "false",
    }


@contextlib.contextmanager
def _worker(
    *, workers: int, broker_url: str, node: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`celery worker` as `make worker` runs it, in a process group of its own so that
    stopping it reaches the prefork children too; never left behind, whatever happens."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(workers),
        "-Q",
        QUEUE,
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
        "-n",
        node,
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and celery
            command,
            cwd=settings.BASE_DIR,
            env=worker_environment(workers=workers, broker_url=broker_url),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM lets the prefork children finish and exit), then SIGKILL of
    the whole group when it does not end in time; returns once no process of it is left."""
    group = process.pid  # start_new_session: the worker leads its own group
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _group_alive(group):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        time.sleep(0.1)


def _group_alive(group: int) -> bool:
    """Any process of the group still running (zombies awaiting their parent's reap do
    not count: they run nothing and go with their parent)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _tail(log: Path, size: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _wait_ready(app: Any, worker: subprocess.Popen[bytes], *, node: str, log: Path) -> None:
    """Until the worker answers a ping: its pool is up and it consumes the queue."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(
                f"{SCENARIO}: the worker exited ({worker.returncode}) before it was ready; "
                f"its log ({log}):\n{_tail(log)}"
            )
        if any(node in reply for reply in app.control.ping(destination=[node], timeout=0.5)):
            return
    raise RuntimeError(
        f"{SCENARIO}: the worker was not ready after {READY_TIMEOUT_SECONDS:.0f} s; "
        f"its log ({log}):\n{_tail(log)}"
    )


def _hand_over(run_id: str) -> None:
    """What an upload to an automatic run does (`_run_after_import`): the run `running` and
    its match request in one transaction; after commit the request goes to the broker."""
    from reconciliation.choices import RunStatus
    from reconciliation.models import MatchRequest, Run
    from reconciliation.services.match_requests import match_request_create

    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.finished_at = None
        run.error = None
        run.match_requested_at = now
        run.save(
            update_fields=["status", "started_at", "finished_at", "error", "match_requested_at"]
        )
        match_request_create(run=run)
    # Delivery runs on commit and only logs a refusal (the outbox waits for a sweep that no
    # beat runs here): say so now instead of timing out later.
    request = MatchRequest.objects.filter(run_id=run_id).values_list("enqueued_at").first()
    if request is not None and request[0] is None:
        raise RuntimeError(f"{SCENARIO}: the broker refused the match request (Redis down?)")


def _wait_completed(
    run_id: str,
    *,
    worker: subprocess.Popen[bytes],
    cpu: _CpuSampler,
    timeout: float,
    log: Path,
    started: float,
) -> float:
    from reconciliation.models import Run

    while True:
        status, error = Run.objects.values_list("status", "error").get(pk=run_id)
        elapsed = time.perf_counter() - started
        if status == "completed":
            return elapsed
        if status == "failed":
            raise RuntimeError(f"{SCENARIO}: the run failed: {error}")
        if status != "running":
            raise RuntimeError(f"{SCENARIO}: the run ended {status!r}, not completed")
        if worker.poll() is not None:
            raise RuntimeError(
                f"{SCENARIO}: the worker exited ({worker.returncode}) mid-pass; "
                f"its log ({log}):\n{_tail(log)}"
            )
        if elapsed > timeout:
            raise RuntimeError(
                f"{SCENARIO}: the run was still running after {timeout:.0f} s; "
                f"the worker's log ({log}):\n{_tail(log)}"
            )
        cpu.sample()
        time.sleep(POLL_SECONDS)


def _tasks_received(log: Path) -> dict[str, int]:
    """Tasks the worker received, by name, from its INFO log: shows whether the pass was
    split into parts (reconciliation.run_auto_match_part) or ran as one task."""
    counts: dict[str, int] = {}
    for line in _tail(log, size=10**7).splitlines():
        if "] received" in line and "Task " in line:
            name = line.split("Task ", 1)[1].split("[", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


# --- CPU of the workers and of the database ------------------------------------------------


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


class _CpuSampler:
    """CPU seconds spent over the timed window by the worker (main process and prefork
    children) and by the PostgreSQL backends connected to the benchmark's database,
    except the benchmark's own polling connection.

    Sampled every poll: a process's last reading counts, so a backend that closes between
    two polls loses at most its last 0.2 s. Backends only if the server is local (their
    /proc entries readable), else None."""

    def __init__(self, *, worker_pid: int) -> None:
        self.worker_pid = worker_pid
        # The server is local when this connection's own backend is readable in /proc.
        self.local_database = _backend_cpu() is not None
        self.baseline: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self._take(self.baseline)

    def _pids(self) -> list[tuple[str, int]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            backends = [("db", int(row[0])) for row in cursor.fetchall()]
        workers = [("worker", pid) for pid in (self.worker_pid, *_children(self.worker_pid))]
        return backends + workers

    def _take(self, into: dict[tuple[str, int], float]) -> None:
        for key in self._pids():
            seconds = process_cpu_seconds(key[1])
            if seconds is not None:  # None: gone meanwhile, or the server is elsewhere
                into[key] = seconds

    def sample(self) -> None:
        self._take(self.last)

    def _spent(self, kind: str) -> float:
        return round(
            sum(
                seconds - self.baseline.get(key, 0.0)
                for key, seconds in self.last.items()
                if key[0] == kind
            ),
            3,
        )

    def workers_seconds(self) -> float:
        return self._spent("worker")

    def database_seconds(self) -> float | None:
        return self._spent("db") if self.local_database else None


# --- the line ------------------------------------------------------------------------------


def _server_version() -> int:
    wrapper: Any = connection  # the PostgreSQL wrapper's attribute, e.g. 180006 for 18.6
    return int(wrapper.pg_version)


def combine(*, state: State, passes: list[Result], workers: int) -> Result:
    """One JSON line from the 1-worker and the N-worker pass (one pass when N is 1)."""
    single, many = passes[0], passes[-1]
    result: Result = {
        "scenario": SCENARIO,
        "rows": state["source_rows"],
        "ledger_rows": state["ledger_rows"],
        "currencies": len(state["currencies"]),
        "currency_codes": state["currencies"],
        "workers": workers,
        # `seconds` and `rows_per_s` are the N-worker pass's, as in every other line
        "seconds": many["seconds"],
        "rows_per_s": many["rows_per_s"],
        "seconds_1_worker": single["seconds"],
        "seconds_n_workers": many["seconds"],
        "speedup": round(single["seconds"] / many["seconds"], 2) if many["seconds"] else None,
        "matched_1_worker": single["matched"],
        "matched_n_workers": many["matched"],
        "matched_equal": single["matched"] == many["matched"],
        "accepted_1_worker": single["accepted"],
        "accepted_n_workers": many["accepted"],
        "db_cpu_s": many["db_cpu_s"],
        "db_cpu_s_1_worker": single["db_cpu_s"],
        "workers_cpu_s": many["workers_cpu_s"],
        "workers_cpu_s_1_worker": single["workers_cpu_s"],
        "tasks_1_worker": single["tasks"],
        "tasks_n_workers": many["tasks"],
        "load_1m": many["load_1m"],
        "load_1m_1_worker": single["load_1m"],
        "peak_rss_mb": max(p["peak_rss_mb"] for p in passes),
        "database": "postgresql",
        "server_version": _server_version(),
    }
    if not result["matched_equal"]:
        result["warning"] = (
            f"MATCHED COUNTS DIFFER: {single['matched']:,} with 1 worker, "
            f"{many['matched']:,} with {workers}: partitioning changed the result"
        )
    return result
