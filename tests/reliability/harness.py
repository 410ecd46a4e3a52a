"""Real processes for the fault-injection tests: a throwaway PostgreSQL cluster, a Redis
server, gunicorn, Celery workers and beat, each started, killed, frozen and restarted by the
test. Nothing here is mocked; the test process talks to them over HTTP and SQL only.

Faults are real signals: SIGKILL (a process gone without a word, as the OOM killer does),
SIGSTOP/SIGCONT (a frozen server: connections stay open, nothing answers), and stopping
PostgreSQL or Redis (connections closed, new ones refused).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import requests

from config import embedded_db

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# Everything that sets the pace of recovery, sped up so a test takes a minute, not an hour
# (the defaults are in config/settings/base.py and the README).
FAST_RECOVERY = {
    "RUN_SWEEP_SECONDS": "1",
    "RUN_HEARTBEAT_SECONDS": "1",
    "RUN_LEASE_SECONDS": "5",
    "RUN_MATCH_RETRY_BASE_SECONDS": "0.5",
    "RUN_MATCH_RETRY_MAX_SECONDS": "3",
    "RUN_MATCH_MAX_RETRIES": "40",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll `condition` until it returns something truthy; its value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (OSError, psycopg.Error, requests.RequestException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Process:
    """A subprocess with its output in a log file, for the assertion messages."""

    def __init__(self, name: str, args: Sequence[str], *, env: dict[str, str], log: Path):
        self.name, self.log_path = name, log
        self._log = log.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 -- our own interpreter and servers
            list(args),
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: "the whole worker" (main process and pool) dies at once.
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.kill(self.pid, sig)
        if sig == signal.SIGKILL:
            self.popen.wait(timeout=30)

    def kill_group(self) -> None:
        """SIGKILL the process and everything it started, at once."""
        os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        self._log.close()

    def tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return f"--- {self.name} ---\n" + self.log_path.read_text(errors="replace")[-chars:]


class Database:
    """A PostgreSQL cluster of its own (config/embedded_db.py) in a temporary directory: the
    only server a test may stop or freeze. It listens on a Unix socket in that directory,
    so it collides with no other server."""

    def __init__(self, base: Path):
        self.data_dir = base / "pg"
        self.url = ""

    def start(self) -> None:
        self.url = embedded_db.start(self.data_dir, database="recon", test=True)

    def stop(self) -> None:
        embedded_db.stop(self.data_dir)

    def _pids(self) -> list[int]:
        postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]

    def freeze(self) -> list[int]:
        """SIGSTOP the server and every backend: connections stay open, nothing answers."""
        pids = self._pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, connect_timeout=5, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


class Stack:
    """The service as deployed: PostgreSQL, Redis, gunicorn, workers, beat."""

    def __init__(self, base: Path, database: Database):
        self.base, self.db = base, database
        self.logs = base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.web_port = free_port()
        self.processes: list[Process] = []
        self.redis: Process | None = None
        self.web: Process | None = None
        self.beat: Process | None = None
        self.token = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": self.db.url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            **FAST_RECOVERY,
            **extra,
        }

    def _start(self, name: str, args: Sequence[str], **env: str) -> Process:
        process = Process(name, args, env=self.env(**env), log=self.logs / f"{name}.log")
        self.processes.append(process)
        return process

    def manage(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 -- our own manage.py
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def start_redis(self) -> None:
        self.redis = self._start(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
        )  # fmt: skip
        wait_until(self._redis_answers, timeout=20, what="redis")

    def _redis_answers(self) -> bool:
        socket.create_connection(("127.0.0.1", self.redis_port), 1).close()
        return True

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()

    def start_web(self, *, workers: int = 2) -> None:
        self.web = self._start(
            "web",
            [PYTHON, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{self.web_port}", "--workers", str(workers), "--threads", "4",
             "--timeout", "120", "--graceful-timeout", "5"],
        )  # fmt: skip
        wait_until(
            lambda: requests.get(f"{self.base_url}/healthz", timeout=5).status_code == 200,
            timeout=60,
            what="gunicorn /healthz",
        )

    def start_worker(self, name: str, **env: str) -> Process:
        return self._start(
            name,
            [PYTHON, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
             "--concurrency=1", "--loglevel=INFO", "--without-mingle", "--without-gossip",
             "-n", f"{name}@%h"],
            **env,
        )  # fmt: skip

    def start_beat(self) -> None:
        self.beat = self._start(
            "beat",
            [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
             "--schedule", str(self.base / "celerybeat-schedule")],
        )  # fmt: skip

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
            # Pool children a SIGKILLed parent left behind.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def logs_tail(self) -> str:
        return "\n".join(p.tail() for p in self.processes)

    # ---------------------------------------------------------------- the API, as a client

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.base_url}{path}", headers=headers, timeout=120, **kwargs
        )

    def integrity(self) -> list[str]:
        out = self.manage(
            "shell",
            "-c",
            "import json; from reconciliation.integrity import integrity_violations; "
            "print(json.dumps(integrity_violations()))",
        )
        return list(json.loads(out.strip().splitlines()[-1]))


def run_state(db: Database, run_id: str) -> dict[str, Any]:
    (status, error), *_ = db.query(
        "SELECT status, error::text FROM reconciliation_run WHERE id = %s", [run_id]
    )
    request = db.query(
        "SELECT attempts, lease_owner, enqueued_at IS NOT NULL "
        "FROM reconciliation_matchrequest WHERE run_id = %s",
        [run_id],
    )
    return {"status": status, "error": error, "request": request[0] if request else None}


def run_counts(db: Database, run_id: str) -> dict[str, int]:
    """What a user sees of a matched run: the numbers that must not depend on faults."""
    (accepted, suggested, items, discrepancies, audited), *_ = db.query(
        """
        SELECT (SELECT count(*) FROM reconciliation_match WHERE run_id = %(r)s
                  AND status = 'accepted'),
               (SELECT count(*) FROM reconciliation_match WHERE run_id = %(r)s
                  AND status = 'suggested'),
               (SELECT count(*) FROM reconciliation_sourceentry WHERE run_id = %(r)s),
               (SELECT count(*) FROM reconciliation_discrepancy WHERE run_id = %(r)s
                  AND status = 'open' AND is_current),
               (SELECT coalesce(sum((after->>'suggested')::int + (after->>'accepted')::int), 0)
                  FROM ledgers_auditevent WHERE run_id = %(r)s
                  AND action = 'run.auto_matched')
        """,
        {"r": run_id},
    )
    return {
        "accepted": accepted,
        "suggested": suggested,
        "items": items,
        "open_discrepancies": discrepancies,
        # The run's history: every match a pass made is reported once, faults or not.
        "matches_in_audit": audited,
    }


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
