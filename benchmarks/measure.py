"""What a benchmark phase measures, and the progress it shows while it runs.

`Meter` wraps the timed call: wall seconds, this process's CPU seconds, the PostgreSQL
backend's CPU seconds (read from /proc when the server is local: on a shared 2-core box,
wall time alone cannot tell a slow query from a busy neighbour), the peak RSS of the
process, and the statements sent: every query through Django's cursor wrapper plus every
COPY opened on the raw psycopg cursor.

Progress goes to stderr only, so stdout stays one JSON object per line.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

QUIET = os.environ.get("BENCHMARK_QUIET") == "1"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _backend_cpu() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend, if it runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return process_cpu_seconds(pid)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process on this machine (None: not here, or gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Context manager around the timed call; `result()` builds the JSON line."""

    def __init__(self) -> None:
        self.queries = 0
        self.copies = 0
        self.seconds = 0.0
        self.cpu = 0.0
        self.db_cpu: float | None = None

    def __enter__(self) -> Meter:
        import psycopg

        self._load = os.getloadavg()[0]
        self._db_cpu = _backend_cpu()
        self._wrapper = connection.execute_wrapper(self._count)
        self._wrapper.__enter__()
        self._copy = psycopg.Cursor.copy
        meter = self
        original = self._copy

        def counted_copy(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            meter.copies += 1
            return original(cursor, *args, **kwargs)

        psycopg.Cursor.copy = counted_copy  # type: ignore[method-assign]
        self._cpu = time.process_time()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import psycopg

        self.seconds = time.perf_counter() - self._started
        self.cpu = time.process_time() - self._cpu
        psycopg.Cursor.copy = self._copy  # type: ignore[method-assign]
        self._wrapper.__exit__(*exc)
        if self._db_cpu is not None and exc[0] is None:
            after = _backend_cpu()
            self.db_cpu = None if after is None else after - self._db_cpu

    def _count(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.queries += 1
        return execute(sql, *args)

    def result(self, scenario: str, *, rows: int, **extra: Any) -> dict[str, Any]:
        return {
            "scenario": scenario,
            "rows": rows,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(rows / self.seconds) if self.seconds else None,
            "peak_rss_mb": peak_rss_mb(),
            "queries": self.queries + self.copies,
            "copy_statements": self.copies,
            "cpu_s": round(self.cpu, 3),
            "db_cpu_s": None if self.db_cpu is None else round(self.db_cpu, 3),
            "load_1m": round(self._load, 2),
            "database": "postgresql",
            "server_version": connection.pg_version,  # e.g. 180006 for 18.6
            **extra,
        }


class Progress:
    """`label [#####-----] 52% 520,000/1,000,000 4.1s` on stderr, at most twice a second."""

    def __init__(self, label: str, total: int, *, unit: str = "") -> None:
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.started = time.perf_counter()
        self.shown = 0.0
        self.tty = sys.stderr.isatty()

    def _text(self, done: int) -> str:
        share = min(done / self.total, 1.0)
        bar = "#" * int(share * 20)
        if self.unit == "MB":
            amount = f"{done / 2**20:,.0f}/{self.total / 2**20:,.0f} MB"
        else:
            amount = f"{done:,}/{self.total:,}"
        elapsed = time.perf_counter() - self.started
        return f"{self.label} [{bar:<20}] {share:4.0%} {amount} {elapsed:.1f}s"

    def update(self, done: int) -> None:
        if QUIET:
            return
        now = time.perf_counter()
        if now - self.shown < (0.5 if self.tty else 10.0):
            return
        self.shown = now
        sys.stderr.write(("\r" if self.tty else "") + self._text(done) + ("" if self.tty else "\n"))
        sys.stderr.flush()

    def done(self) -> None:
        if QUIET:
            return
        elapsed = time.perf_counter() - self.started
        sys.stderr.write(("\r\x1b[K" if self.tty else "") + f"{self.label}: {elapsed:.1f}s\n")
        sys.stderr.flush()


@contextmanager
def heartbeat(label: str) -> Iterator[None]:
    """Elapsed seconds on stderr for a step that cannot report how far it is."""
    if QUIET:
        yield
        return
    stop = threading.Event()
    started = time.perf_counter()
    tty = sys.stderr.isatty()

    def beat() -> None:
        while not stop.wait(1.0 if tty else 15.0):
            text = f"{label} ... {time.perf_counter() - started:.0f}s"
            sys.stderr.write(("\r" + text) if tty else text + "\n")
            sys.stderr.flush()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        elapsed = time.perf_counter() - started
        sys.stderr.write(("\r\x1b[K" if tty else "") + f"{label}: {elapsed:.1f}s\n")
        sys.stderr.flush()
