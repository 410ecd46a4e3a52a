"""The embedded PostgreSQL of `make run` and `make test` (config/embedded_db.py), started
for real in a temporary data directory."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from config import embedded_db

pytestmark = pytest.mark.slow  # each test starts a PostgreSQL server of its own


@pytest.fixture
def data_dir(tmp_path: Path):
    path = tmp_path / "pg"
    yield path
    embedded_db.stop(path)


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1))


def _setting(url: str, name: str) -> str:
    with _connect(url) as conn:
        return str(conn.execute(f"SHOW {name}").fetchone()[0])


def test_start_initialises_configures_and_reuses_the_server(data_dir):
    url = embedded_db.start(data_dir, database="recon")

    assert url == embedded_db.database_url(data_dir, "recon")
    assert embedded_db.is_running(data_dir)
    assert _setting(url, "shared_buffers") == embedded_db.SERVER_SETTINGS["shared_buffers"]
    assert _setting(url, "work_mem") == "64MB"
    assert _setting(url, "synchronous_commit") == "on"
    assert _setting(url, "listen_addresses") == ""  # a socket only: no port to collide on
    pid = (data_dir / "postmaster.pid").read_text().split()[0]

    assert embedded_db.start(data_dir, database="other") == embedded_db.database_url(
        data_dir, "other"
    )
    assert (data_dir / "postmaster.pid").read_text().split()[0] == pid  # reused, not restarted
    with _connect(embedded_db.database_url(data_dir, "other")) as conn:
        assert conn.execute("SELECT upper('müller')").fetchone()[0] == "MÜLLER"


def test_the_test_cluster_skips_fsync_and_stop_stops_it(data_dir):
    url = embedded_db.start(data_dir, database="postgres", test=True)
    assert _setting(url, "fsync") == "off"

    assert embedded_db.stop(data_dir) is True
    assert not embedded_db.is_running(data_dir)
    assert embedded_db.stop(data_dir) is False


def test_a_data_directory_too_deep_for_a_socket_path_gets_a_short_socket_directory():
    deep = Path("/work") / ("d" * 120) / "var" / "postgres"

    assert embedded_db.socket_dir(deep) != deep
    assert len(str(embedded_db.socket_dir(deep) / ".s.PGSQL.5432")) <= 100
    assert embedded_db.socket_dir(Path("/work/repo/var/postgres")) == Path(
        "/work/repo/var/postgres"
    )
